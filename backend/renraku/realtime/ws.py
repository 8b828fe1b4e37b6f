"""The WebSocket at /graphql: the graphql-transport-ws protocol, written out for the live feed.

Only that protocol is spoken (the legacy one had an auth bypass). Queries and mutations sent over
the socket run through the strawberry schema like HTTP requests; the notebook's two subscriptions
are handed to the hub (realtime/hub.py), which executes each event once per audience and
selection, and `incidentUpdates` gets a watch of its own (realtime/incident_watch.py).

Close codes, as the protocol defines them: 4400 invalid message, 4401 subscribe before
connection_ack, 4403 connection_init refused, 4406 wrong subprotocol, 4408 no connection_init in
time, 4409 a subscription id already in use, 4429 a second connection_init. Ours: 4401 when the
session ends, 1013 when a subscriber falls too far behind (it resubscribes from its cursor).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any

from graphql import DocumentNode, GraphQLError, OperationDefinitionNode, OperationType
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from renraku.access.actor import Actor
from renraku.access.notebook import timeline_scope
from renraku.accounts.http import client_address, resolve_actor
from renraku.context import Context
from renraku.errors import BadInput, Forbidden, RenrakuError
from renraku.feed.events_graphql import decode_event_cursor
from renraku.graphql_errors import coded
from renraku.ids import decode_id
from renraku.metrics import FEED_SLOW_CLOSED
from renraku.realtime import incident_watch
from renraku.realtime.documents import checked, root_field, selection_key
from renraku.realtime.hub import FeedHub
from renraku.realtime.subscriptions import (
    INCIDENT_UPDATES,
    PATIENT_EVENTS,
    SLOW_CONSUMER,
    TOO_FAR_BEHIND,
    LiveSubscription,
)
from renraku.runtime import Runtime
from renraku.schema import RenrakuSchema

log = logging.getLogger("renraku.realtime")

PROTOCOL = "graphql-transport-ws"
MAX_MESSAGE_CHARS = 64_000
MAX_ID_CHARS = 128
# A replay waits this long for room in a socket's queue before calling the client too slow.
REPLAY_WAIT_SECONDS = 30.0


class ProtocolError(Exception):
    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


def _errors(error: Exception) -> list[dict[str, Any]]:
    if isinstance(error, GraphQLError):
        return [dict(coded(error).formatted)]
    if isinstance(error, RenrakuError):
        return [dict(GraphQLError(str(error), extensions=error.extensions).formatted)]
    return [dict(GraphQLError("Unexpected error.", extensions={"code": "INTERNAL"}).formatted)]


def _frame(message: dict[str, Any]) -> str:
    return json.dumps(message, ensure_ascii=False, separators=(",", ":"))


class Connection:
    """One socket: its state in the protocol, its subscriptions, and its bounded send queue."""

    def __init__(self, websocket: WebSocket, runtime: Runtime, hub: FeedHub, schema: RenrakuSchema):
        self.websocket = websocket
        self.runtime = runtime
        self.hub = hub
        self.schema = schema
        self.actor: Actor = None  # type: ignore[assignment]  # set by connection_init
        self.init_received = False
        self.acknowledged = False
        self.subscriptions: dict[str, LiveSubscription | None] = {}
        # incidentUpdates subscriptions: each a watch of its own beside the hub.
        self._watches: dict[str, asyncio.Task[None]] = {}
        self._queue: asyncio.Queue[str | None] = asyncio.Queue(runtime.settings.ws_queue_limit)
        self._closing: tuple[int, str] | None = None
        self._closed = asyncio.Event()
        # Each live subscription's `next` message up to its payload (_next_prefix).
        self._prefixes: dict[str, str] = {}

    # -- the hub's side (Socket protocol) -----------------------------------------------------

    def context(self) -> Context:
        return Context(
            runtime=self.runtime,
            request=self.websocket,
            response=None,
            actor=self.actor,
            client_address=client_address(self.websocket),
        )

    def send_next(self, sub_id: str, payload: str) -> None:
        # The payload was serialised once for everyone; only the id differs per socket.
        self._put(f"{self._next_prefix(sub_id)}{payload}}}")

    async def send_next_waiting(self, sub_id: str, payload: str) -> None:
        frame = f"{self._next_prefix(sub_id)}{payload}}}"
        if self._closing is not None:
            return
        try:
            await asyncio.wait_for(self._queue.put(frame), REPLAY_WAIT_SECONDS)
        except TimeoutError:
            self.close_soon(SLOW_CONSUMER, TOO_FAR_BEHIND)

    def _next_prefix(self, sub_id: str) -> str:
        """A `next` message up to its payload (serialised once per subscription)."""
        prefix = self._prefixes.get(sub_id)
        if prefix is None:
            prefix = f'{{"id":{json.dumps(sub_id)},"type":"next","payload":'
            self._prefixes[sub_id] = prefix
        return prefix

    def send_error(self, sub_id: str, errors: list[dict[str, Any]]) -> None:
        self._put(_frame({"id": sub_id, "type": "error", "payload": errors}))

    def send_complete(self, sub_id: str) -> None:
        self._put(_frame({"id": sub_id, "type": "complete"}))

    def close_soon(self, code: int, reason: str) -> None:
        if self._closing is None:
            if code == SLOW_CONSUMER:
                FEED_SLOW_CLOSED.inc()
            self._closing = (code, reason)
            self._closed.set()
            # Wake the writer even if the queue is full.
            with contextlib.suppress(asyncio.QueueFull):
                self._queue.put_nowait(None)

    def _put(self, frame: str) -> None:
        if self._closing is not None:
            return
        try:
            self._queue.put_nowait(frame)
        except asyncio.QueueFull:
            # Never wait for a slow reader: the others' events must not queue behind it.
            self.close_soon(SLOW_CONSUMER, TOO_FAR_BEHIND)

    # -- the socket's side --------------------------------------------------------------------

    async def run(self) -> None:
        writer = asyncio.create_task(self._write(), name="renraku-ws-writer")
        reader = asyncio.create_task(self._read(), name="renraku-ws-reader")
        timer = asyncio.create_task(self._init_timeout(), name="renraku-ws-init")
        try:
            await self._closed.wait()
        finally:
            for task in (reader, timer):
                task.cancel()
            for task in (reader, timer):
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            self.hub.remove_socket(self, [s for s in self.subscriptions.values() if s])
            self.subscriptions.clear()
            for watch in self._watches.values():
                watch.cancel()
            with contextlib.suppress(asyncio.QueueFull):
                self._queue.put_nowait(None)
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(writer, timeout=5)
            if self.websocket.application_state != WebSocketState.DISCONNECTED:
                code, reason = self._closing or (1000, "")
                with contextlib.suppress(Exception):
                    await self.websocket.close(code, reason)

    async def _write(self) -> None:
        while True:
            frame = await self._queue.get()
            if frame is None:
                if self._closing is not None:
                    return
                continue
            try:
                await self.websocket.send_text(frame)
            except (WebSocketDisconnect, RuntimeError, OSError):
                self.close_soon(1000, "")
                return

    async def _init_timeout(self) -> None:
        await asyncio.sleep(self.runtime.settings.ws_init_timeout_seconds)
        if not self.init_received:
            self.close_soon(4408, "Connection initialisation timeout")

    async def _read(self) -> None:
        try:
            while self._closing is None:
                message = await self.websocket.receive()
                if message["type"] == "websocket.disconnect":
                    self.close_soon(1000, "")
                    return
                text = message.get("text")
                if text is None:
                    raise ProtocolError(4400, "Binary frames are not part of the protocol")
                await self._handle(text)
        except ProtocolError as error:
            self.close_soon(error.code, error.reason)
        except WebSocketDisconnect:
            self.close_soon(1000, "")

    async def _handle(self, text: str) -> None:
        if len(text) > MAX_MESSAGE_CHARS:
            raise ProtocolError(4400, "Message too large")
        try:
            message = json.loads(text)
        except (ValueError, RecursionError):
            raise ProtocolError(4400, "Invalid message received") from None
        if not isinstance(message, dict) or not isinstance(message.get("type"), str):
            raise ProtocolError(4400, "Invalid message received")
        kind = message["type"]
        if kind == "connection_init":
            await self._on_init(message)
        elif kind == "ping":
            reply: dict[str, Any] = {"type": "pong"}
            if isinstance(message.get("payload"), dict):
                reply["payload"] = message["payload"]
            self._put(_frame(reply))
        elif kind == "pong":
            return
        elif kind == "subscribe":
            await self._on_subscribe(message)
        elif kind == "complete":
            sub_id = message.get("id")
            if not isinstance(sub_id, str):
                raise ProtocolError(4400, "Invalid message received")
            self._stop(sub_id)
        else:
            raise ProtocolError(4400, f"Unknown message type {kind[:40]!r}")

    async def _on_init(self, message: dict[str, Any]) -> None:
        if self.init_received:
            raise ProtocolError(4429, "Too many initialisation requests")
        self.init_received = True
        payload = message.get("payload")
        if payload is not None and not isinstance(payload, dict):
            raise ProtocolError(4400, "Invalid message received")
        token = None
        authorization = (payload or {}).get("authorization")
        if isinstance(authorization, str) and authorization.startswith("Bearer "):
            token = authorization.removeprefix("Bearer ").strip() or None
        try:
            actor = await resolve_actor(self.websocket, token=token)
        except Forbidden:
            actor = None  # a cookie from another origin
        if actor is None:
            raise ProtocolError(4403, "Forbidden")
        self.actor = actor
        self.acknowledged = True
        self.hub.add_socket(self)
        self._put(_frame({"type": "connection_ack"}))

    def _stop(self, sub_id: str) -> None:
        sub = self.subscriptions.pop(sub_id, None)
        self._prefixes.pop(sub_id, None)
        if sub is not None:
            self.hub.remove(sub)
        watch = self._watches.pop(sub_id, None)
        if watch is not None:
            watch.cancel()

    def end_subscription(self, sub_id: str) -> None:
        self.subscriptions.pop(sub_id, None)
        self._prefixes.pop(sub_id, None)
        self._watches.pop(sub_id, None)

    async def _watch_incident(
        self,
        sub_id: str,
        document: DocumentNode,
        operation: OperationDefinitionNode,
        variables: dict[str, Any],
        incident_id: int,
    ) -> None:
        ready = asyncio.Event()
        task = asyncio.create_task(
            incident_watch.watch(
                self,
                sub_id,
                incident_id=incident_id,
                document=document,
                operation_name=operation.name.value if operation.name else None,
                variables=variables,
                ready=ready,
            ),
            name="renraku-incident-watch",
        )
        self._watches[sub_id] = task
        task.add_done_callback(lambda _t: self._watches.pop(sub_id, None))
        # Answer the next message only once the watch listens and has decided.
        await ready.wait()

    async def _on_subscribe(self, message: dict[str, Any]) -> None:
        if not self.acknowledged:
            raise ProtocolError(4401, "Unauthorized")
        sub_id = message.get("id")
        payload = message.get("payload")
        if (
            not isinstance(sub_id, str)
            or not sub_id
            or len(sub_id) > MAX_ID_CHARS
            or not isinstance(payload, dict)
            or not isinstance(payload.get("query"), str)
        ):
            raise ProtocolError(4400, "Invalid message received")
        if sub_id in self.subscriptions:
            raise ProtocolError(4409, f"Subscriber for {sub_id} already exists")
        variables = payload.get("variables") or {}
        operation_name = payload.get("operationName")
        if not isinstance(variables, dict) or not isinstance(operation_name, str | None):
            raise ProtocolError(4400, "Invalid message received")
        if len(self.subscriptions) >= self.runtime.settings.ws_max_subscriptions:
            self.send_error(sub_id, _errors(BadInput("Too many subscriptions on one socket.")))
            return
        # Held while it runs, so that a second subscribe with the same id is refused.
        self.subscriptions[sub_id] = None
        try:
            document, operation = checked(self.schema, payload["query"], operation_name)
        except GraphQLError as error:
            self.subscriptions.pop(sub_id, None)
            self.send_error(sub_id, _errors(error))
            return
        if operation.operation is OperationType.SUBSCRIPTION:
            await self._subscribe(sub_id, document, operation, payload["query"], variables)
        else:
            await self._execute_once(sub_id, payload["query"], variables, operation_name)

    async def _execute_once(
        self, sub_id: str, query: str, variables: dict[str, Any], operation_name: str | None
    ) -> None:
        result = await self.schema.execute(
            query,
            variable_values=variables,
            context_value=self.context(),
            operation_name=operation_name,
        )
        if sub_id not in self.subscriptions:
            return  # completed by the client meanwhile
        self.subscriptions.pop(sub_id, None)
        body: dict[str, Any] = {"data": result.data}
        if result.errors:
            body["errors"] = [e.formatted for e in result.errors]
        self._put(_frame({"id": sub_id, "type": "next", "payload": body}))
        self.send_complete(sub_id)

    async def _subscribe(
        self,
        sub_id: str,
        document: DocumentNode,
        operation: OperationDefinitionNode,
        query: str,
        variables: dict[str, Any],
    ) -> None:
        try:
            field, args = root_field(self.schema, operation, variables)
            if field == INCIDENT_UPDATES:
                incident_id = decode_id("Incident", str(args.get("incidentId", "")))
                await self._watch_incident(sub_id, document, operation, variables, incident_id)
                return
            patient_id = None
            if field == PATIENT_EVENTS:
                patient_id = decode_id("Patient", str(args.get("patientId", "")))
                gate = self.context().gate
                try:
                    await timeline_scope(gate, patient_id)
                except RenrakuError:
                    # Refusals are audited like reads; the hub audits only what it delivers.
                    await gate.flush(self.runtime.read_auditor, operation=PATIENT_EVENTS)
                    raise
            after = decode_event_cursor(args.get("after"))
        except (GraphQLError, RenrakuError) as error:
            self.subscriptions.pop(sub_id, None)
            self.send_error(sub_id, _errors(error))
            return
        sub = LiveSubscription(
            socket=self,
            sub_id=sub_id,
            field_name=field,
            patient_id=patient_id,
            document=document,
            operation_name=operation.name.value if operation.name else None,
            variables=variables,
            key=selection_key(operation, query, variables),
        )
        if sub_id not in self.subscriptions:
            return  # completed by the client meanwhile
        self.subscriptions[sub_id] = sub
        await self.hub.add(sub, after=after)


def build_endpoint(hub: FeedHub, schema: RenrakuSchema) -> Any:
    async def endpoint(websocket: WebSocket) -> None:
        runtime: Runtime = websocket.app.state.runtime
        if PROTOCOL not in websocket.scope.get("subprotocols", []):
            await websocket.close(4406, "Subprotocol not acceptable")
            return
        await websocket.accept(subprotocol=PROTOCOL)
        await Connection(websocket, runtime, hub, schema).run()

    return endpoint
