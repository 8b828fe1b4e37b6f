"""graphql-transport-ws spoken by hand with the `websockets` client, for tests of the live feed.

`Socket` is one connection, message by message, for protocol tests. `Follower` is what an app
does with the feed: it subscribes, and whenever the subscription or the socket is lost for a
reason it may retry, subscribes again after the last cursor it saw.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import socket
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from tests.support.graphql import GraphQLClient

PROTOCOL = "graphql-transport-ws"
# Long enough for any healthy machine; only reached when a message never comes.
WAIT_SECONDS = 20.0
# Close codes after which a client must not reconnect by itself (sign in again instead).
FINAL_CLOSE_CODES = frozenset({4400, 4401, 4403, 4409, 4429})

EVENT_FIELDS = "cursor kind patientId post { id clientId revision retractedAt }"
MY_EVENTS = f"subscription($after: String) {{ myEvents(after: $after) {{ {EVENT_FIELDS} }} }}"
PATIENT_EVENTS = (
    "subscription($patientId: ID!, $after: String) {"
    f" patientEvents(patientId: $patientId, after: $after) {{ {EVENT_FIELDS} }} }}"
)

Message = dict[str, Any]


class Socket:
    """One graphql-transport-ws connection; answers the server's pings by itself."""

    def __init__(self, connection: ClientConnection) -> None:
        self.connection = connection
        self._held: list[Message] = []
        self.cursors: dict[str, str] = {}

    @property
    def local_port(self) -> int:
        port: int = self.connection.local_address[1]
        return port

    async def send(self, message: Message | str) -> None:
        await self.connection.send(message if isinstance(message, str) else json.dumps(message))

    async def _read(self, within: float | None) -> Message:
        while True:
            raw = await asyncio.wait_for(self.connection.recv(), within)
            message: Message = json.loads(raw)
            if message.get("type") == "ping":
                await self.send({"type": "pong"})
                continue
            return message

    async def receive(
        self, id: str | None = None, *, within: float | None = WAIT_SECONDS
    ) -> Message:
        """The next message (for subscription `id`, if given; others wait their turn)."""
        for index, held in enumerate(self._held):
            if id is None or held.get("id") == id:
                return self._held.pop(index)
        while True:
            message = await self._read(within)
            if id is None or message.get("id") == id:
                return message
            self._held.append(message)

    async def init(self, payload: Message | None = None) -> Message:
        """connection_init, and the server's connection_ack."""
        init: Message = {"type": "connection_init"}
        if payload is not None:
            init["payload"] = payload
        await self.send(init)
        ack = await self.receive()
        assert ack["type"] == "connection_ack", ack
        return ack

    async def subscribe(self, id: str, query: str, variables: Message | None = None) -> None:
        await self.send(
            {
                "id": id,
                "type": "subscribe",
                "payload": {"query": query, "variables": variables or {}},
            }
        )

    async def next_event(self, id: str, *, within: float = WAIT_SECONDS) -> Message:
        """The next feed event of subscription `id` (the single field of its `next` payload)."""
        message = await self.receive(id, within=within)
        assert message["type"] == "next", message
        payload: Message = message["payload"]
        assert "errors" not in payload, payload
        (event,) = payload["data"].values()
        assert isinstance(event, dict)
        self.cursors[id] = event["cursor"]
        return event

    def last_cursor(self, id: str) -> str:
        """The cursor of the last event `next_event` returned for subscription `id`."""
        return self.cursors[id]

    def held(self) -> list[Message]:
        """Messages received while waiting for another subscription's, not yet read."""
        return list(self._held)

    async def closed(self, *, within: float = WAIT_SECONDS) -> tuple[int, list[Message]]:
        """Read until the server closes: its close code and what came before it."""
        before = list(self._held)
        self._held.clear()
        try:
            while True:
                before.append(await self._read(within))
        except ConnectionClosed as closed:
            return (closed.rcvd.code if closed.rcvd else 1006), before


def error_codes(errors: list[Message]) -> list[str | None]:
    return [e.get("extensions", {}).get("code") for e in errors]


def access_lost(errors: list[Message]) -> bool:
    return bool({"NOT_FOUND", "FORBIDDEN", "UNAUTHENTICATED"} & set(error_codes(errors)))


def bearer(token: str) -> Message:
    return {"authorization": f"Bearer {token}"}


def small_buffer_socket(port: int, size: int = 4096) -> socket.socket:
    """A connected loopback socket that buffers little: a client that stops reading soon
    holds up the server, as a phone on a bad network does (use it without compression, or
    repetitive events take next to no room)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    # Set before connecting, so the TCP window is negotiated small.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, size)
    sock.connect(("127.0.0.1", port))
    sock.setblocking(False)
    return sock


@asynccontextmanager
async def open_socket(
    url: str,
    *,
    token: str | None = None,
    init: bool = True,
    subprotocols: Sequence[str] = (PROTOCOL,),
    origin: str | None = None,
    headers: dict[str, str] | None = None,
    sock: socket.socket | None = None,
    max_queue: int = 16,
    max_size: int | None = 2**20,
    compress: bool = True,
) -> AsyncIterator[Socket]:
    """A connection to the server's /graphql; signed in with `token` and acknowledged if `init`."""
    async with connect(
        url,
        subprotocols=[*subprotocols] or None,  # type: ignore[list-item]  # Subprotocol is a str
        origin=origin,  # type: ignore[arg-type]  # websockets' Origin is a str
        additional_headers=headers,
        sock=sock,
        max_queue=max_queue,
        max_size=max_size,
        compression="deflate" if compress else None,
        ping_interval=None,  # the tests speak only when they mean to
        open_timeout=WAIT_SECONDS,
        close_timeout=2,
    ) as connection:
        opened = Socket(connection)
        if init:
            await opened.init(bearer(token) if token else None)
        yield opened


CREATE_POST = """
mutation($input: CreatePostInput!) { createPost(input: $input) { id clientId } }
"""
# How long to wait for a probe's event before probing again.
PROBE_SECONDS = 0.5
MAX_PROBES = 40

Probe = Callable[[], Awaitable[Sequence[str]]]


async def create_post(
    client: GraphQLClient, patient_id: str, body: str, *, client_id: str | None = None, **more: Any
) -> str:
    """Post to a patient's notebook over HTTP; the new post's id."""
    draft = {
        "patientId": patient_id,
        "clientId": client_id or uuid.uuid4().hex,
        "category": "OTHER",
        "body": body,
        **more,
    }
    result = await client.execute(CREATE_POST, {"input": draft})
    assert "errors" not in result, result
    post_id: str = result["data"]["createPost"]["id"]
    return post_id


async def until_live(arrived: Callable[[], bool], probe: Probe) -> None:
    """Probe (e.g. post) until something arrives: a live-only subscription misses what happens
    before the server has set it up, and the protocol does not say when that is."""
    for _ in range(MAX_PROBES):
        await probe()
        for _ in range(10):
            if arrived():
                return
            await asyncio.sleep(PROBE_SECONDS / 10)
    raise AssertionError("the subscription never went live")


async def go_live(subscriptions: Sequence[tuple[Socket, str]], probe: Probe) -> None:
    """Probe until each (socket, subscription id) has received an event, then probe once more
    and read each up to that last probe, so that no probe is left to read.

    Each subscription must see exactly one of the posts a probe makes (one post per patient).
    """
    waiting = list(subscriptions)
    for _ in range(MAX_PROBES):
        await probe()
        still = []
        for ws, sub_id in waiting:
            try:
                message = await ws.receive(sub_id, within=PROBE_SECONDS)
            except TimeoutError:
                still.append((ws, sub_id))
                continue
            assert message["type"] == "next", message
        waiting = still
        if not waiting:
            break
    else:
        raise AssertionError("a subscription never went live")
    markers = set(await probe())
    for ws, sub_id in subscriptions:
        while (await ws.next_event(sub_id))["post"]["id"] not in markers:
            pass


class Follower:
    """Follows one feed subscription for as long as it runs, resuming after its last cursor.

    Lost subscriptions are resumed the way DESIGN.md asks of clients: an `error` or `complete`
    on the subscription resubscribes on the same socket, a socket closed with a retryable code
    reconnects; both with `after` set to the last cursor received. Final close codes stop it.
    """

    def __init__(self, url: str, token: str, query: str, variables: Message | None = None) -> None:
        self.url = url
        self.token = token
        self.query = query
        self.variables = dict(variables or {})
        self.events: list[Message] = []
        self.cursor: str | None = self.variables.pop("after", None)
        # How often it subscribed again on the same socket, and how often it reconnected.
        self.resumed = 0
        self.reconnected = 0
        self.errors: list[Any] = []
        self._ids = itertools.count(1)
        self._task: asyncio.Task[None] | None = None
        self._changed = asyncio.Event()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def post_ids(self) -> list[str]:
        return [e["post"]["id"] for e in self.events if e.get("post")]

    async def wait_for(self, done: Callable[[Follower], bool], *, within: float) -> None:
        """Until `done(self)` (or the follower failed, or `within` seconds passed: assertion)."""
        async with asyncio.timeout(within):
            while not done(self):
                if self._task is not None and self._task.done():
                    self._task.result()  # raises what stopped it
                    raise AssertionError("the follower stopped")
                self._changed.clear()
                await self._changed.wait()

    async def _run(self) -> None:
        while True:
            try:
                async with open_socket(self.url, token=self.token) as ws:
                    await self._follow(ws)
            except ConnectionClosed as closed:
                code = closed.rcvd.code if closed.rcvd else 1006
                if code in FINAL_CLOSE_CODES:
                    raise
            except OSError:
                pass  # the server is not reachable right now; try again
            self.reconnected += 1
            self._changed.set()
            await asyncio.sleep(0.05)

    async def _follow(self, ws: Socket) -> None:
        while True:
            id = str(next(self._ids))
            await ws.subscribe(id, self.query, {**self.variables, "after": self.cursor})
            while True:
                # No timeout: a quiet feed is not a lost one.
                message = await ws.receive(id, within=None)
                if message["type"] == "error":
                    self.errors.append(message["payload"])
                    if access_lost(message["payload"]):
                        raise AssertionError(f"the subscription lost access: {message}")
                    break  # resubscribe from the cursor
                if message["type"] != "next":
                    break  # complete: resubscribe from the cursor
                payload = message["payload"]
                # An event the server could not build; the subscription itself goes on.
                assert "errors" not in payload, payload
                (event,) = payload["data"].values()
                self.events.append(event)
                self.cursor = event["cursor"]
                self._changed.set()
            self.resumed += 1
            self._changed.set()
