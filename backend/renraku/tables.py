"""What every table module shares: the constraint naming convention and the time column."""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from sqlalchemy import Column, Table
from sqlmodel import SQLModel

from renraku.timeutil import UTCDateTime

# Named constraints, so migrations name them the same on SQLite (batch mode) and PostgreSQL.
SQLModel.metadata.naming_convention = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def when_column(nullable: bool = False) -> Column[datetime]:
    return Column(UTCDateTime(), nullable=nullable)


def table_of(model: type[Any]) -> Table:
    """The Core table of a table model, for statements that write plain rows."""
    return cast(Table, model.__table__)
