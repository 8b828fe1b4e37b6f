"""The hub's work that runs by itself: listening on a broker channel (resubscribing after a
broker restart) and periodic chores; a failure is logged and the work goes on."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from renraku.broker import Broker, SubscriptionEnded

log = logging.getLogger("renraku.realtime")

RESUBSCRIBE_SECONDS = 1.0


def spawn(work: Awaitable[None], name: str) -> asyncio.Task[None]:
    async def run() -> None:
        await work

    return asyncio.create_task(run(), name=f"renraku-hub-{name}")


async def listen(
    broker: Broker,
    channel: str,
    handle: Callable[[dict[str, Any]], Awaitable[None]],
    subscribed: Callable[[], Awaitable[None]] | None = None,
) -> None:
    """Hand every message on `channel` to `handle`, for ever; `subscribed` runs each time the
    subscription is (re)made, before its first message."""
    while True:
        try:
            async with broker.subscribe(channel) as subscription:
                if subscribed is not None:
                    await subscribed()
                async for message in subscription:
                    await handle(message)
        except SubscriptionEnded as reason:
            log.info("hub resubscribes to %s: %s", channel, type(reason).__name__)
        except (OSError, TimeoutError, ConnectionError) as exc:
            log.warning("hub cannot listen on %s: %s", channel, type(exc).__name__)
        except Exception:
            log.exception("hub listener on %s failed", channel)
        await asyncio.sleep(RESUBSCRIBE_SECONDS)


async def every(seconds: float, work: Callable[[], Awaitable[None]]) -> None:
    while True:
        await asyncio.sleep(seconds)
        try:
            await work()
        except Exception:
            log.exception("hub periodic work failed")
