"""What a running server (or a CLI command) holds: settings, the database, shared stores."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from redis.asyncio import Redis

from renraku.audit.checkpoints import SigningKey
from renraku.audit.reads import ReadAuditor
from renraku.broker import Broker, MemoryBroker, RedisBroker
from renraku.db import Database
from renraku.settings import Settings
from renraku.throttle import (
    FailureStore,
    Limits,
    LoginThrottle,
    MemoryFailureStore,
    RedisFailureStore,
    WriteLimit,
)

# Decoding a photo holds its whole bitmap (up to 4 bytes a pixel): a few at a time bound the memory.
MAX_CONCURRENT_DECODES = 2


@dataclass
class Runtime:
    settings: Settings
    db: Database
    throttle: LoginThrottle
    # Writes per account per minute (web/write_limit.py), counted where the throttle counts.
    write_limit: WriteLimit
    redis: Redis | None = None
    # In-process unless BROKER_URL names a Redis, through which every worker hears every event.
    broker: Broker = field(default_factory=MemoryBroker)
    # One batched writer of read audit records per process (audit/reads.py).
    read_auditor: ReadAuditor = field(init=False)
    # The photo decodes running at once in this process (feed/uploads.py).
    decodes: asyncio.Semaphore = field(
        default_factory=lambda: asyncio.Semaphore(MAX_CONCURRENT_DECODES)
    )

    def __post_init__(self) -> None:
        self.read_auditor = ReadAuditor(self.db, SigningKey(self.settings))

    async def close(self) -> None:
        # Flushed first: the queued reads must reach the log before the database goes.
        await self.read_auditor.close()
        await self.broker.close()
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
        write_limit=WriteLimit(store, settings.writes_per_minute),
        redis=redis,
        broker=RedisBroker(redis, prefix=_channel_prefix(redis)) if redis else MemoryBroker(),
    )


def _channel_prefix(redis: Redis) -> str:
    """Redis pub/sub ignores the database number, so it goes into the channel names: two
    services on one Redis with different BROKER_URL databases never hear each other."""
    number = redis.connection_pool.connection_kwargs.get("db", 0)
    return f"renraku:{number}:"
