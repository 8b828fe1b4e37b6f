"""Sign-in slow-down and the write-volume limit.

Sign-in: each failure beyond a free allowance doubles the wait, up to a cap.

Failures are counted per (account, client address), per account and per client address. There is
never a hard lockout: the longest wait is `login_max_delay_seconds`, so someone who only knows a
username can slow that account down but never shut its owner out.

Writes: at most `writes_per_minute` per account in each clock minute (GraphQL applies it through
web/write_limit.py). Counts live in memory, or in Redis when BROKER_URL is set so that every worker
shares them.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Protocol

from redis.asyncio import Redis
from redis.exceptions import RedisError

from renraku.errors import RateLimited

log = logging.getLogger("renraku.accounts")


class FailureStore(Protocol):
    async def get(self, key: str) -> tuple[int, float]: ...
    async def add(self, key: str, window_seconds: int) -> None: ...
    async def clear(self, key: str) -> None: ...


class MemoryFailureStore:
    def __init__(self) -> None:
        self._data: dict[str, tuple[int, float, float]] = {}

    async def get(self, key: str) -> tuple[int, float]:
        count, last, expires = self._data.get(key, (0, 0.0, 0.0))
        if expires and expires < time.time():
            self._data.pop(key, None)
            return 0, 0.0
        return count, last

    async def add(self, key: str, window_seconds: int) -> None:
        count, _last = await self.get(key)
        now = time.time()
        self._data[key] = (count + 1, now, now + window_seconds)

    async def clear(self, key: str) -> None:
        self._data.pop(key, None)


class RedisFailureStore:
    def __init__(self, redis: Redis) -> None:
        self._redis = redis

    async def get(self, key: str) -> tuple[int, float]:
        values = await self._redis.hmget(f"renraku:fail:{key}", ["count", "last"])
        count, last = values
        return int(count or 0), float(last or 0.0)

    async def add(self, key: str, window_seconds: int) -> None:
        name = f"renraku:fail:{key}"
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hincrby(name, "count", 1)
            pipe.hset(name, "last", str(time.time()))
            pipe.expire(name, window_seconds)
            await pipe.execute()

    async def clear(self, key: str) -> None:
        await self._redis.delete(f"renraku:fail:{key}")


@dataclass(frozen=True)
class Limits:
    free_per_account_address: int
    free_per_account: int
    free_per_address: int
    max_delay_seconds: int
    window_seconds: int


class LoginThrottle:
    def __init__(self, store: FailureStore, limits: Limits) -> None:
        self.store = store
        self.limits = limits

    def _keys(self, username: str, address: str) -> list[tuple[str, int]]:
        user = username.strip().lower()[:80]
        return [
            (f"ua:{user}:{address}", self.limits.free_per_account_address),
            (f"u:{user}", self.limits.free_per_account),
            (f"a:{address}", self.limits.free_per_address),
        ]

    def _delay(self, failures: int, free: int) -> float:
        if failures < free:
            return 0.0
        return float(min(2 ** (failures - free), self.limits.max_delay_seconds))

    async def check(self, username: str, address: str) -> None:
        """Raise RateLimited while a wait from earlier failures has not yet passed."""
        now = time.time()
        wait = 0.0
        for key, free in self._keys(username, address):
            failures, last = await self.store.get(key)
            wait = max(wait, last + self._delay(failures, free) - now)
        if wait > 0:
            raise RateLimited(retry_after=max(1, int(wait + 0.999)))

    async def failed(self, username: str, address: str) -> None:
        for key, _free in self._keys(username, address):
            await self.store.add(key, self.limits.window_seconds)

    async def succeeded(self, username: str, address: str) -> None:
        key, _free = self._keys(username, address)[0]
        await self.store.clear(key)


# The write-volume limit counts per clock minute.
WINDOW_SECONDS = 60


class WriteLimit:
    def __init__(self, store: FailureStore, per_minute: int) -> None:
        self._store = store
        self._per_minute = per_minute

    async def take(self, user_id: int, writes: int) -> None:
        """Count `writes` for the account in this minute; RateLimited if that goes past the
        limit (nothing is counted then)."""
        now = time.time()
        minute = int(now // WINDOW_SECONDS)
        key = f"w:{user_id}:{minute}"
        try:
            done, _last = await self._store.get(key)
            if done + writes > self._per_minute:
                raise RateLimited(retry_after=max(1, (minute + 1) * WINDOW_SECONDS - int(now)))
            for _ in range(writes):
                await self._store.add(key, 2 * WINDOW_SECONDS)
        except (RedisError, OSError) as unavailable:
            # Redis away: writes go on uncounted rather than the notebook refusing every post
            # until it is back (the feed itself carries on by polling meanwhile).
            log.warning("write limit not counted: %s", type(unavailable).__name__)
