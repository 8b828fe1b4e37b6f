"""Appending to and verifying the hash chain.

Each record's hash covers its own fields and the previous record's hash, so editing, deleting or
reordering any record breaks every hash after it. Appends are serialised: SQLite's write
transactions already are (BEGIN IMMEDIATE); on PostgreSQL a transaction advisory lock is taken.
Signed checkpoints (audit/checkpoints.py) pin the chain, so that rewriting it wholesale, or cutting
off its end, is found too.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import text
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from renraku.audit.checkpoints import check_checkpoint
from renraku.audit.models import AuditCheckpoint, AuditRecord, AuditSubject
from renraku.timeutil import utcnow

GENESIS = "0" * 64
# Any fixed number: identifies "the audit chain" among PostgreSQL advisory locks.
_CHAIN_LOCK = 0x52454E52414B55
# Records about these objects are indexed by patient for access histories (AuditSubject).
PATIENT_OBJECT = "patient"


@dataclass(frozen=True)
class Entry:
    """One record to append; the chain adds its id, time and hashes."""

    actor_id: int | None
    actor_kind: str
    action: str
    object_type: str = ""
    object_ids: tuple[int, ...] = ()
    decision: str = "allow"
    reason: str = ""
    detail: dict[str, Any] = field(default_factory=dict)


def record_hash(record: AuditRecord) -> str:
    body = {
        "id": record.id,
        "at": record.at.isoformat(),
        "actor_id": record.actor_id,
        "actor_kind": record.actor_kind,
        "action": record.action,
        "object_type": record.object_type,
        "object_ids": list(record.object_ids),
        "decision": record.decision,
        "reason": record.reason,
        "detail": record.detail,
        "prev_hash": record.prev_hash,
    }
    canonical = json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


async def lock_chain(session: AsyncSession) -> None:
    """Serialise appends for the rest of the caller's transaction."""
    if session.bind is not None and session.bind.dialect.name == "postgresql":
        connection = await session.connection()
        await connection.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _CHAIN_LOCK})


async def last_record(session: AsyncSession) -> AuditRecord | None:
    query = select(AuditRecord).order_by(col(AuditRecord.id).desc()).limit(1)
    return (await session.exec(query)).first()


async def append_many(session: AsyncSession, entries: Sequence[Entry]) -> list[AuditRecord]:
    """Append `entries` in order inside the caller's transaction, with one lock and one flush."""
    await lock_chain(session)
    last = await last_record(session)
    next_id = (last.id or 0) + 1 if last else 1
    prev_hash = last.hash if last else GENESIS
    records = []
    for entry in entries:
        record = AuditRecord(
            id=next_id,
            at=utcnow(),
            actor_id=entry.actor_id,
            actor_kind=entry.actor_kind,
            action=entry.action,
            object_type=entry.object_type,
            object_ids=sorted(set(entry.object_ids)),
            decision=entry.decision,
            reason=entry.reason,
            detail=entry.detail,
            prev_hash=prev_hash,
            hash="",
        )
        record.hash = record_hash(record)
        session.add(record)
        if entry.object_type == PATIENT_OBJECT:
            session.add_all(AuditSubject(audit_id=next_id, patient_id=p) for p in record.object_ids)
        records.append(record)
        prev_hash = record.hash
        next_id += 1
    await session.flush()
    return records


async def append(
    session: AsyncSession,
    *,
    actor_id: int | None,
    actor_kind: str,
    action: str,
    object_type: str = "",
    object_ids: Sequence[int] = (),
    decision: str = "allow",
    reason: str = "",
    detail: dict[str, Any] | None = None,
) -> AuditRecord:
    """Append one record inside the caller's transaction."""
    entry = Entry(
        actor_id=actor_id,
        actor_kind=actor_kind,
        action=action,
        object_type=object_type,
        object_ids=tuple(object_ids),
        decision=decision,
        reason=reason,
        detail=detail or {},
    )
    (record,) = await append_many(session, [entry])
    return record


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    checked: int
    first_bad_id: int | None = None
    problem: str = ""
    checkpoints: int = 0
    first_bad_checkpoint: int | None = None


async def verify(
    session: AsyncSession, *, public_key: str | None = None, batch: int = 5000
) -> VerifyResult:
    """Walk the chain in id order and name the first record that does not fit; then check every
    checkpoint against its record and `public_key` (hex), the key the log is signed with."""
    checkpoints = list(
        (await session.exec(select(AuditCheckpoint).order_by(col(AuditCheckpoint.id)))).all()
    )
    pinned = {c.record_id for c in checkpoints}
    hashes: dict[int, str] = {}
    prev_hash = GENESIS
    expected_id = 1
    checked = 0
    while True:
        rows = (
            await session.exec(
                select(AuditRecord)
                .where(col(AuditRecord.id) >= expected_id)
                .order_by(col(AuditRecord.id))
                .limit(batch)
            )
        ).all()
        if not rows:
            break
        for record in rows:
            assert record.id is not None
            if record.id != expected_id:
                return VerifyResult(False, checked, expected_id, "record missing or reordered")
            if record.prev_hash != prev_hash:
                return VerifyResult(
                    False, checked, record.id, "does not follow the previous record"
                )
            if record_hash(record) != record.hash:
                return VerifyResult(False, checked, record.id, "content does not match its hash")
            if record.id in pinned:
                hashes[record.id] = record.hash
            prev_hash = record.hash
            expected_id += 1
            checked += 1
    for number, checkpoint in enumerate(checkpoints):
        problem = check_checkpoint(
            checkpoint, public_key=public_key, record_hash=hashes.get(checkpoint.record_id)
        )
        if problem:
            return VerifyResult(
                False, checked, None, problem, number, first_bad_checkpoint=checkpoint.id
            )
    return VerifyResult(True, checked, checkpoints=len(checkpoints))
