"""Redis dies and comes back while posts keep coming: every subscriber still receives every post
exactly once, in order, resuming by cursor where it lost its subscription.

The test runs a Redis server of its own (never the shared one) and two workers, so that what one
worker publishes has to travel through that Redis to reach the other worker's subscribers.
"""

from __future__ import annotations

import asyncio
import shutil
import signal
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from functools import partial
from pathlib import Path

import pytest
from redis.asyncio import Redis
from redis.exceptions import RedisError

from tests.support.graphql import GraphQLClient
from tests.support.graphql_ws import (
    CREATE_POST,
    MY_EVENTS,
    PATIENT_EVENTS,
    WAIT_SECONDS,
    Follower,
    create_post,
    until_live,
)
from tests.support.server import Server, free_port, patient_ids, serving

FEED_CHANNEL = "renraku:0:feed"  # the server names channels by its Redis database (db 0 here)
BEFORE, DURING, AFTER = 15, 15, 15


class OwnRedis:
    """A throwaway redis-server on its own port, without persistence."""

    def __init__(self, workdir: Path) -> None:
        binary = shutil.which("redis-server")
        assert binary, "redis-server is needed (scripts/ensure-services installs it)"
        self.binary = binary
        self.workdir = workdir
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        args = ["--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly"]
        self.process = subprocess.Popen(
            [self.binary, *args, "no", "--dir", str(self.workdir)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def kill(self) -> None:
        if self.process is not None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()
            self.process = None

    async def channels(self) -> set[str]:
        """Channels someone is subscribed to (waits for the server to answer)."""
        async with asyncio.timeout(WAIT_SECONDS):
            while True:
                redis = Redis.from_url(self.url)
                try:
                    found = await redis.pubsub_channels()
                    return {c.decode() if isinstance(c, bytes) else str(c) for c in found}
                except (RedisError, OSError):
                    await asyncio.sleep(0.05)
                finally:
                    await redis.aclose()


@contextmanager
def own_redis(workdir: Path) -> Iterator[OwnRedis]:
    redis = OwnRedis(workdir)
    redis.start()
    try:
        yield redis
    finally:
        redis.kill()


@pytest.fixture
def redis(tmp_path: Path) -> Iterator[OwnRedis]:
    with own_redis(tmp_path) as started:
        yield started


@pytest.fixture
async def server(database_url: str, tmp_path: Path, redis: OwnRedis) -> AsyncIterator[Server]:
    await redis.channels()  # up
    with serving(database_url, cwd=tmp_path, workers=2, BROKER_URL=redis.url) as running:
        yield running


async def post_until_stored(client: GraphQLClient, patient: str, body: str) -> str:
    """Post as an offline outbox does: retry with the same clientId until the server has it."""
    draft = {"patientId": patient, "clientId": uuid.uuid4().hex, "category": "OTHER", "body": body}
    async with asyncio.timeout(WAIT_SECONDS * 3):
        while True:
            try:
                result = await client.execute(CREATE_POST, {"input": draft})
            except (OSError, ValueError):  # refused, or not a JSON answer
                result = {}
            if result.get("data"):
                post_id: str = result["data"]["createPost"]["id"]
                return post_id
            await asyncio.sleep(0.05)


def has_events(follower: Follower) -> bool:
    return bool(follower.events)


def received_since(follower: Follower, *, start: int, count: int) -> bool:
    return len(follower.post_ids()) - start >= count


@asynccontextmanager
async def following(followers: list[Follower]) -> AsyncIterator[list[Follower]]:
    for follower in followers:
        follower.start()
    try:
        yield followers
    finally:
        for follower in followers:
            await follower.stop()


async def test_subscribers_receive_every_post_once_in_order_across_a_redis_restart(
    server: Server, redis: OwnRedis
) -> None:
    async with server.client() as http:
        anonymous = GraphQLClient(http)
        doctor = await anonymous.login("dr.suzuki")
        nurse = await anonymous.login("nurse.sato")
        coordinator = await anonymous.login("cm.tanaka")
        patient = (await patient_ids(doctor))["pt-ito-haru"]
        assert nurse.token and coordinator.token and doctor.token
        followers = [
            Follower(server.ws_url, nurse.token, MY_EVENTS),
            Follower(server.ws_url, coordinator.token, MY_EVENTS),
            Follower(server.ws_url, doctor.token, PATIENT_EVENTS, {"patientId": patient}),
        ]
        async with following(followers):

            async def probe() -> list[str]:
                return [await create_post(doctor, patient, "確認")]

            for follower in followers:
                await until_live(partial(has_events, follower), probe)
            marker = (await probe())[0]
            for follower in followers:
                await follower.wait_for(lambda f: marker in f.post_ids(), within=WAIT_SECONDS)
            starts = [f.post_ids().index(marker) + 1 for f in followers]
            listeners = await _listeners(redis)
            assert listeners > 0  # the feed really goes through this Redis

            posted = [await post_until_stored(doctor, patient, f"前 {n}") for n in range(BEFORE)]
            redis.kill()
            posted += [
                await post_until_stored(doctor, patient, f"停止中 {n}") for n in range(DURING)
            ]
            redis.start()
            await _until_listening(redis, listeners)
            posted += [await post_until_stored(doctor, patient, f"後 {n}") for n in range(AFTER)]

            for follower, start in zip(followers, starts, strict=True):
                await follower.wait_for(
                    partial(received_since, start=start, count=len(posted)),
                    within=WAIT_SECONDS * 2,
                )
                received = follower.post_ids()[start:]
                assert received == posted
                cursors = [e["cursor"] for e in follower.events]
                assert len(set(cursors)) == len(cursors)


async def _listeners(redis: OwnRedis) -> int:
    """How many connections (one per worker whose hub has started) listen to the feed."""
    await redis.channels()  # up
    client = Redis.from_url(redis.url)
    try:
        counts = await client.pubsub_numsub(FEED_CHANNEL)
    finally:
        await client.aclose()
    return int(counts[0][1]) if counts else 0


async def _until_listening(redis: OwnRedis, listeners: int) -> None:
    """The workers' hubs listen on the restarted Redis again."""
    async with asyncio.timeout(WAIT_SECONDS):
        while True:
            if await _listeners(redis) >= listeners:
                return
            await asyncio.sleep(0.05)
