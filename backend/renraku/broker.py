"""Publish/subscribe between the parts of one server and, through Redis, between its workers.

A message is a JSON object published on a named channel. `MemoryBroker` delivers inside one
process (the embedded default); `RedisBroker` sends through Redis pub/sub (BROKER_URL), so every
worker's subscribers receive what any worker publishes. Both hand each local subscriber its own
bounded queue and run the same JSON round trip, so code tested on one behaves the same on the other.

Pub/sub is a signal, not storage: a message sent while nobody listens, or while the connection
to Redis is down, is gone. Events that must not be lost are written to the database first and
replayed from there by cursor; when the Redis connection drops (even if it comes back), every
subscription ends with `SubscriptionLost`, so its owner resubscribes and replays.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from typing import Any, Protocol

from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.exceptions import RedisError

log = logging.getLogger("renraku.realtime")

Message = dict[str, Any]

# Enough for a burst; a subscriber further behind than this is told so and must catch up itself.
QUEUE_LIMIT = 1000
# How long a new Redis subscription may take to be confirmed by the server.
SUBSCRIBE_TIMEOUT_SECONDS = 5.0
REDIS_PREFIX = "renraku:"


class SubscriptionEnded(Exception):
    """The subscription delivers nothing more; resubscribe and catch up from the database."""


class Overflow(SubscriptionEnded):
    """The subscriber fell more than its queue's length behind, so messages were dropped."""


class SubscriptionLost(SubscriptionEnded):
    """The broker closed or lost its connection; messages may have been missed."""


class Subscription:
    """One subscriber's queue on one channel."""

    def __init__(self, channel: str, limit: int) -> None:
        self.channel = channel
        self._queue: asyncio.Queue[Message] = asyncio.Queue(limit)
        self._ended: SubscriptionEnded | None = None
        self._wake = asyncio.Event()

    def deliver(self, message: Message) -> None:
        if self._ended is not None:
            return
        try:
            self._queue.put_nowait(message)
        except asyncio.QueueFull:
            self.end(Overflow(f"more than {self._queue.maxsize} messages behind"))
            return
        self._wake.set()

    def end(self, reason: SubscriptionEnded) -> None:
        if self._ended is None:
            self._ended = reason
            self._wake.set()

    async def get(self) -> Message:
        """The next message; raises SubscriptionEnded once the queue is drained and it ended."""
        while True:
            if not self._queue.empty():
                return self._queue.get_nowait()
            if self._ended is not None:
                raise self._ended
            self._wake.clear()
            await self._wake.wait()

    def __aiter__(self) -> AsyncIterator[Message]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Message]:
        while True:
            yield await self.get()


def _encode(message: Message) -> str:
    return json.dumps(message, ensure_ascii=False, separators=(",", ":"))


class CommitListener(Protocol):
    """A receiver in this process of the rows its transactions commit, handed them directly
    rather than through a message (the live feed's hub: feed/events.py says what the rows are)."""

    async def prepare(self, session: Any, rows: list[Any]) -> object: ...

    async def committed(self, rows: list[Any], prepared: object, at: float) -> None: ...


class Broker(ABC):
    """Local fan-out shared by both brokers; subclasses say how a message travels."""

    def __init__(self) -> None:
        self._subscribers: dict[str, set[Subscription]] = {}
        # Per broker, so per runtime: the process that owns this broker hands its own hub what
        # it commits (feed/events.py, `listen_here`); other processes hear of it by message.
        self.commit_listener: CommitListener | None = None

    @abstractmethod
    async def publish(self, channel: str, message: Message) -> None:
        """Send `message` to every current subscriber of `channel`, in this and other processes."""

    @abstractmethod
    async def _attach(self, channel: str) -> None:
        """Start receiving `channel` (called when its first local subscriber arrives)."""

    @abstractmethod
    async def _detach(self, channel: str) -> None:
        """Stop receiving `channel` (called when its last local subscriber leaves)."""

    @contextlib.asynccontextmanager
    async def subscribe(
        self, channel: str, *, limit: int = QUEUE_LIMIT
    ) -> AsyncIterator[Subscription]:
        """A subscription that receives every message published on `channel` once this returns."""
        subscription = Subscription(channel, limit)
        local = self._subscribers.setdefault(channel, set())
        first = not local
        local.add(subscription)
        try:
            if first:
                await self._attach(channel)
            yield subscription
        finally:
            local.discard(subscription)
            if not local and self._subscribers.get(channel) is local:
                del self._subscribers[channel]
                await self._detach(channel)

    def _deliver(self, channel: str, raw: str | bytes) -> None:
        subscribers = self._subscribers.get(channel)
        if not subscribers:
            return
        try:
            message = json.loads(raw)
        except (ValueError, RecursionError):  # RecursionError: hostile nesting
            message = None
        if not isinstance(message, dict):
            log.warning("broker dropped a message that is not a JSON object")
            return
        # One decoded copy is shared by every subscriber: they must treat it as read-only.
        for subscription in list(subscribers):
            subscription.deliver(message)

    def _end_all(self, reason: SubscriptionEnded) -> None:
        for subscribers in self._subscribers.values():
            for subscription in subscribers:
                subscription.end(reason)

    async def close(self) -> None:
        self._end_all(SubscriptionLost("the broker closed"))


class MemoryBroker(Broker):
    """Delivery inside this process only: the embedded default, for one worker."""

    async def publish(self, channel: str, message: Message) -> None:
        self._deliver(channel, _encode(message))

    async def _attach(self, channel: str) -> None:
        return None

    async def _detach(self, channel: str) -> None:
        return None


class RedisBroker(Broker):
    """Delivery through Redis pub/sub: one connection per process receives for all its subscribers.

    Redis channels are named with REDIS_PREFIX, so other users of the same Redis do not collide.
    """

    def __init__(self, redis: Redis, *, prefix: str = REDIS_PREFIX) -> None:
        super().__init__()
        self._redis = redis
        self._prefix = prefix
        self._pubsub: PubSub | None = None
        self._reader: asyncio.Task[None] | None = None
        self._confirmed: dict[str, asyncio.Event] = {}
        # Subscribe and unsubscribe commands go out one at a time, each confirmed before the next.
        self._lock = asyncio.Lock()

    async def publish(self, channel: str, message: Message) -> None:
        await self._redis.publish(self._prefix + channel, _encode(message))

    async def _attach(self, channel: str) -> None:
        async with self._lock:
            name = self._prefix + channel
            confirmed = self._confirmed[name] = asyncio.Event()
            try:
                pubsub = await self._subscribe_on_connection(name)
                if self._reader is None or self._reader.done():
                    self._reader = asyncio.create_task(self._read(pubsub), name="renraku-broker")
                # Until Redis confirms, a message published elsewhere could pass us by.
                async with asyncio.timeout(SUBSCRIBE_TIMEOUT_SECONDS):
                    await confirmed.wait()
            finally:
                self._confirmed.pop(name, None)

    async def _subscribe_on_connection(self, name: str) -> PubSub:
        """Send SUBSCRIBE on the process's pub/sub connection, opening it first if needed."""
        if self._pubsub is not None:
            await self._pubsub.subscribe(name)
            return self._pubsub
        pubsub = self._redis.pubsub()
        try:
            await pubsub.subscribe(name)
        except (RedisError, OSError):
            await self._close(pubsub)
            raise
        if pubsub.connection is not None:
            pubsub.connection.register_connect_callback(self._reconnected)
        self._pubsub = pubsub
        return pubsub

    async def _detach(self, channel: str) -> None:
        async with self._lock:
            if self._pubsub is not None:
                with contextlib.suppress(RedisError, OSError):
                    await self._pubsub.unsubscribe(self._prefix + channel)

    async def _reconnected(self, _connection: object) -> None:
        # redis-py resubscribes by itself, but what was published during the gap is gone.
        log.warning("broker reconnected; subscribers catch up")
        self._end_all(SubscriptionLost("the broker reconnected"))

    async def _read(self, pubsub: PubSub) -> None:
        try:
            while True:
                message = await pubsub.get_message(timeout=None)
                if message is None:
                    continue
                name = message["channel"]
                name = name.decode() if isinstance(name, bytes) else str(name)
                if message["type"] == "subscribe":
                    event = self._confirmed.pop(name, None)
                    if event is not None:
                        event.set()
                elif message["type"] == "message" and name.startswith(self._prefix):
                    self._deliver(name[len(self._prefix) :], message["data"])
        except (RedisError, OSError) as exc:
            log.warning("broker connection lost: %s", type(exc).__name__)
            self._end_all(SubscriptionLost("the broker lost its connection"))
            self._subscribers.clear()
            for waiting in self._confirmed.values():
                waiting.set()  # its subscription has just been ended
            self._confirmed.clear()
            self._pubsub = None
            await self._close(pubsub)

    async def _close(self, pubsub: PubSub) -> None:
        if pubsub.connection is not None:
            # The connection goes back to the pool for other commands: stop hearing of it.
            pubsub.connection.deregister_connect_callback(self._reconnected)
        with contextlib.suppress(RedisError, OSError):
            # redis-py leaves PubSub.aclose unannotated.
            await pubsub.aclose()  # type: ignore[no-untyped-call]

    async def close(self) -> None:
        await super().close()
        reader, self._reader = self._reader, None
        if reader is not None:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader
        pubsub, self._pubsub = self._pubsub, None
        if pubsub is not None:
            await self._close(pubsub)
