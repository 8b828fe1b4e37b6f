"""The `audit-checkpoint` job: sign the chain's end when the last checkpoint is older than
RENRAKU_AUDIT_CHECKPOINT_MINUTES and records followed it.

The read writer signs one every CHECKPOINT_EVERY records (audit/reads.py); on a quiet server that
could be days, and every record after the last checkpoint could be rewritten unseen until then.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from sqlmodel.ext.asyncio.session import AsyncSession

from renraku.audit import chain
from renraku.audit.checkpoints import last_checkpoint, load_signing_key, write_checkpoint
from renraku.audit.outside import append_on_commit
from renraku.job import Job
from renraku.runtime import Runtime
from renraku.settings import Settings
from renraku.timeutil import utcnow

JOB_NAME = "audit-checkpoint"
EVERY_SECONDS = 60.0


def interval(settings: Settings) -> timedelta:
    return timedelta(minutes=settings.audit_checkpoint_minutes)


def overdue_after(settings: Settings) -> timedelta:
    """How old an unsigned record may be before verify expects a checkpoint of it in the outside
    log: one interval, and one round of this job to notice."""
    return interval(settings) + timedelta(seconds=EVERY_SECONDS)


async def _due(session: AsyncSession, *, now: datetime, every: timedelta) -> bool:
    last = await chain.last_record(session)
    if last is None or last.id is None:
        return False
    previous = await last_checkpoint(session)
    if previous is None:
        return True
    return previous.record_id < last.id and now - previous.signed_at >= every


async def sign_when_due(runtime: Runtime, *, now: datetime | None = None) -> int:
    """One round of the job: 1 if it signed a checkpoint, else 0."""
    now = now or utcnow()
    every = interval(runtime.settings)
    # Looked at first without a write transaction: most rounds have nothing to do.
    async with runtime.db.session() as session:
        if not await _due(session, now=now, every=every):
            return 0
    # Read per signature (rare) rather than cached: a rotated key file is picked up.
    key = await asyncio.to_thread(load_signing_key, runtime.settings)
    async with runtime.db.transaction() as session:
        await chain.lock_chain(session)
        # Again under the lock: another worker's job may have signed meanwhile.
        if not await _due(session, now=now, every=every):
            return 0
        signed = await write_checkpoint(session, key)
        if signed is None:
            return 0
        append_on_commit(session, signed, runtime.settings.audit_log_file)
    return 1


def job() -> Job:
    return Job(name=JOB_NAME, every_seconds=EVERY_SECONDS, run=sign_when_due)
