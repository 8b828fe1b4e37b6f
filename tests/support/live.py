"""The test's own app served by uvicorn on a loopback port inside the test process, so WebSocket
tests share the per-test database and runtime with the `gql` HTTP client."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import uvicorn
import websockets
from prometheus_client import REGISTRY
from starlette.applications import Starlette

PROTOCOL = "graphql-transport-ws"
WAIT_SECONDS = 10.0


@contextlib.asynccontextmanager
async def serving(app: Starlette) -> AsyncIterator[str]:
    """The ws:// URL of /graphql while `app` is served."""
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_config=None, lifespan="off")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"ws://127.0.0.1:{port}/graphql"
    finally:
        server.should_exit = True
        await task
        await app.state.hub.close()


@contextlib.asynccontextmanager
async def subscriber(url: str, token: str) -> AsyncIterator[websockets.ClientConnection]:
    """A socket past connection_ack, signed in with `token`."""
    async with websockets.connect(url, subprotocols=[PROTOCOL]) as ws:  # type: ignore[list-item]
        await ws.send(json.dumps({"type": "connection_init", "payload": bearer(token)}))
        ack = json.loads(await asyncio.wait_for(ws.recv(), WAIT_SECONDS))
        assert ack == {"type": "connection_ack"}, ack
        yield ws


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


async def subscribe(
    ws: websockets.ClientConnection, sub_id: str, query: str, variables: dict[str, Any]
) -> None:
    await ws.send(
        json.dumps(
            {"id": sub_id, "type": "subscribe", "payload": {"query": query, "variables": variables}}
        )
    )


async def receive(ws: websockets.ClientConnection, wait: float = WAIT_SECONDS) -> dict[str, Any]:
    message: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), wait))
    return message


async def nothing_more(ws: websockets.ClientConnection, seconds: float = 0.5) -> bool:
    """True if no message arrives within `seconds` (used after a known-complete stream)."""
    try:
        await asyncio.wait_for(ws.recv(), seconds)
    except TimeoutError:
        return True
    return False


def live_subscriptions() -> int:
    """The live feed subscriptions this process's hubs deliver to (their metrics gauge)."""
    return int(REGISTRY.get_sample_value("renraku_feed_subscriptions") or 0)


async def until_subscriptions(count: int, *, within: float = WAIT_SECONDS) -> None:
    """Until this process's hubs hold `count` live subscriptions: a subscription is registered
    (a post made next reaches it), or a closed socket's are gone."""
    try:
        async with asyncio.timeout(within):
            while True:
                if live_subscriptions() == count:
                    return
                await asyncio.sleep(0.005)
    except TimeoutError:
        held = live_subscriptions()
        raise AssertionError(f"the hub holds {held} live subscriptions, not {count}") from None


@contextlib.asynccontextmanager
async def registered(change: int) -> AsyncIterator[None]:
    """Leaves the block once the hub holds `change` more live subscriptions than on entering it
    (fewer if negative): those the block subscribed (or closed) are taken, and a post made
    after it reaches them. The protocol does not say when the server has set one up."""
    start = live_subscriptions()
    yield
    await until_subscriptions(start + change)
