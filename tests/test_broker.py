"""The broker behaves the same in process and through the real Redis."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from renraku.broker import Broker, Overflow, RedisBroker, SubscriptionLost
from tests.realtime.support import (
    BROKER_KINDS,
    REDIS_URL,
    drain_until_marker,
    make_broker,
    receive,
    unique_prefix,
)


@pytest.fixture(params=BROKER_KINDS)
async def broker(request: pytest.FixtureRequest) -> AsyncIterator[Broker]:
    async with make_broker(request.param) as made:
        yield made


async def test_a_subscriber_receives_what_is_published_after_it_subscribed(broker: Broker) -> None:
    await broker.publish("news", {"n": 0})  # nobody listens yet: gone
    async with broker.subscribe("news") as subscription:
        await broker.publish("news", {"n": 1, "text": "日本語"})
        assert await receive(subscription) == {"n": 1, "text": "日本語"}
        assert await drain_until_marker(broker, subscription, "end") == []


async def test_every_subscriber_of_a_channel_and_no_other_receives_it(broker: Broker) -> None:
    async with (
        broker.subscribe("a") as first,
        broker.subscribe("a") as second,
        broker.subscribe("b") as other,
    ):
        await broker.publish("a", {"n": 1})
        assert await receive(first) == {"n": 1}
        assert await receive(second) == {"n": 1}
        assert await drain_until_marker(broker, other, "end") == []


async def test_messages_keep_their_order(broker: Broker) -> None:
    async with broker.subscribe("ordered") as subscription:
        for n in range(50):
            await broker.publish("ordered", {"n": n})
        assert [(await receive(subscription))["n"] for _ in range(50)] == list(range(50))


async def test_a_subscriber_too_far_behind_gets_what_it_had_then_overflow(broker: Broker) -> None:
    async with broker.subscribe("fast", limit=2) as slow, broker.subscribe("fast") as keeping_up:
        for n in range(3):
            await broker.publish("fast", {"n": n})
        # Once the unlimited subscriber has all three, so has the slow one's queue (in order).
        assert [(await receive(keeping_up))["n"] for _ in range(3)] == [0, 1, 2]
        assert [(await receive(slow))["n"] for _ in range(2)] == [0, 1]
        with pytest.raises(Overflow):
            await receive(slow)
        # The others carry on.
        await broker.publish("fast", {"n": 3})
        assert await receive(keeping_up) == {"n": 3}


async def test_leaving_and_subscribing_again_still_receives(broker: Broker) -> None:
    async with broker.subscribe("again") as subscription:
        await broker.publish("again", {"n": 1})
        assert await receive(subscription) == {"n": 1}
    async with broker.subscribe("again") as subscription:
        await broker.publish("again", {"n": 2})
        assert await receive(subscription) == {"n": 2}


async def test_closing_the_broker_ends_its_subscriptions(broker: Broker) -> None:
    async with broker.subscribe("closing") as subscription:
        await broker.publish("closing", {"n": 1})
        assert await receive(subscription) == {"n": 1}
        await broker.close()
        with pytest.raises(SubscriptionLost):
            await receive(subscription)


@pytest.mark.redis
async def test_a_subscriber_elsewhere_receives_through_redis() -> None:
    prefix = unique_prefix()
    async with (
        make_broker("redis", prefix) as here,
        make_broker("redis", prefix) as there,
        here.subscribe("shared") as near,
        there.subscribe("shared") as far,
    ):
        await here.publish("shared", {"from": "here"})
        assert await receive(near) == {"from": "here"}
        assert await receive(far) == {"from": "here"}


@pytest.mark.redis
async def test_what_is_not_a_json_object_is_dropped() -> None:
    prefix = unique_prefix()
    raw = Redis.from_url(REDIS_URL)
    try:
        async with make_broker("redis", prefix) as broker, broker.subscribe("c") as subscription:
            for hostile in (b"not json", b"[1, 2]", b'"text"', b"\xff\xfe", b"[" * 100_000):
                await raw.publish(prefix + "c", hostile)
            await broker.publish("c", {"ok": True})
            assert await receive(subscription) == {"ok": True}
    finally:
        await raw.aclose()


@pytest.mark.redis
async def test_a_lost_redis_connection_ends_subscriptions_so_they_catch_up() -> None:
    name = f"renraku-test-{uuid.uuid4().hex}"
    redis = Redis.from_url(REDIS_URL, client_name=name)
    admin = Redis.from_url(REDIS_URL)
    broker = RedisBroker(redis, prefix=unique_prefix())
    try:
        async with broker.subscribe("c") as subscription:
            await broker.publish("c", {"n": 1})
            assert await receive(subscription) == {"n": 1}
            listening = [
                c for c in await admin.client_list() if c["name"] == name and c["sub"] != "0"
            ]
            assert len(listening) == 1
            await admin.client_kill_filter(_id=listening[0]["id"])
            with pytest.raises(SubscriptionLost):
                await receive(subscription)
        async with broker.subscribe("c") as subscription:
            await broker.publish("c", {"n": 2})
            assert await receive(subscription) == {"n": 2}
    finally:
        await broker.close()
        await redis.aclose()
        await admin.aclose()
