"""The write-volume limit: so many writes per account per minute, shared by workers through
Redis, refused with RATE_LIMITED before anything is written."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator

import httpx
import pytest
from redis.asyncio import Redis
from sqlmodel import col, func, select

from renraku import throttle as throttle_module
from renraku.app import build_app
from renraku.db import Database
from renraku.errors import RateLimited
from renraku.feed.models import Post
from renraku.ids import encode_id
from renraku.runtime import Runtime, build_runtime
from renraku.throttle import (
    FailureStore,
    RedisFailureStore,
    WriteLimit,
)
from tests.accounts.conftest import REDIS_URL
from tests.conftest import ORIGIN, make_settings
from tests.support.graphql import GraphQLClient
from tests.teams.helpers import patient_pk

NOON = 1_800_000_000.0 + 30  # half a minute into a clock minute: the test never crosses one


class _Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def time(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> _Clock:
    fixed = _Clock(NOON)
    monkeypatch.setattr(throttle_module, "time", fixed)
    return fixed


def _someone() -> int:
    return random.randrange(10**9, 10**10)  # an id no other test counts for


async def test_writes_up_to_the_limit_then_a_wait(store: FailureStore, clock: _Clock) -> None:
    limit = WriteLimit(store, per_minute=3)
    user, other = _someone(), _someone()
    for _ in range(3):
        await limit.take(user, 1)
    with pytest.raises(RateLimited) as refused:
        await limit.take(user, 1)
    assert refused.value.retry_after == 30
    await limit.take(other, 1)  # one account's flood is its own
    clock.now += 30  # the next minute
    await limit.take(user, 1)


async def test_an_operation_past_the_limit_counts_nothing(
    store: FailureStore, clock: _Clock
) -> None:
    limit = WriteLimit(store, per_minute=3)
    user = _someone()
    await limit.take(user, 2)
    with pytest.raises(RateLimited):
        await limit.take(user, 2)
    await limit.take(user, 1)


async def test_workers_share_the_count_through_redis(clock: _Clock) -> None:
    first, second = Redis.from_url(REDIS_URL), Redis.from_url(REDIS_URL)
    try:
        user = _someone()
        await WriteLimit(RedisFailureStore(first), per_minute=2).take(user, 2)
        with pytest.raises(RateLimited):
            await WriteLimit(RedisFailureStore(second), per_minute=2).take(user, 1)
    finally:
        await first.aclose()
        await second.aclose()


CREATE = "mutation($i: CreatePostInput!) { createPost(input: $i) { id } }"
TWO = """mutation($a: CreatePostInput!, $b: CreatePostInput!) {
  a: createPost(input: $a) { id } b: createPost(input: $b) { id } }"""
ME = "{ me { username } }"


@pytest.fixture
async def limited(database_url: str) -> AsyncIterator[tuple[GraphQLClient, Runtime]]:
    runtime = build_runtime(
        make_settings(database_url, writes_per_minute=2), Database.from_url(database_url)
    )
    transport = httpx.ASGITransport(app=build_app(runtime.settings, runtime))
    async with httpx.AsyncClient(transport=transport, base_url=ORIGIN) as http:
        yield GraphQLClient(http), runtime
    await runtime.close()


async def test_a_flood_of_posts_is_refused_and_nothing_more_is_stored(
    limited: tuple[GraphQLClient, Runtime], clock: _Clock
) -> None:
    gql, runtime = limited
    pid = encode_id("Patient", await patient_pk(runtime, "pt-ito-haru"))
    nurse, doctor = await gql.login("nurse.sato"), await gql.login("dr.suzuki")

    def draft(n: int) -> dict[str, object]:
        return {"patientId": pid, "clientId": f"flood-{n}", "category": "OTHER", "body": "記録"}

    for n in range(2):
        assert "errors" not in await nurse.execute(CREATE, {"i": draft(n)})
    refused = await nurse.execute(CREATE, {"i": draft(2)})
    assert refused["data"] is None
    [error] = refused["errors"]
    assert error["extensions"] == {"code": "RATE_LIMITED", "retryAfter": 30}
    assert "errors" not in await nurse.execute(ME)  # reads are not writes
    both = await doctor.execute(TWO, {"a": draft(10), "b": draft(11)})
    assert "errors" not in both, both  # another account, two writes: within its limit
    async with runtime.db.session() as session:
        stored = await session.exec(
            select(func.count()).where(col(Post.client_id).startswith("flood-"))
        )
        assert stored.one() == 4


async def test_writes_go_on_uncounted_while_redis_is_away(clock: _Clock) -> None:
    # Nothing listens on port 1: every command fails to connect, as while Redis restarts.
    away = Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.5)
    try:
        limit, user = WriteLimit(RedisFailureStore(away), per_minute=1), _someone()
        for _ in range(3):  # past the limit, yet not refused: nothing could be counted
            await limit.take(user, 1)
    finally:
        await away.aclose()
