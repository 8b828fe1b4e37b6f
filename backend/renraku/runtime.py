"""What a running server (or a CLI command) holds: settings, the database, shared stores."""

from __future__ import annotations

from dataclasses import dataclass

from redis.asyncio import Redis

from renraku.accounts.throttle import (
    FailureStore,
    Limits,
    LoginThrottle,
    MemoryFailureStore,
    RedisFailureStore,
)
from renraku.db import Database
from renraku.settings import Settings


@dataclass
class Runtime:
    settings: Settings
    db: Database
    throttle: LoginThrottle
    redis: Redis | None = None

    async def close(self) -> None:
        await self.db.dispose()
        if self.redis is not None:
            await self.redis.aclose()


def build_runtime(settings: Settings, db: Database | None = None) -> Runtime:
    redis = Redis.from_url(settings.broker_url) if settings.broker_url else None
    store: FailureStore = RedisFailureStore(redis) if redis else MemoryFailureStore()
    limits = Limits(
        free_per_account_address=settings.login_free_failures,
        free_per_account=settings.login_free_failures * 2,
        free_per_address=settings.login_free_failures * 20,
        max_delay_seconds=settings.login_max_delay_seconds,
        window_seconds=settings.login_window_minutes * 60,
    )
    return Runtime(
        settings=settings,
        db=db or Database.from_url(settings.database_url),
        throttle=LoginThrottle(store, limits),
        redis=redis,
    )
