"""Auditing what live subscriptions were sent: one read record per subscription at most every
AUDIT_SECONDS, each subscription on its own schedule, so a thousand subscriptions write a few
records a second instead of a thousand at once (which stalled the feed)."""

from __future__ import annotations

import asyncio
import heapq
import itertools

from renraku.audit.reads import ReadRecord
from renraku.realtime.background import spawn
from renraku.realtime.subscriptions import AUDIT_SECONDS, LiveSubscription
from renraku.runtime import Runtime


class LiveAudit:
    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime
        # (when due, tie-breaker, subscription): a tick looks only at those whose time has come
        # instead of at every subscription.
        self._due: list[tuple[float, int, LiveSubscription]] = []
        self._order = itertools.count()
        self._live: set[LiveSubscription] = set()
        self._flushing: set[asyncio.Task[None]] = set()

    def watch(self, sub: LiveSubscription) -> None:
        self._live.add(sub)
        heapq.heappush(self._due, (sub.audit_due, next(self._order), sub))

    def forget(self, sub: LiveSubscription) -> None:
        """`sub` ended: what it was sent and not yet audited is audited now."""
        self._live.discard(sub)
        patients, count = sub.take_audit()
        if patients:
            task = spawn(self.record(sub, patients, events=count, what="live"), "audit-flush")
            self._flushing.add(task)
            task.add_done_callback(self._flushing.discard)

    async def tick(self) -> None:
        """Audit the subscriptions whose time has come."""
        now = asyncio.get_running_loop().time()
        while self._due and self._due[0][0] <= now:
            _, _, sub = heapq.heappop(self._due)
            if sub not in self._live:
                continue  # ended: audited by forget
            sub.audit_due = now + AUDIT_SECONDS
            heapq.heappush(self._due, (sub.audit_due, next(self._order), sub))
            patients, count = sub.take_audit()
            if patients:
                await self.record(sub, patients, events=count, what="live")

    async def everyone(self) -> None:
        """Audit every live subscription now (the hub is closing)."""
        for sub in list(self._live):
            patients, count = sub.take_audit()
            if patients:
                await self.record(sub, patients, events=count, what="live")
        if self._flushing:
            await asyncio.gather(*self._flushing, return_exceptions=True)

    async def record(
        self, sub: LiveSubscription, patients: set[int], *, events: int, what: str
    ) -> None:
        actor = sub.actor
        await self._runtime.read_auditor.record(
            ReadRecord(
                actor_id=actor.user_id,
                actor_kind=actor.kind.value,
                action="read",
                object_type="patient",
                object_ids=tuple(sorted(patients)),
                decision="allow",
                reason="subscription",
                detail={"operation": sub.field_name, "delivery": what, "events": events},
            )
        )
