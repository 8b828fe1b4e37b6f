"""Appending to and verifying the hash chain.

Each record's hash covers its own fields and the previous record's hash, so editing, deleting or
reordering any record breaks every hash after it. Appends are serialised: SQLite's write
transactions already are (BEGIN IMMEDIATE); on PostgreSQL a transaction advisory lock is taken.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from renraku.audit.models import AuditRecord
from renraku.timeutil import utcnow

GENESIS = "0" * 64
# Any fixed number: identifies "the audit chain" among PostgreSQL advisory locks.
_CHAIN_LOCK = 0x52454E52414B55


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
    if session.bind is not None and session.bind.dialect.name == "postgresql":
        connection = await session.connection()
        await connection.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _CHAIN_LOCK})
    last = (
        await session.exec(select(AuditRecord).order_by(col(AuditRecord.id).desc()).limit(1))
    ).first()
    record = AuditRecord(
        id=(last.id or 0) + 1 if last else 1,
        at=utcnow(),
        actor_id=actor_id,
        actor_kind=actor_kind,
        action=action,
        object_type=object_type,
        object_ids=sorted(set(object_ids)),
        decision=decision,
        reason=reason,
        detail=detail or {},
        prev_hash=last.hash if last else GENESIS,
        hash="",
    )
    record.hash = record_hash(record)
    session.add(record)
    await session.flush()
    return record


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    checked: int
    first_bad_id: int | None = None
    problem: str = ""


async def verify(session: AsyncSession, *, batch: int = 5000) -> VerifyResult:
    """Walk the chain in id order and name the first record that does not fit."""
    prev_hash = GENESIS
    expected_id = 1
    checked = 0
    last_id = 0
    while True:
        rows = (
            await session.exec(
                select(AuditRecord)
                .where(col(AuditRecord.id) > last_id)
                .order_by(col(AuditRecord.id))
                .limit(batch)
            )
        ).all()
        if not rows:
            return VerifyResult(ok=True, checked=checked)
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
            prev_hash = record.hash
            expected_id += 1
            checked += 1
            last_id = record.id
