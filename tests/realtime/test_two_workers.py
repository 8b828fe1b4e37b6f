"""`renraku serve --workers 2` on PostgreSQL and Redis: a post made through one worker process
reaches subscribers on the other, and either worker's /metrics answers for both.

Which worker holds a connection is read from the operating system (the worker process that owns
the connection's server-side socket), so the test knows it has both workers in play instead of
hoping for it.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack
from pathlib import Path

import httpx
import pytest

from tests.support.graphql import GraphQLClient
from tests.support.graphql_ws import MY_EVENTS, Socket, create_post, go_live, open_socket
from tests.support.metrics import scrape, value
from tests.support.server import Server, patient_ids, serving
from tests.support.workers import redis_url

# A Redis database no other test uses (pub/sub channels are shared across databases anyway;
# the broker's channel prefix, named after the number, keeps test runs apart).
BROKER_URL = redis_url(spare=True)
# Connections opened, at most, to find both workers: the kernel hands each new connection to
# whichever worker accepts first, which is seldom the same one this many times in a row.
MAX_CONNECTIONS = 40


def _children(pid: int) -> list[int]:
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        parents.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _inodes(server_port: int, client_port: int) -> Iterator[str]:
    """Socket inodes of the server's end of the loopback connection from `client_port`."""
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            local, remote, inode = fields[1], fields[2], fields[9]
            if int(local.rsplit(":", 1)[1], 16) == server_port and (
                int(remote.rsplit(":", 1)[1], 16) == client_port
            ):
                yield inode


def worker_of(server: Server, client_port: int) -> int:
    """The pid of the worker process serving the connection from `client_port`."""
    targets = {f"socket:[{inode}]" for inode in _inodes(server.port, client_port)}
    assert targets, "no such connection"
    for pid in _children(server.process.pid):
        try:
            fds = list(Path(f"/proc/{pid}/fd").iterdir())
        except OSError:
            continue
        for fd in fds:
            try:
                if os.readlink(fd) in targets:
                    return pid
            except OSError:
                continue
    raise AssertionError("no worker owns the connection")


@pytest.fixture
async def server(database_url: str, tmp_path: Path) -> AsyncIterator[Server]:
    with serving(database_url, cwd=tmp_path, workers=2, BROKER_URL=BROKER_URL) as running:
        yield running


async def _http_port(client: httpx.AsyncClient) -> int:
    """The local port of the client's (kept-alive) connection to the server."""
    response = await client.get("/healthz")
    sock = response.extensions["network_stream"].get_extra_info("socket")
    port: int = sock.getsockname()[1]
    return port


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
async def test_a_post_made_through_one_worker_reaches_subscribers_on_the_other(
    server: Server,
) -> None:
    async with AsyncExitStack() as stack:
        # HTTP clients, each on one kept-alive connection, until each worker serves one.
        posting: dict[int, GraphQLClient] = {}
        for _ in range(MAX_CONNECTIONS):
            http = await stack.enter_async_context(server.client())
            worker = worker_of(server, await _http_port(http))
            if worker not in posting:
                posting[worker] = await GraphQLClient(http).login("dr.suzuki")
            if len(posting) == 2:
                break
        assert len(posting) == 2, "every HTTP connection went to one worker"

        nurse = await next(iter(posting.values())).login("nurse.sato")
        patient = (await patient_ids(nurse))["pt-ito-haru"]
        # Sockets, until each worker holds one subscriber.
        subscribers: dict[int, Socket] = {}
        for _ in range(MAX_CONNECTIONS):
            ws = await stack.enter_async_context(open_socket(server.ws_url, token=nurse.token))
            worker = worker_of(server, ws.local_port)
            if worker not in subscribers:
                await ws.subscribe("feed", MY_EVENTS)
                subscribers[worker] = ws
            if len(subscribers) == 2:
                break
        assert set(subscribers) == set(posting), "every socket went to one worker"

        async def probe() -> list[str]:
            return [await create_post(next(iter(posting.values())), patient, "確認")]

        await go_live([(ws, "feed") for ws in subscribers.values()], probe)

        sent = []
        for worker, doctor in posting.items():
            for n in range(3):
                sent.append(await create_post(doctor, patient, f"worker {worker} post {n}"))
        for ws in subscribers.values():
            received = [await ws.next_event("feed") for _ in sent]
            assert [e["post"]["id"] for e in received] == sent
            assert {e["kind"] for e in received} == {"POST_CREATED"}
            assert len({e["cursor"] for e in received}) == len(sent)

        # Either worker's /metrics answers for both: the two subscriptions, every event.
        for client in posting.values():
            samples = await scrape(client.http)
            assert value(samples, "renraku_feed_subscriptions") == len(subscribers)
            assert value(samples, "renraku_feed_events_committed_total") >= len(sent) + 1
