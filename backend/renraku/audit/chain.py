"""Appending to and verifying the hash chain.

Each record's hash covers its own fields and the previous record's hash, so editing, deleting or
reordering any record breaks every hash after it. Appends are serialised: SQLite's write
transactions already are (BEGIN IMMEDIATE); on PostgreSQL the append lock
(db.hold_append_lock) is taken.
Signed checkpoints (audit/checkpoints.py) pin the chain, so that rewriting it wholesale, or cutting
off its end, is found too; their copies in the outside log (audit/outside.py) find it even when the
database's checkpoints were deleted with it. Each record's patient index rows (AuditSubject) must
say what the record says, so deleting one is found as well.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import insert, or_
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from renraku.audit.checkpoints import chain_name, check_checkpoint
from renraku.audit.models import AuditCheckpoint, AuditRecord, AuditSubject
from renraku.audit.outside import OutsideLog, compare, coverage, unreadable
from renraku.db import hold_append_lock
from renraku.tables import table_of
from renraku.timeutil import utcnow

GENESIS = "0" * 64
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
    return _digest(
        {
            "id": record.id,
            "at": record.at,
            "actor_id": record.actor_id,
            "actor_kind": record.actor_kind,
            "action": record.action,
            "object_type": record.object_type,
            "object_ids": record.object_ids,
            "decision": record.decision,
            "reason": record.reason,
            "detail": record.detail,
            "prev_hash": record.prev_hash,
        }
    )


def _digest(fields: dict[str, Any]) -> str:
    """The hash of a record's fields (every column but `hash`)."""
    body = {**fields, "at": fields["at"].isoformat(), "object_ids": list(fields["object_ids"])}
    canonical = json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


async def lock_chain(session: AsyncSession) -> None:
    """Serialise appends for the rest of the caller's transaction."""
    await hold_append_lock(session)


async def last_record(session: AsyncSession) -> AuditRecord | None:
    query = select(AuditRecord).order_by(col(AuditRecord.id).desc()).limit(1)
    return (await session.exec(query)).first()


# Statements run for every audited change, built once (building and keying one costs about as much
# as running it); the records are written as plain rows, not through the ORM's unit of work.
_CHAIN_END = select(AuditRecord.id, AuditRecord.hash).order_by(col(AuditRecord.id).desc()).limit(1)
_INSERT_RECORDS = insert(table_of(AuditRecord))
_INSERT_SUBJECTS = insert(table_of(AuditSubject))


async def _chain_end(session: AsyncSession) -> tuple[int, str]:
    """The last record's id and hash (0 and GENESIS while the log is empty)."""
    connection = await session.connection()
    last = (await connection.execute(_CHAIN_END)).first()
    if last is None:
        return 0, GENESIS
    last_id, last_hash = last
    assert last_id is not None
    return last_id, last_hash


async def append_many(session: AsyncSession, entries: Sequence[Entry]) -> list[int]:
    """Append `entries` in order inside the caller's transaction, with one lock and two INSERTs
    at most; the new records' ids."""
    await lock_chain(session)
    last_id, prev_hash = await _chain_end(session)
    rows: list[dict[str, Any]] = []
    subjects: list[dict[str, Any]] = []
    for record_id, entry in enumerate(entries, start=last_id + 1):
        fields: dict[str, Any] = {
            "id": record_id,
            "at": utcnow(),
            "actor_id": entry.actor_id,
            "actor_kind": entry.actor_kind,
            "action": entry.action,
            "object_type": entry.object_type,
            "object_ids": sorted(set(entry.object_ids)),
            "decision": entry.decision,
            "reason": entry.reason,
            "detail": entry.detail,
            "prev_hash": prev_hash,
        }
        prev_hash = _digest(fields)
        rows.append({**fields, "hash": prev_hash})
        if entry.object_type == PATIENT_OBJECT:
            subjects.extend({"audit_id": record_id, "patient_id": p} for p in fields["object_ids"])
    connection = await session.connection()
    if rows:
        await connection.execute(_INSERT_RECORDS, rows)
    if subjects:
        await connection.execute(_INSERT_SUBJECTS, subjects)
    return [row["id"] for row in rows]


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
) -> int:
    """Append one record inside the caller's transaction; its id."""
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
    (record_id,) = await append_many(session, [entry])
    return record_id


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    checked: int
    first_bad_id: int | None = None
    problem: str = ""
    checkpoints: int = 0
    first_bad_checkpoint: int | None = None
    # The outside log: this chain's lines checked; whether the problem is there, and on which line
    # (0: the file as a whole); what an operator should look into without it failing verify.
    logged: int = 0
    outside: bool = False
    first_bad_line: int | None = None
    warnings: tuple[str, ...] = ()


def _subjects_of(record: AuditRecord) -> set[int]:
    """The AuditSubject rows `record` must have: they answer "who saw this patient", so they
    must say exactly what the hashed record says."""
    return set(record.object_ids) if record.object_type == PATIENT_OBJECT else set()


async def _subjects(session: AsyncSession, first: int, last: int) -> dict[int, set[int]]:
    rows = await session.exec(
        select(AuditSubject.audit_id, AuditSubject.patient_id).where(
            col(AuditSubject.audit_id).between(first, last)
        )
    )
    found: dict[int, set[int]] = {}
    for audit_id, patient_id in rows.all():
        found.setdefault(audit_id, set()).add(patient_id)
    return found


async def verify(
    session: AsyncSession,
    *,
    public_key: str | None = None,
    retired_keys: Sequence[str] = (),
    log: OutsideLog | None = None,
    overdue_after: timedelta | None = None,
    now: datetime | None = None,
    batch: int = 5000,
) -> VerifyResult:
    """Walk the chain in id order and name the first record that does not fit (its content, its
    link or its patient index); check every checkpoint against its record and the trusted keys
    (`public_key` signs today, `retired_keys` did before, all hex); then check the outside log's
    lines of this chain against the database, and that it covers records older than
    `overdue_after`."""
    keys = frozenset((*retired_keys, *((public_key,) if public_key else ())))
    checkpoints = list(
        (await session.exec(select(AuditCheckpoint).order_by(col(AuditCheckpoint.id)))).all()
    )
    chain = await chain_name(session)
    lines = [line for line in log.lines if line.chain == chain] if log and chain else []
    last_logged = max((line.record_id for line in lines), default=0)
    needed = {c.record_id for c in checkpoints} | {line.record_id for line in lines}
    hashes: dict[int, str] = {}
    unlogged_since: datetime | None = None
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
        subjects = await _subjects(session, expected_id, expected_id + len(rows) - 1)
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
            if subjects.get(record.id, set()) != _subjects_of(record):
                return VerifyResult(
                    False, checked, record.id, "its patient index (auditsubject) differs from it"
                )
            if record.id in needed:
                hashes[record.id] = record.hash
            if record.id > last_logged and (unlogged_since is None or record.at < unlogged_since):
                unlogged_since = record.at
            prev_hash = record.hash
            expected_id += 1
            checked += 1
    stray = (
        await session.exec(
            select(AuditSubject.audit_id)
            .where(or_(col(AuditSubject.audit_id) >= expected_id, col(AuditSubject.audit_id) < 1))
            .limit(1)
        )
    ).first()
    if stray is not None:
        return VerifyResult(
            False, checked, stray, "a patient index (auditsubject) row names no record"
        )
    for number, checkpoint in enumerate(checkpoints):
        problem = check_checkpoint(
            checkpoint, keys=keys, record_hash=hashes.get(checkpoint.record_id)
        )
        if problem:
            return VerifyResult(
                False, checked, None, problem, number, first_bad_checkpoint=checkpoint.id
            )
    if log is None:
        return VerifyResult(True, checked, checkpoints=len(checkpoints))
    found = unreadable(log) or compare(
        lines, keys=keys, last_id=expected_id - 1, hashes=hashes, checkpoints=checkpoints
    )
    warnings: list[str] = []
    if found is None and overdue_after is not None:
        found, warnings = coverage(
            log,
            logged=bool(lines),
            unlogged_since=unlogged_since,
            now=now or utcnow(),
            overdue_after=overdue_after,
        )
    if found is None and not chain and log.lines:
        warnings.append("the outside log has checkpoints but this database has no audit records")
    if found is not None:
        return VerifyResult(
            False,
            checked,
            problem=found.problem,
            checkpoints=len(checkpoints),
            outside=True,
            first_bad_line=found.line,
        )
    return VerifyResult(
        True, checked, checkpoints=len(checkpoints), logged=len(lines), warnings=tuple(warnings)
    )
