"""Auditing reads without putting a lock in every reader's path.

Readers hand their record to one in-process writer (a bounded queue); a background task appends
everything queued in one transaction, and signs a checkpoint every CHECKPOINT_EVERY records
(the `audit-checkpoint` job, audit/schedule.py, signs one on a time schedule as well).
Writes of patient data are audited in their own transaction instead
(renraku.audit.chain.append), so a write is never acknowledged unaudited.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
from typing import TypeAlias

from renraku.audit import chain
from renraku.audit.checkpoints import SigningKey, checkpoint_due, write_checkpoint
from renraku.audit.outside import append_on_commit
from renraku.db import Database
from renraku.settings import ConfigurationError

log = logging.getLogger("renraku.audit")

# Enough for a burst of page views; past it, readers wait for the writer rather than lose records.
QUEUE_LIMIT = 10_000
BATCH_LIMIT = 500
RETRY_SECONDS = 1.0

# A read record is an ordinary chain entry; the name says who produces it.
ReadRecord: TypeAlias = chain.Entry


class ReadAuditor:
    def __init__(self, db: Database, key: SigningKey) -> None:
        self._db = db
        self._key = key
        self._queue: asyncio.Queue[ReadRecord] = asyncio.Queue(QUEUE_LIMIT)
        self._task: asyncio.Task[None] | None = None
        self._closed = False

    async def record(self, entry: ReadRecord) -> None:
        """Queue a read for the log; starts the writer on first use."""
        if self._closed:
            # A request still running at shutdown: its read fails rather than go unaudited
            # (and no writer is started again on a database that is going away).
            raise RuntimeError("the read audit log is closed")
        if self._task is None or self._task.done():
            # A fresh context: the writer outlives the request that happened to start it, and
            # must not log under that request's id.
            self._task = asyncio.create_task(
                self._run(), name="renraku-read-audit", context=contextvars.Context()
            )
        await self._queue.put(entry)

    async def _run(self) -> None:
        while True:
            first = await self._queue.get()
            batch = [first]
            while len(batch) < BATCH_LIMIT and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            # Keep retrying: once the queue is full, readers wait, so reads fail closed rather
            # than go unaudited while the database is away.
            while True:
                try:
                    await self._write(batch)
                    break
                except Exception:
                    log.exception("could not write %d read audit records; retrying", len(batch))
                    await asyncio.sleep(RETRY_SECONDS)
            for _ in batch:
                self._queue.task_done()

    async def _write(self, batch: list[ReadRecord]) -> None:
        async with self._db.transaction() as session:
            last_id = (await chain.append_many(session, batch))[-1]
            # Still inside the chain lock, so the checkpoint signs the true end of the chain.
            if await checkpoint_due(session, last_id):
                try:
                    key = await self._key.get()
                except ConfigurationError:
                    # The records matter more than the checkpoint: keep them, say why it's missing.
                    log.error("no audit signing key: checkpoint not written")
                    return
                signed = await write_checkpoint(session, key)
                if signed is not None:
                    append_on_commit(session, signed, self._key.settings.audit_log_file)

    async def flush(self) -> None:
        """Wait until everything queued so far is in the log."""
        if self._task is not None and not self._task.done():
            await self._queue.join()

    async def close(self) -> None:
        self._closed = True
        await self.flush()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
