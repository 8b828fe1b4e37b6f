"""The baseline of bench/feed.py: a plain `websockets` broadcast, in a process of its own.

Subscribers connect to /graphql and speak just enough graphql-transport-ws (connection_init is
acknowledged, any token accepted, and joins the groups its payload names: bench/feed.py's
subscribers name their audience, patient and role, and themselves; a `subscribe` without them
joins the group of its patientId). The driver connects to /control and sends, for each post, the
frames our server sent for a post of that patient, each with the group it went to (an audience,
or one viewer when the selection has a viewer's own fields) and with the event's `at` replaced by
EVENT_AT (or a burst of such posts in one message). The baseline stamps the moment it takes the
post (its "commit") into the frames and broadcasts each frame's same bytes to everyone in its
group, then acknowledges. No database, no authorization, no GraphQL: only the sending.

    python bench/feed_baseline.py PORT
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections import defaultdict
from datetime import UTC, datetime

from websockets.asyncio.server import ServerConnection, broadcast, serve
from websockets.exceptions import ConnectionClosed

PROTOCOL = "graphql-transport-ws"
EVENT_AT = "@@EVENT_AT@@"

groups: dict[str, set[ServerConnection]] = defaultdict(set)


async def subscriber(ws: ServerConnection) -> None:
    joined: list[str] = []
    try:
        async for raw in ws:
            message = json.loads(raw)
            kind = message.get("type")
            if kind == "connection_init":
                for group in (message.get("payload") or {}).get("groups") or []:
                    groups[group].add(ws)
                    joined.append(group)
                await ws.send(json.dumps({"type": "connection_ack"}))
            elif kind == "subscribe" and not joined:
                patient = message["payload"]["variables"]["p"]
                groups[patient].add(ws)
                joined.append(patient)
            elif kind == "ping":
                await ws.send(json.dumps({"type": "pong"}))
    except ConnectionClosed:
        pass
    finally:
        for group in joined:
            groups[group].discard(ws)


async def control(ws: ServerConnection) -> None:
    async for raw in ws:
        post = json.loads(raw)
        # isoformat() of an aware UTC time, as our server writes `at`.
        now = datetime.now(UTC).isoformat()
        for group, frame in post["sends"]:
            broadcast(groups.get(group, ()), frame.replace(EVENT_AT, now))
        await ws.send(json.dumps({"n": post["n"]}))


async def handler(ws: ServerConnection) -> None:
    if ws.request is not None and ws.request.path == "/control":
        await control(ws)
    else:
        await subscriber(ws)


async def main(port: int) -> None:
    async with serve(
        handler,
        "127.0.0.1",
        port,
        subprotocols=[PROTOCOL],  # type: ignore[list-item] - a plain str is the subprotocol
        # The control socket's burst message carries every frame of 3,000 posts (one per
        # audience, or per subscriber for a per-viewer selection): several MB.
        max_size=2**25,
    ) as server:
        print("ready", flush=True)
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))
