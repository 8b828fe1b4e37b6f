"""Rows in batches, and the shared rules for writing them straight into the tables.

Values are put in the form the database driver takes, using SQLAlchemy's own bind processors for
the dialect, so a bulk insert stores exactly what the ORM would.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import numpy as np
from numpy.typing import NDArray
from sqlalchemy import Column, Table
from sqlalchemy.engine import Dialect

from renraku.accounts.models import Municipality, Organisation, OrganisationMember, User
from renraku.feed.models import FeedEvent, Post, PostAcknowledgement, PostRead
from renraku.teams.models import Consent, Patient, PatientContact, RiskProfile, TeamMembership

BATCH_ROWS = 25_000

Row = tuple[Any, ...]


def table_of(model: type[Any]) -> Table:
    return cast(Table, model.__table__)


# Columns left out are nullable and stay NULL (no password: synthetic accounts cannot sign in).
COLUMNS: dict[Table, tuple[str, ...]] = {
    table_of(Municipality): ("code", "name", "name_kana", "name_en", "prefecture"),
    table_of(Organisation): ("id", "key", "name", "kind", "municipality_code", "created_at"),
    table_of(User): (
        "id", "username", "display_name", "display_name_kana", "kind", "profession",
        "municipality_code", "is_demo", "active", "created_at",
    ),
    table_of(OrganisationMember): ("organisation_id", "user_id"),
    table_of(Patient): (
        "id", "external_ref", "display_name", "kana", "birth_date", "sex", "address", "latitude",
        "longitude", "location_confidence", "municipality_code", "phone", "last_visit_at",
        "created_at", "archive_note",
    ),
    table_of(RiskProfile): (
        "patient_id", "care_level", "mobility", "dementia", "sensory_impairment", "living",
        "devices", "floor", "landslide_zone", "flood_depth_m", "tsunami_zone", "air_conditioning",
        "supporter",
    ),
    table_of(PatientContact): ("id", "patient_id", "name", "relation", "phone", "is_key_person"),
    table_of(Consent): ("id", "patient_id", "kind", "granted", "recorded_at", "note"),
    table_of(TeamMembership): ("id", "patient_id", "user_id", "role", "starts_at"),
    table_of(Post): (
        "id", "patient_id", "author_id", "client_id", "category", "body", "vitals",
        "vitals_flags", "urgent", "visible_to_family", "reply_to_id", "created_at", "revision",
        "retract_reason",
    ),
    table_of(FeedEvent): (
        "id", "patient_id", "kind", "audience", "post_id", "actor_id", "created_at",
    ),
    table_of(PostRead): ("post_id", "user_id", "patient_id", "read_at"),
    table_of(PostAcknowledgement): ("post_id", "user_id", "acknowledged_at"),
}  # fmt: skip
# The tables whose integer `id` is pre-assigned, by their StartIds field.
ID_TABLES: dict[str, Table] = {
    "organisation": table_of(Organisation),
    "user": table_of(User),
    "patient": table_of(Patient),
    "contact": table_of(PatientContact),
    "consent": table_of(Consent),
    "membership": table_of(TeamMembership),
    "post": table_of(Post),
    "feed_event": table_of(FeedEvent),
}


def uncovered_columns() -> list[str]:
    """Required columns the generator does not fill (a model grew: extend COLUMNS)."""
    missing = []
    for table, columns in COLUMNS.items():
        for column in table.columns:
            required = not column.nullable and column.server_default is None
            if required and column.name not in columns:
                missing.append(f"{table.name}.{column.name}")
    return missing


@dataclass(frozen=True)
class Batch:
    table: str
    columns: tuple[str, ...]
    rows: list[Row]


@dataclass(frozen=True)
class StartIds:
    """The largest id already in each table; new ids follow it."""

    organisation: int = 0
    user: int = 0
    patient: int = 0
    contact: int = 0
    consent: int = 0
    membership: int = 0
    post: int = 0
    feed_event: int = 0


class Formats:
    """Python values to what the dialect's driver stores, via SQLAlchemy's bind processors."""

    def __init__(self, dialect: Dialect) -> None:
        self.ts = self._processor(dialect, table_of(Patient).c.created_at)
        self.day = self._processor(dialect, table_of(Patient).c.birth_date)
        self.json = self._processor(dialect, table_of(RiskProfile).c.devices)
        # Where a time is stored as ISO text (SQLite), numpy writes millions of them ~4x faster
        # than the processor; used only if it writes a sample exactly as the processor does.
        sample = datetime(2001, 2, 3, 4, 5, 6, 7, tzinfo=UTC)
        self._iso_text = self.ts(sample) == _iso_texts(sample, np.zeros(1, dtype=np.int64))[0]

    def times(self, anchor: datetime, seconds: NDArray[np.int64]) -> list[Any]:
        """ts(anchor + s) for every s in `seconds`."""
        if self._iso_text:
            return _iso_texts(anchor, seconds)
        values: list[Any] = formatted(
            seconds, lambda s: self.ts(anchor + timedelta(seconds=s))
        ).tolist()
        return values

    @staticmethod
    def _processor(dialect: Dialect, column: Column[Any]) -> Callable[[Any], Any]:
        process = column.type.dialect_impl(dialect).bind_processor(dialect)
        return process if process is not None else (lambda value: value)


def spans(count: int) -> Iterator[tuple[int, int]]:
    """[start, stop) ranges of at most BATCH_ROWS covering 0..count."""
    for begin in range(0, count, BATCH_ROWS):
        yield begin, min(begin + BATCH_ROWS, count)


def batches(table: Table, chunks: Iterable[list[Row]]) -> Iterator[Batch]:
    for rows in chunks:
        if rows:
            yield Batch(table.name, COLUMNS[table], rows)


def lookup(values: list[Any]) -> NDArray[np.object_]:
    """`values` as an object array, so indexing it with an index array picks in C."""
    table = np.empty(len(values), dtype=object)
    table[:] = values
    return table


def _iso_texts(anchor: datetime, seconds: NDArray[np.int64]) -> list[Any]:
    """anchor + s as 'YYYY-MM-DD HH:MM:SS.ffffff' in UTC."""
    base = np.datetime64(anchor.astimezone(UTC).replace(tzinfo=None), "us")
    texts = np.datetime_as_string(base + seconds.astype("timedelta64[s]"), unit="us")
    return [t.replace("T", " ") for t in texts.tolist()]


def formatted(keys: NDArray[np.int64], convert: Callable[[int], Any]) -> NDArray[np.object_]:
    """convert(key) for every key, calling `convert` once per distinct key."""
    distinct, where = np.unique(keys, return_inverse=True)
    return lookup([convert(k) for k in distinct.tolist()])[where.reshape(-1)]
