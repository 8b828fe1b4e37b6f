"""Auditing reads without putting a lock in every reader's path.

Readers hand their record to one in-process writer (a bounded queue); a background task appends
everything queued in one transaction. Writes of patient data are audited in their own
transaction instead (renraku.audit.chain.append), so a write is never acknowledged unaudited.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from typing import Any

from renraku.audit import chain
from renraku.db import Database

log = logging.getLogger("renraku.audit")

# Enough for a burst of page views; past it, readers wait for the writer rather than lose records.
QUEUE_LIMIT = 10_000
BATCH_LIMIT = 500
RETRY_SECONDS = 1.0


@dataclass(frozen=True)
class ReadRecord:
    actor_id: int
    actor_kind: str
    action: str
    object_type: str
    object_ids: tuple[int, ...]
    reason: str = ""
    detail: dict[str, Any] = field(default_factory=dict)


class ReadAuditor:
    def __init__(self, db: Database) -> None:
        self._db = db
        self._queue: asyncio.Queue[ReadRecord] = asyncio.Queue(QUEUE_LIMIT)
        self._task: asyncio.Task[None] | None = None

    async def record(self, entry: ReadRecord) -> None:
        """Queue a read for the log; starts the writer on first use."""
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="renraku-read-audit")
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
            for entry in batch:
                await chain.append(
                    session,
                    actor_id=entry.actor_id,
                    actor_kind=entry.actor_kind,
                    action=entry.action,
                    object_type=entry.object_type,
                    object_ids=entry.object_ids,
                    reason=entry.reason,
                    detail=entry.detail,
                )

    async def flush(self) -> None:
        """Wait until everything queued so far is in the log."""
        if self._task is not None and not self._task.done():
            await self._queue.join()

    async def close(self) -> None:
        await self.flush()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
