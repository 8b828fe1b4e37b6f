"""Brokers for tests: in-process, or on the real Redis with channels no other test run shares."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from redis.asyncio import Redis

from renraku.broker import Broker, MemoryBroker, Message, RedisBroker, Subscription
from tests.support.workers import redis_url

REDIS_URL = redis_url()
BROKER_KINDS = ("memory", "redis")
# Long enough for any healthy machine; only reached when a message never comes.
WAIT_SECONDS = 10.0


def unique_prefix() -> str:
    return f"renraku-test-{uuid.uuid4().hex}:"


@asynccontextmanager
async def make_broker(kind: str, prefix: str | None = None) -> AsyncIterator[Broker]:
    if kind == "memory":
        memory = MemoryBroker()
        yield memory
        await memory.close()
        return
    redis = Redis.from_url(REDIS_URL)
    broker = RedisBroker(redis, prefix=prefix or unique_prefix())
    try:
        yield broker
    finally:
        await broker.close()
        await redis.aclose()


async def receive(subscription: Subscription) -> Message:
    return await asyncio.wait_for(subscription.get(), WAIT_SECONDS)


async def drain_until_marker(
    broker: Broker, subscription: Subscription, marker: str
) -> list[Message]:
    """Publish a marker on the subscription's channel and return what arrived before it.

    Messages on one channel keep their order, so anything published before the marker (by this
    process or through Redis) arrives before it: no waiting for something not to happen.
    """
    await broker.publish(subscription.channel, {"marker": marker})
    before: list[Message] = []
    while True:
        message = await receive(subscription)
        if message.get("marker") == marker:
            return before
        before.append(message)
