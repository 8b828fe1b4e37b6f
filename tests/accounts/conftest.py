"""Counter stores for the sign-in throttle and the write limit: in memory, and in Redis as
workers share them."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from renraku.throttle import FailureStore, MemoryFailureStore, RedisFailureStore
from tests.support.workers import redis_url

REDIS_URL = redis_url()


@pytest.fixture(params=["memory", "redis"])
async def store(request: pytest.FixtureRequest) -> AsyncIterator[FailureStore]:
    if request.param == "memory":
        yield MemoryFailureStore()
        return
    redis = Redis.from_url(REDIS_URL)
    yield RedisFailureStore(redis)
    await redis.aclose()
