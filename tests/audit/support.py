"""Shared by the audit tests: reading the log back, demo ids, and signing keys."""

from __future__ import annotations

import asyncio
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import func, text
from sqlmodel import col, select

from renraku.accounts.models import User
from renraku.audit.models import AuditRecord
from renraku.cli import main
from renraku.db import Database
from renraku.ids import decode_id, encode_id
from renraku.runtime import Runtime
from renraku.teams.models import Patient

PATIENTS = "query Page($first: Int) { patients(first: $first) { edges { node { id } } } }"
PATIENT_IN_FULL = """
query OnePatient($id: ID!) {
  patient(id: $id) {
    id displayName risk { careLevel } careTeam { members { role user { username } } }
  }
}
"""
PATIENT = "query($id: ID!) { patient(id: $id) { id displayName } }"


async def run(*args: str) -> int:
    # The CLI runs its own event loop, so it gets a thread of its own.
    return await asyncio.to_thread(main, list(args))


async def execute(db: Database, sql: str, **params: object) -> None:
    async with db.transaction() as session:
        await (await session.connection()).execute(text(sql), params)


async def last_id(runtime: Runtime) -> int:
    """The newest audit record's id, after everything queued so far is written."""
    await runtime.read_auditor.flush()
    async with runtime.db.session() as session:
        found = (await session.exec(select(func.max(AuditRecord.id)))).one()
    return int(found or 0)


async def records_after(runtime: Runtime, after: int, *, username: str) -> list[AuditRecord]:
    """The read and deny records `username` left after record `after` (sign-in records aside)."""
    await runtime.read_auditor.flush()
    user = await user_pk(runtime, username)
    async with runtime.db.session() as session:
        rows = await session.exec(
            select(AuditRecord)
            .where(
                col(AuditRecord.id) > after,
                AuditRecord.actor_id == user,
                col(AuditRecord.action).in_(("read", "write")),
            )
            .order_by(col(AuditRecord.id))
        )
        return list(rows.all())


async def patient_pk(runtime: Runtime, key: str) -> int:
    async with runtime.db.session() as session:
        found = (await session.exec(select(Patient.id).where(Patient.external_ref == key))).first()
    assert found is not None, key
    return found


async def patient_gid(runtime: Runtime, key: str) -> str:
    return encode_id("Patient", await patient_pk(runtime, key))


def pk_of(global_id: str) -> int:
    return decode_id("Patient", global_id)


async def user_pk(runtime: Runtime, username: str) -> int:
    async with runtime.db.session() as session:
        found = (await session.exec(select(User.id).where(User.username == username))).first()
    assert found is not None, username
    return found


def write_key(path: Path) -> Ed25519PrivateKey:
    key = Ed25519PrivateKey.generate()
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    path.chmod(0o600)
    return key
