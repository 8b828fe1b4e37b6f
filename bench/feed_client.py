"""The subscribers of bench/feed.py, in a process of their own.

Each subscriber is one WebSocket speaking graphql-transport-ws (connection_init with a bearer
token, one `patientEvents` subscription, id "1"), to our server or to the baseline, which speak
the same framing. Every `next` frame is counted; in latency mode it is also parsed, and the time
from the event's `at` (as stored, same machine clock) to its arrival is kept, with the event's
cursor and its arrival time (bench/feed.py times ours from the commit with these), and each
subscriber's frames of the first SAMPLE_FRAMES events of its team (the baseline is sent those).
A socket closed with 1013 (too slow) resubscribes from the last cursor it saw, as the PWA does.
A `tagged` subscriber (the baseline's) names in connection_init the groups the baseline sends to:
its audience (patient and the audience of its role) and itself.

Driven by bench/feed.py over stdin/stdout, one JSON object a line: a command in, its answer out.
    {"cmd": "connect"}                       open every socket and subscribe (live only)
    {"cmd": "reset", "latency": true}        zero the counters; parse frames (or only count)
    {"cmd": "stats"}                         counts, latencies, arrivals, sample frames
                                             ({team: [[cursor, {viewer: frame}], ...]})
    {"cmd": "count"}                         frames received so far, and the last one's time
    {"cmd": "cursor", "sub": 0}              the last cursor subscriber 0 saw
    {"cmd": "replay", "sub": 0, "after": c, "expect": 1000}
                                             a new socket for subscriber 0 from cursor c, timed
                                             until `expect` events have arrived
    {"cmd": "quit"}

    python bench/feed_client.py CONFIG.json
        (url, query, compression, subs: [{token, patient, team, viewer, audience, tagged}])
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

PROTOCOL = "graphql-transport-ws"
SUBSCRIPTION_ID = "1"
TRY_AGAIN_LATER = 1013
# Both servers write frames compactly (no spaces), so this finds a `next` without parsing it.
NEXT = '"type":"next"'
# Events whose frames are kept per team (for the baseline to send the same bytes to the same
# subscribers), and connections opened at once.
SAMPLE_FRAMES = 40
OPENING_AT_ONCE = 50


@dataclass
class Sub:
    index: int
    token: str
    patient: str
    team: int
    viewer: int  # its number over all teams
    audience: str
    tagged: bool = False
    cursor: str | None = None
    resumed: int = 0
    ready: asyncio.Event = field(default_factory=asyncio.Event)


@dataclass
class Tally:
    latency_mode: bool = False
    received: int = 0
    first_arrival: float = 0.0
    last_arrival: float = 0.0
    latencies: list[float] = field(default_factory=list)
    arrivals: list[tuple[str, float]] = field(default_factory=list)
    # team -> event cursor -> viewer -> frame, for the team's first SAMPLE_FRAMES events.
    frames: dict[int, dict[str, dict[int, str]]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


class Client:
    def __init__(self, config: dict[str, Any]) -> None:
        self.url: str = config["url"]
        self.query: str = config["query"]
        self.compression: str | None = config.get("compression")
        self.subs = [
            Sub(i, s["token"], s["patient"], s["team"], s["viewer"], s["audience"], s["tagged"])
            for i, s in enumerate(config["subs"])
        ]
        self.tally = Tally()
        self.tasks: list[asyncio.Task[None]] = []
        # In counting mode a subscriber's cursor is read from its last frame only when needed.
        self.last_frame: dict[int, str] = {}

    async def open(self, sub: Sub, after: str | None) -> ClientConnection:
        ws = await connect(
            self.url,
            subprotocols=[PROTOCOL],  # type: ignore[list-item] - a plain str is the subprotocol
            compression=self.compression,
            proxy=None,
            max_size=2**22,
            open_timeout=60,
        )
        payload: dict[str, Any] = {"authorization": f"Bearer {sub.token}"}
        if sub.tagged:
            payload["groups"] = [f"{sub.patient}/{sub.audience}", f"#{sub.viewer}"]
        init = {"type": "connection_init", "payload": payload}
        await ws.send(json.dumps(init))
        ack = json.loads(await ws.recv())
        if ack.get("type") != "connection_ack":
            raise RuntimeError(f"no connection_ack: {ack}")
        variables = {"p": sub.patient, "after": after}
        subscribe = {
            "id": SUBSCRIPTION_ID,
            "type": "subscribe",
            "payload": {"query": self.query, "variables": variables},
        }
        await ws.send(json.dumps(subscribe))
        return ws

    async def other(self, ws: ClientConnection, sub: Sub, raw: str) -> None:
        """Anything but `next`: a protocol ping is answered, the rest is a problem to report."""
        if json.loads(raw).get("type") == "ping":
            await ws.send(json.dumps({"type": "pong"}))
            return
        self.tally.problems.append(f"sub {sub.index}: {raw[:300]}")

    def arrived(self, sub: Sub, raw: str, now: float) -> None:
        tally = self.tally
        tally.received += 1
        if not tally.first_arrival:
            tally.first_arrival = now
        tally.last_arrival = now
        if not tally.latency_mode:
            sub.cursor = None
            self.last_frame[sub.index] = raw
            return
        event = json.loads(raw)["payload"]["data"]["patientEvents"]
        sub.cursor = event["cursor"]
        at = datetime.fromisoformat(event["at"]).timestamp()
        tally.latencies.append((now - at) * 1000)
        tally.arrivals.append((event["cursor"], now))
        # Whichever of the team's subscribers hears an event first keeps it, if there is room;
        # all of them keep their frame of it (the family member's only if shared with them).
        kept = tally.frames.setdefault(sub.team, {})
        frames = kept.get(event["cursor"])
        if frames is None and len(kept) < SAMPLE_FRAMES:
            frames = kept[event["cursor"]] = {}
        if frames is not None:
            frames[sub.viewer] = raw

    def cursor_of(self, sub: Sub) -> str | None:
        if sub.cursor is None and sub.index in self.last_frame:
            frame = json.loads(self.last_frame[sub.index])
            sub.cursor = frame["payload"]["data"]["patientEvents"]["cursor"]
        return sub.cursor

    async def listen(self, sub: Sub, gate: asyncio.Semaphore) -> None:
        after: str | None = None
        while True:
            try:
                async with gate:
                    ws = await self.open(sub, after)
                sub.ready.set()
                async for raw in ws:
                    text = raw if isinstance(raw, str) else raw.decode()
                    if NEXT in text:
                        self.arrived(sub, text, time.time())
                    else:
                        await self.other(ws, sub, text)
                self.tally.problems.append(f"sub {sub.index}: closed {ws.close_code}")
                return
            except ConnectionClosed as closed:
                code = closed.rcvd.code if closed.rcvd else None
                if code != TRY_AGAIN_LATER:
                    self.tally.problems.append(f"sub {sub.index}: closed {code}")
                    sub.ready.set()
                    return
                sub.resumed += 1
                after = self.cursor_of(sub)
            except (OSError, RuntimeError, TimeoutError) as error:
                self.tally.problems.append(f"sub {sub.index}: {type(error).__name__} {error}")
                sub.ready.set()
                return

    async def connect_all(self) -> dict[str, Any]:
        began = time.perf_counter()
        gate = asyncio.Semaphore(OPENING_AT_ONCE)
        self.tasks = [asyncio.create_task(self.listen(sub, gate)) for sub in self.subs]
        await asyncio.gather(*(sub.ready.wait() for sub in self.subs))
        return {"seconds": time.perf_counter() - began, "problems": self.tally.problems[:10]}

    def stats(self) -> dict[str, Any]:
        t = self.tally
        return {
            "received": t.received,
            "first_arrival": t.first_arrival,
            "last_arrival": t.last_arrival,
            "latencies": t.latencies,
            "arrivals": t.arrivals,
            "frames": {
                str(team): [[cursor, frames] for cursor, frames in kept.items()]
                for team, kept in t.frames.items()
            },
            "resumed": sum(s.resumed for s in self.subs),
            "problems": t.problems[:20],
            "problem_count": len(t.problems),
        }

    async def replay(self, index: int, after: str, expect: int) -> dict[str, Any]:
        """A fresh socket for subscriber `index`, subscribed from `after`, until `expect` events."""
        sub = self.subs[index]
        began = time.perf_counter()
        ws = await self.open(sub, after)
        subscribed = time.perf_counter()
        posts: list[str] = []
        async with ws:
            while len(posts) < expect:
                message = json.loads(await asyncio.wait_for(ws.recv(), timeout=30))
                if message.get("type") == "ping":
                    await ws.send(json.dumps({"type": "pong"}))
                    continue
                if message.get("type") != "next":
                    return {"error": json.dumps(message)[:300], "received": len(posts)}
                posts.append(message["payload"]["data"]["patientEvents"]["post"]["id"])
            done = time.perf_counter()
        return {
            "from_subscribe": done - subscribed,
            "from_connect": done - began,
            "posts": posts,
        }


async def main(config: dict[str, Any]) -> None:
    client = Client(config)
    loop = asyncio.get_running_loop()
    while True:
        line = await loop.run_in_executor(None, sys.stdin.readline)
        if not line:
            return
        command = json.loads(line)
        answer: dict[str, Any]
        match command["cmd"]:
            case "connect":
                answer = await client.connect_all()
            case "reset":
                client.tally = Tally(latency_mode=bool(command.get("latency")))
                answer = {"ok": True}
            case "stats":
                answer = client.stats()
            case "count":
                tally = client.tally
                answer = {"received": tally.received, "last_arrival": tally.last_arrival}
            case "cursor":
                answer = {"cursor": client.cursor_of(client.subs[command["sub"]])}
            case "replay":
                answer = await client.replay(command["sub"], command["after"], command["expect"])
            case "quit":
                for task in client.tasks:
                    task.cancel()
                await asyncio.gather(*client.tasks, return_exceptions=True)
                print(json.dumps({"ok": True}), flush=True)
                return
            case other:
                answer = {"error": f"unknown command {other}"}
        print(json.dumps(answer), flush=True)


if __name__ == "__main__":
    asyncio.run(main(json.loads(Path(sys.argv[1]).read_text(encoding="utf-8"))))
