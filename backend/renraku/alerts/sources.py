"""Alert sources the operator configures, and the sender credentials they present.

A credential is a random token shown once; only its SHA-256 is stored. The token carries 256 bits
of randomness, so a plain hash (no salt, no stretching) cannot be searched back to it, and a
lookup by hash costs one indexed query.
"""

from __future__ import annotations

import hashlib
import secrets

from sqlmodel import col, select

from renraku.alerts.models import AlertSource
from renraku.audit.changes import record
from renraku.db import Database
from renraku.errors import BadInput
from renraku.text import clean_text
from renraku.timeutil import utcnow

TOKEN_PREFIX = "rka_"  # noqa: S105 - a marker, not a secret
MAX_NAME_LENGTH = 120


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def add_source(db: Database, name: str, *, trusted: bool) -> tuple[AlertSource, str]:
    """A new source and its credential (the only time the credential exists in clear)."""
    name = clean_text(name, multiline=False)
    if not name or len(name) > MAX_NAME_LENGTH:
        raise BadInput(f"Give the source a name of 1 to {MAX_NAME_LENGTH} characters.")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    async with db.transaction() as session:
        taken = (await session.exec(select(AlertSource).where(AlertSource.name == name))).first()
        if taken is not None:
            raise BadInput(f"A source named {name!r} exists already.")
        source = AlertSource(name=name, trusted=trusted, token_hash=hash_token(token))
        session.add(source)
        await session.flush()
        assert source.id is not None
        await record(
            session,
            actor=None,
            action="alert_source.add",
            object_type="alert_source",
            object_ids=[source.id],
            detail={"name": name, "trusted": trusted},
        )
    return source, token


async def list_sources(db: Database) -> list[AlertSource]:
    """Every source, revoked ones included, by name."""
    async with db.session() as session:
        return list((await session.exec(select(AlertSource).order_by(col(AlertSource.name)))).all())


async def revoke_source(db: Database, name: str) -> AlertSource:
    """Revoke a source: its credential stops working with the next request (source_for_token
    reads it each time); the source and the alerts it sent stay, as history."""
    name = clean_text(name, multiline=False)
    async with db.transaction() as session:
        query = select(AlertSource).where(AlertSource.name == name).with_for_update()
        source = (await session.exec(query)).first()
        if source is None:
            raise BadInput(f"No alert source is named {name!r}.")
        if source.revoked_at is not None:
            raise BadInput(f"The alert source {name!r} was revoked already.")
        assert source.id is not None
        source.revoked_at = utcnow()
        session.add(source)
        await record(
            session,
            actor=None,
            action="alert_source.revoke",
            object_type="alert_source",
            object_ids=[source.id],
            detail={"name": name},
        )
    return source


async def source_for_token(db: Database, token: str) -> AlertSource | None:
    """The source a credential belongs to, unless unknown or revoked."""
    if not token.startswith(TOKEN_PREFIX):
        return None
    async with db.lookup() as session:
        return (
            await session.exec(
                select(AlertSource).where(
                    AlertSource.token_hash == hash_token(token),
                    col(AlertSource.revoked_at).is_(None),
                )
            )
        ).first()
