"""The live feed under load, against a plain `websockets` broadcast, in the same run.

1,000 subscribers (5 on each of 200 care teams of a synthetic world: the team's coordinator,
three of its members and a family member added to the team for the run), in a separate client
process (bench/feed_client.py), each subscribed to its patient's `patientEvents` with the usual
selection, or with `--selection per-viewer` the usual one plus `post { patient { myRoles
unreadCount } }` (myRoles the same for everyone with the same roles, unreadCount each viewer's
own). Then, first on our server (`renraku serve`, SQLite under a temp dir, or PostgreSQL + Redis
with --pg) and then on the baseline (bench/feed_baseline.py: the same frames to the same
audiences, no database):

- steady: posts at 50/s for 60 s, round-robin over the teams, every other post of each team
  shared with the family (the family member hears only those); latency from the post's commit
  to its arrival at each subscriber, p50 and p99 (same machine clock; goal: ours within 3x the
  baseline's p99, 5x with --selection per-viewer). Ours: from the moment the
  transaction's COMMIT returned, which the server logs with the events' ids
  (RENRAKU_DEBUG_LOGGERS=renraku.feed.commits); also printed from the event's `at` as stored
  (stamped as the event is written, the last statement before the COMMIT: that adds the INSERT
  and the COMMIT itself, on PostgreSQL its fsync). The baseline: from the moment it takes the
  frame to send;
- saturation: a burst of 3,000 posts committed at once (ours: written by the service layer in
  one transaction, as createPost writes them, then one createPost that announces them; the
  baseline: the same frames handed over at once); deliveries per second from the commit to the
  last frame received (goal: ours at least 0.25 of the baseline's). This is the feed's own
  capacity: how fast it delivers when events arrive faster than it can send them;
- through the API: posts as fast as createPost takes them (16 at a time) for 15 s; posts and
  deliveries per second. Then the write baseline (bench/write_baseline.py: a bare Starlette
  endpoint in its own process, served by uvicorn, that takes the same JSON, looks up the same
  session row and writes the same rows, post, audit record with its hash and feed event, in one
  transaction with plain SQL) takes the same requests on the same database for as long (goal:
  our posts per second at least 0.2 of its);
- replay (ours only): a subscriber's (the coordinator of team 0) last cursor, 1,000 posts on its
  patient, then a new subscription from that cursor, timed until all 1,000 have arrived;
- the server process's RSS idle, with its subscribers, and after the run;
- executions per event (ours): the server's counters (GET /metrics, with a token the bench
  gives the server) read before and after the steady phase, the burst and the API phase:
  `renraku_feed_executions_total` by part (whole: the selection run for an audience; shared:
  the part an audience shares; viewer: a viewer's own part) and `renraku_feed_deliveries_total`,
  divided by the events of the phase (`renraku_feed_events_committed_total`; for the burst, whose
  events this process writes, their number). Printed beside what one execution per audience
  (coordinator, member, and family when shared with them) and one per subscriber come to: the
  usual selection runs whole once per audience, per-viewer its shared part once per audience and
  the viewer's part once per subscriber.

Our posts go through `createPost` over HTTP with the professionals' bearer tokens; the baseline is
sent the frames our server sent for the same teams (captured by the subscribers), each stamped
with the moment the baseline takes it: one frame per audience (a role on the patient) and post,
or with per-viewer fields each subscriber's own, and the family member's only for posts shared
with the family. Sessions are made with the accounts service, not by sign-in.

    .venv/bin/python bench/feed.py                 # 1,000 subscribers, 50/s for 60 s, SQLite
    .venv/bin/python bench/feed.py --pg            # PostgreSQL and Redis
    .venv/bin/python bench/feed.py --selection per-viewer   # with myRoles and unreadCount
    .venv/bin/python bench/feed.py --quick         # 100 subscribers, 20/s for 10 s
    .venv/bin/python bench/feed.py --baseline-only # the harness alone, on made-up frames
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection, connect

from _common import fresh_database, percentile
from feed_baseline import EVENT_AT, PROTOCOL
from feed_world import (
    ROLES,
    SELECTIONS,
    Clients,
    Process,
    Team,
    audience_of,
    baseline_server,
    build_teams,
    our_server,
    subscribers,
    write_baseline_server,
    write_burst,
)
from renraku.feed.events_graphql import decode_event_cursor
from renraku.ids import encode_id
from renraku.kinds import PostCategory, TeamRole
from renraku.seed import post_texts
from renraku.seed.synthetic import SyntheticSpec

# Ours within 3x the baseline's p99; 5x with a viewer's own fields (executed per viewer).
GOAL_P99 = {"usual": 3.0, "per-viewer": 5.0}
# Ours at least a quarter of the baseline's deliveries per second, for the usual selection (the
# per-viewer selection's goal is its p99 alone: each delivery runs the viewer's own part).
GOAL_THROUGHPUT: dict[str, float | None] = {"usual": 0.25, "per-viewer": None}
GOAL_REPLAY_SECONDS = 0.3
# createPost through our API at least a fifth of the posts per second of a bare Starlette
# endpoint writing the same rows with plain SQL (bench/write_baseline.py).
GOAL_WRITES = 0.2
IDLE_SECONDS = 10
# Warm-up rounds (one post per team each) before giving up on a subscriber that hears none.
WARM_UP_ROUNDS = 5
CATEGORIES = [
    PostCategory.VISIT_REPORT, PostCategory.MEALS, PostCategory.MOOD, PostCategory.MEDICATION,
    PostCategory.EXCRETION, PostCategory.SLEEP, PostCategory.OTHER,
]  # fmt: skip
CREATE = """
mutation($input: CreatePostInput!) { createPost(input: $input) { id } }"""
# The server's counters read before and after each phase (GET /metrics).
COUNTERS = {
    "whole": 'renraku_feed_executions_total{part="whole"}',
    "shared": 'renraku_feed_executions_total{part="shared"}',
    "viewer": 'renraku_feed_executions_total{part="viewer"}',
    "events": "renraku_feed_events_committed_total",
    "deliveries": "renraku_feed_deliveries_total",
}
PARTS = ("whole", "shared", "viewer")
# What the baseline sends for one post: (group, frame) pairs, a group being an audience (patient
# and role) or one viewer (bench/feed_baseline.py).
Sends = list[list[str]]
# Per patient: the sends of posts shared with the family (True) and of the others (False).
Templates = dict[str, dict[bool, list[Sends]]]


def for_family(k: int, teams: int) -> bool:
    """Whether the k-th post of a phase, round-robin over `teams`, is shared with the family:
    every other post of each team, its first one included."""
    return (k // teams) % 2 == 0


class PostFailed(Exception):
    pass


class OurPoster:
    """Posts through createPost over HTTP, as a team member's phone would."""

    def __init__(self, port: int) -> None:
        self.http = httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}",
            trust_env=False,
            timeout=60,
            limits=httpx.Limits(max_connections=64, max_keepalive_connections=64),
        )
        self.run = uuid.uuid4().hex[:8]

    async def post(self, team: Team, n: int, *, family: bool) -> str:
        member = team.authors[n % len(team.authors)]
        category = CATEGORIES[n % len(CATEGORIES)]
        draft = {
            "patientId": team.gid,
            "clientId": f"bench-{self.run}-{n}",
            "category": category.name,
            "body": post_texts.body(category, (n, n // 7, n // 49)),
            "visibleToFamily": family,
        }
        response = await self.http.post(
            "/graphql",
            json={"query": CREATE, "variables": {"input": draft}},
            headers={"Authorization": f"Bearer {member.token}"},
        )
        body = response.json()
        if response.status_code != 200 or body.get("errors"):
            codes = [e.get("extensions", {}).get("code") for e in body.get("errors") or []]
            raise PostFailed(f"HTTP {response.status_code} {codes}")
        post_id: str = body["data"]["createPost"]["id"]
        return post_id

    async def close(self) -> None:
        await self.http.aclose()


class BaselinePoster:
    """Hands the baseline each post's frames over its control socket; returns when they were
    sent."""

    def __init__(self, ws: ClientConnection, frames: Templates) -> None:
        self.ws = ws
        self.frames = frames
        self.waiting: dict[int, asyncio.Future[None]] = {}
        self.reader = asyncio.create_task(self._read())

    @classmethod
    async def open(cls, port: int, frames: Templates) -> BaselinePoster:
        ws = await connect(
            f"ws://127.0.0.1:{port}/control",
            subprotocols=[PROTOCOL],  # type: ignore[list-item] - a plain str is the subprotocol
            proxy=None,
            compression=None,
        )
        return cls(ws, frames)

    async def _read(self) -> None:
        async for raw in self.ws:
            future = self.waiting.pop(json.loads(raw)["n"], None)
            if future is not None and not future.done():
                future.set_result(None)

    async def post(self, team: Team, n: int, *, family: bool) -> str:
        templates = self.frames[team.gid][family]
        future = asyncio.get_running_loop().create_future()
        self.waiting[n] = future
        sends = templates[n % len(templates)]
        await self.ws.send(json.dumps({"n": n, "sends": sends}))
        await future
        return str(n)

    async def burst(self, teams: list[Team], count: int, n: int) -> float:
        """Hands the baseline the frames of `count` posts at once; when they were handed over."""
        items = []
        for k in range(count):
            team = teams[k % len(teams)]
            templates = self.frames[team.gid][for_family(k, len(teams))]
            items.extend(templates[k % len(templates)])
        future = asyncio.get_running_loop().create_future()
        self.waiting[n] = future
        began = time.time()
        await self.ws.send(json.dumps({"n": n, "sends": items}))
        await future
        return began

    async def close(self) -> None:
        self.reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.reader
        await self.ws.close()


Poster = OurPoster | BaselinePoster


def sends_for(team: Team, t: int, frames: dict[int, str], *, selection: str) -> Sends:
    """What the baseline sends for one post of team number `t`, given each subscriber's frame
    (by viewer number): as ours does, one frame per audience (the subscribers whose roles the
    selection's rules answer alike), or with a viewer's own fields each subscriber's own."""
    sends: Sends = []
    audiences: set[str] = set()
    for k, member in enumerate(team.members):
        viewer = t * len(team.members) + k
        if viewer not in frames:
            continue
        if selection == "per-viewer":
            sends.append([f"#{viewer}", frames[viewer]])
            continue
        audience = audience_of(member.role, selection)
        if audience not in audiences:
            audiences.add(audience)
            sends.append([f"{team.gid}/{audience}", frames[viewer]])
    return sends


def templates_from(frames: dict[str, list[Any]], teams: list[Team], *, selection: str) -> Templates:
    """Our frames, by team and whether the family member heard the post, with the event's `at`
    replaced by the baseline's placeholder; posts not heard by all their subscribers are left
    out."""
    templates: Templates = {}
    for key, events in frames.items():
        t = int(key)
        team = teams[t]
        for _cursor, by_viewer in events:
            got: dict[int, str] = {}
            for viewer, raw in by_viewer.items():
                at = json.loads(raw)["payload"]["data"]["patientEvents"]["at"]
                got[int(viewer)] = raw.replace(json.dumps(at), f'"{EVENT_AT}"')
            base = t * len(team.members)
            family = any(
                base + k in got for k, m in enumerate(team.members) if m.role is TeamRole.FAMILY
            )
            if len(got) != team.receivers(family=family):
                continue
            sends = sends_for(team, t, got, selection=selection)
            templates.setdefault(team.gid, {True: [], False: []})[family].append(sends)
    return templates


def made_up_frames(teams: list[Team], *, selection: str) -> Templates:
    """Frames shaped like ours, for --baseline-only (no server of ours to capture them from)."""
    templates: Templates = {}
    for t, team in enumerate(teams):
        kinds: dict[bool, list[Sends]] = {True: [], False: []}
        for k in range(6):
            n = t * 6 + k
            family = k % 2 == 0
            category = CATEGORIES[n % len(CATEGORIES)]
            frames: dict[int, str] = {}
            for j, member in enumerate(team.members):
                if member.role is TeamRole.FAMILY and not family:
                    continue
                post: dict[str, Any] = {
                    "id": encode_id("Post", 1_000_000 + n),
                    "body": post_texts.body(category, (n, n // 7, n // 49)),
                    "category": category.name,
                    "urgent": False,
                    "createdAt": "2026-11-27T09:00:00+00:00",
                    "author": {"displayName": "佐藤 花子"},
                }
                if selection == "per-viewer":
                    post["patient"] = {"myRoles": [member.role.value], "unreadCount": n + j}
                event = {
                    "cursor": encode_id("FeedEvent", 1_000_000 + n),
                    "kind": "POST_CREATED",
                    "patientId": team.gid,
                    "at": EVENT_AT,
                    "post": post,
                }
                frame = {"id": "1", "type": "next", "payload": {"data": {"patientEvents": event}}}
                text = json.dumps(frame, ensure_ascii=False, separators=(",", ":"))
                frames[t * len(team.members) + j] = text
            kinds[family].append(sends_for(team, t, frames, selection=selection))
        templates[team.gid] = kinds
    return templates


@dataclass
class Outcome:
    name: str
    rss_mb: dict[str, float] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)
    # Ours: the same deliveries timed from the event's `at` (the baseline has one figure).
    from_at: list[float] = field(default_factory=list)
    steady: dict[str, Any] = field(default_factory=dict)
    saturation: dict[str, Any] = field(default_factory=dict)
    burst: dict[str, Any] = field(default_factory=dict)
    replay: dict[str, Any] = field(default_factory=dict)
    frames: dict[str, list[Any]] = field(default_factory=dict)
    idle_cores: float = 0.0
    # Ours: the server's feed counters over each phase (COUNTERS, their differences).
    counted: dict[str, dict[str, float]] = field(default_factory=dict)
    # Ours: the write baseline's API phase, on the same database after ours.
    bare: dict[str, Any] = field(default_factory=dict)


class Counter:
    def __init__(self) -> None:
        self.n = 0

    def next(self) -> int:
        self.n += 1
        return self.n


async def warm_up(poster: Poster, clients: Clients, teams: list[Team], numbers: Counter) -> None:
    """One post per team, until every subscriber has heard one: all subscriptions are live.

    A subscription is live once the server has handled its `subscribe`, which the protocol
    does not acknowledge, and a live-only subscription is sent what commits after that: posts
    made the moment the subscribers are connected can commit before some subscribe messages
    are handled. Such a round is followed by another, until one reaches every subscriber."""
    expected = sum(len(t.members) for t in teams)
    received = 0
    for _ in range(WARM_UP_ROUNDS):
        await clients.all({"cmd": "reset", "latency": False})
        await asyncio.gather(*(poster.post(team, numbers.next(), family=True) for team in teams))
        received, _ = await clients.drain(expected, give_up=60)
        if received >= expected:
            return
    raise SystemExit(f"warm-up: {received} of {expected} subscribers heard their post")


async def steady(
    poster: Poster, clients: Clients, teams: list[Team], numbers: Counter, args: argparse.Namespace
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Posts at args.rate for args.seconds; the subscribers' stats and the posting counts."""
    await clients.all({"cmd": "reset", "latency": True})
    loop = asyncio.get_running_loop()
    total = int(args.rate * args.seconds)
    began = loop.time()
    tasks = []
    receivers = []
    for i in range(total):
        await asyncio.sleep(max(0.0, began + i / args.rate - loop.time()))
        team, family = teams[i % len(teams)], for_family(i, len(teams))
        tasks.append(asyncio.create_task(poster.post(team, numbers.next(), family=family)))
        receivers.append(team.receivers(family=family))
    done = await asyncio.gather(*tasks, return_exceptions=True)
    failed = [d for d in done if isinstance(d, BaseException)]
    accepted = total - len(failed)
    expected = sum(r for r, d in zip(receivers, done, strict=True) if isinstance(d, str))
    # A server that cannot keep up delivers a backlog long after the last post: all of it is
    # counted here, so none of it spills into the next phase.
    await clients.drain(expected, give_up=600)
    answers = await clients.all({"cmd": "stats"})
    stats: dict[str, Any] = {
        "received": sum(a["received"] for a in answers),
        "latencies": [x for a in answers for x in a["latencies"]],
        "arrivals": [tuple(x) for a in answers for x in a["arrivals"]],
        "frames": {},
        "resumed": sum(a["resumed"] for a in answers),
        "problems": [p for a in answers for p in a["problems"]][:5],
    }
    for a in answers:
        stats["frames"].update(a["frames"])
    posting = {
        "posts": total,
        "for_family": sum(for_family(i, len(teams)) for i in range(total)),
        "accepted": accepted,
        "expected": expected,
        "failed": len(failed),
        "failures": sorted({f"{type(f).__name__} {f}" for f in failed})[:3],
    }
    return stats, posting


async def saturate(
    poster: Poster,
    clients: Clients,
    process: Process,
    teams: list[Team],
    numbers: Counter,
    args: argparse.Namespace,
) -> dict[str, Any]:
    """Posts as fast as the server takes them for args.saturation_seconds; deliveries per s."""
    await clients.all({"cmd": "reset", "latency": False})
    server_cpu, client_cpu = process.cpu_seconds(), clients.cpu_seconds()
    began = time.time()
    posted = await post_flat_out(poster, teams, numbers, args)
    received, last = await clients.drain(posted["expected"], give_up=600)
    elapsed = max(last - began, 1e-9)
    return posted | {
        "received": received,
        "seconds": elapsed,
        "per_second": received / elapsed,
        "server_cpu": process.cpu_seconds() - server_cpu,
        "client_cpu": clients.cpu_seconds() - client_cpu,
    }


async def post_flat_out(
    poster: Poster, teams: list[Team], numbers: Counter, args: argparse.Namespace
) -> dict[str, Any]:
    """createPost as fast as it is taken, args.concurrency at a time, for args.saturation_seconds,
    round-robin over the teams; the counts, and the seconds until the last post was answered."""
    accepted = failed = expected = for_family_count = 0
    began = time.time()
    stop = began + args.saturation_seconds

    async def worker(w: int) -> None:
        nonlocal accepted, failed, expected, for_family_count
        i = w
        while time.time() < stop:
            team, family = teams[i % len(teams)], for_family(i, len(teams))
            try:
                await poster.post(team, numbers.next(), family=family)
                accepted += 1
                expected += team.receivers(family=family)
                for_family_count += family
            except PostFailed:
                failed += 1
            i += args.concurrency

    await asyncio.gather(*(worker(w) for w in range(args.concurrency)))
    return {
        "posts": accepted,
        "for_family": for_family_count,
        "failed": failed,
        "expected": expected,
        "posting_seconds": max(time.time() - began, 1e-9),
    }


async def bare_writes(teams: list[Team], args: argparse.Namespace, db_url: str) -> dict[str, Any]:
    """The write baseline (bench/write_baseline.py) taking the same createPost requests, with the
    same tokens, as fast as it takes them for as long as our API phase."""
    async with write_baseline_server(db_url) as (process, port):
        poster = OurPoster(port)
        try:
            # Its connections opened and its code warmed, as ours are by the earlier phases.
            await asyncio.gather(
                *(poster.post(t, -1 - k, family=True) for k, t in enumerate(teams))
            )
            server_cpu = process.cpu_seconds()
            posted = await post_flat_out(poster, teams, Counter(), args)
            return posted | {"server_cpu": process.cpu_seconds() - server_cpu}
        finally:
            await poster.close()


async def burst(
    poster: Poster,
    clients: Clients,
    process: Process,
    teams: list[Team],
    numbers: Counter,
    args: argparse.Namespace,
    db_url: str | None,
) -> dict[str, Any]:
    """A burst of args.burst posts committed at once; deliveries per second to the last frame."""
    await clients.all({"cmd": "reset", "latency": False})
    server_cpu = process.cpu_seconds()
    count = len(teams)
    expected = sum(
        teams[k % count].receivers(family=for_family(k, count)) for k in range(args.burst)
    )
    if isinstance(poster, OurPoster):
        assert db_url is not None
        began = await write_burst(
            db_url, teams, args.burst, poster.run, lambda k: for_family(k, count)
        )
        # The announcement: the hub reads everything committed since its cursor.
        await poster.post(teams[0], numbers.next(), family=False)
        expected += teams[0].receivers(family=False)
    else:
        began = await poster.burst(teams, args.burst, numbers.next())
    received, last = await clients.drain(expected, give_up=600)
    elapsed = max(last - began, 1e-9)
    return {
        "posts": args.burst + 1 if isinstance(poster, OurPoster) else args.burst,
        "for_family": sum(for_family(k, count) for k in range(args.burst)),
        "received": received,
        "expected": expected,
        "seconds": elapsed,
        "per_second": received / elapsed,
        "server_cpu": process.cpu_seconds() - server_cpu,
    }


async def replay(
    poster: OurPoster, clients: Clients, team: Team, numbers: Counter, missed: int
) -> dict[str, Any]:
    """Subscriber 0's cursor, `missed` posts on its patient, then a new subscription from it."""
    cursor = (await clients.first({"cmd": "cursor", "sub": 0}))["cursor"]
    if cursor is None:
        raise SystemExit("replay: subscriber 0 has seen no event to resume from")
    await clients.all({"cmd": "reset", "latency": False})
    made = [await poster.post(team, numbers.next(), family=k % 2 == 0) for k in range(missed)]
    # Every one committed and delivered live to the team first.
    expected = sum(team.receivers(family=k % 2 == 0) for k in range(missed))
    await clients.drain(expected, give_up=600)
    answer = await clients.first({"cmd": "replay", "sub": 0, "after": cursor, "expect": missed})
    if "error" in answer:
        return {"error": answer["error"], "received": answer["received"]}
    return {
        "from_subscribe": answer["from_subscribe"],
        "from_connect": answer["from_connect"],
        "exact": answer["posts"] == made,
        "of_ours": len(set(answer["posts"]) & set(made)),
        "missed": missed,
    }


async def counters(process: Process, port: int) -> dict[str, float] | None:
    """The server's feed counters (COUNTERS) from GET /metrics; None for the baseline."""
    if process.metrics_token is None:
        return None
    async with httpx.AsyncClient(trust_env=False) as http:
        response = await http.get(
            f"http://127.0.0.1:{port}/metrics",
            headers={"Authorization": f"Bearer {process.metrics_token}"},
            timeout=30,
        )
    response.raise_for_status()
    values = {}
    for line in response.text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            values[name] = float(value)
    return {key: values.get(name, 0.0) for key, name in COUNTERS.items()}


@contextlib.asynccontextmanager
async def counted(
    outcome: Outcome, phase: str, process: Process, port: int, events: int | None = None
) -> AsyncIterator[None]:
    """The counters' differences over the phase, into outcome.counted[phase]. `events`: how many
    the phase's feed events are when the server did not commit them all itself (the burst)."""
    before = await counters(process, port)
    yield
    after = await counters(process, port)
    if before is None or after is None:
        return
    delta = {key: after[key] - before[key] for key in COUNTERS}
    if events is not None:
        delta["events"] = events
    outcome.counted[phase] = delta


def commit_times(server_log: Path) -> dict[int, float]:
    """Event id -> when its transaction committed, from the server's renraku.feed.commits lines."""
    times: dict[int, float] = {}
    for line in server_log.read_text(encoding="utf-8", errors="replace").splitlines():
        if '"renraku.feed.commits"' not in line:
            continue
        entry = json.loads(line)
        for event_id in range(entry["first"], entry["last"] + 1):
            times[event_id] = entry["committed_at"]
    return times


def from_commit(arrivals: list[tuple[str, float]], server_log: Path) -> list[float]:
    """Milliseconds from each delivered event's commit to its arrival."""
    times = commit_times(server_log)
    latencies = []
    for cursor, arrived in arrivals:
        committed = times.get(decode_event_cursor(cursor) or 0)
        if committed is None:
            raise SystemExit(f"no commit time logged for event {cursor}; server log: {server_log}")
        latencies.append((arrived - committed) * 1000)
    return latencies


async def measure(
    name: str,
    server: Callable[[], contextlib.AbstractAsyncContextManager[tuple[Process, int]]],
    poster_for: Callable[[int], Awaitable[Poster]],
    teams: list[Team],
    args: argparse.Namespace,
    workdir: Path,
    db_url: str | None = None,
    *,
    tagged: bool = False,
) -> Outcome:
    outcome = Outcome(name)
    numbers = Counter()
    async with server() as (process, port):
        outcome.rss_mb["idle"] = process.rss_mb()
        url = f"ws://127.0.0.1:{port}/graphql"
        async with subscribers(
            url,
            teams,
            selection=args.selection,
            processes=args.client_processes,
            workdir=workdir,
            compression="deflate" if args.compression else None,
            tagged=tagged,
        ) as clients:
            connected = await clients.all({"cmd": "connect"})
            problems = [p for c in connected for p in c["problems"]]
            if problems:
                raise SystemExit(f"{name}: subscribers could not connect: {problems[:3]}")
            poster = await poster_for(port)
            try:
                await warm_up(poster, clients, teams, numbers)
                outcome.rss_mb["subscribed"] = process.rss_mb()
                # What holding the sockets costs by itself (keep-alives, session checks).
                cpu = process.cpu_seconds()
                await asyncio.sleep(IDLE_SECONDS)
                outcome.idle_cores = (process.cpu_seconds() - cpu) / IDLE_SECONDS
                print(f"  {name}: steady {args.rate:g}/s for {args.seconds:g} s", flush=True)
                async with counted(outcome, "steady", process, port):
                    stats, outcome.steady = await steady(poster, clients, teams, numbers, args)
                outcome.latencies = stats["latencies"]
                if isinstance(poster, OurPoster):
                    outcome.from_at = outcome.latencies
                    outcome.latencies = from_commit(stats["arrivals"], process.log_path)
                outcome.frames = stats["frames"]
                outcome.steady.update(received=stats["received"], resumed=stats["resumed"])
                outcome.steady["problems"] = stats["problems"]
                print(f"  {name}: burst of {args.burst:,} posts", flush=True)
                # The burst's events are committed by this process, not counted by the server's.
                async with counted(outcome, "burst", process, port, events=args.burst + 1):
                    outcome.burst = await burst(
                        poster, clients, process, teams, numbers, args, db_url
                    )
                print(f"  {name}: createPost for {args.saturation_seconds:g} s", flush=True)
                async with counted(outcome, "api", process, port):
                    outcome.saturation = await saturate(
                        poster, clients, process, teams, numbers, args
                    )
                if isinstance(poster, OurPoster) and args.missed:
                    print(f"  {name}: replay of {args.missed:,} missed events", flush=True)
                    outcome.replay = await replay(poster, clients, teams[0], numbers, args.missed)
                outcome.rss_mb["after"] = process.rss_mb()
            finally:
                await poster.close()
    return outcome


@contextlib.asynccontextmanager
async def database(args: argparse.Namespace, workdir: Path) -> AsyncIterator[str]:
    if args.pg:
        async with fresh_database("postgresql", workdir) as url:
            yield url
        return
    async with fresh_database("sqlite", workdir) as url:
        yield url


def _of(received: int, expected: int) -> str:
    return f"{f'{received:,}/{expected:,}':>18}"


def _ratio(ours: float, base: float) -> str:
    return f"{ours / base:.3f}" if base else "-"


def report(
    ours: Outcome | None, base: Outcome, teams: list[Team], args: argparse.Namespace
) -> None:
    sides = [o for o in (ours, base) if o is not None]
    subs = sum(len(t.members) for t in teams)
    backend = "PostgreSQL + Redis" if args.pg else "SQLite"
    label = {TeamRole.COORDINATOR: "coordinator", TeamRole.FAMILY: "family member"}
    roles = ", ".join(
        f"{ROLES.count(r)} {label.get(r, r.value)}{'s' if ROLES.count(r) > 1 else ''}"
        for r in dict.fromkeys(ROLES)
    )
    goal_p99 = GOAL_P99[args.selection]
    print(
        f"\nfeed: {subs:,} subscribers ({len(teams[0].members)} on each of {len(teams)} teams: "
        f"{roles}) in {args.client_processes} client process(es); {backend}; steady "
        f"{args.rate:g} posts/s for {args.seconds:g} s, every other post of a team shared with "
        f"the family; selection: {args.selection}"
    )
    print(f"{'':<34}" + "".join(f"{o.name:>18}" for o in sides) + f"{'ratio':>10}   goal")
    for label, share in (("p50", 0.5), ("p99", 0.99)):
        values = [percentile(o.latencies, share) if o.latencies else float("nan") for o in sides]
        row = f"{'commit to arrival ' + label + ' (ms)':<34}" + "".join(
            f"{v:>18.1f}" for v in values
        )
        if ours is not None:
            ratio = values[0] / values[1] if values[1] else float("nan")
            row += f"{ratio:>10.2f}"
            if label == "p99":
                row += f"   <= {goal_p99:g}: {'met' if ratio <= goal_p99 else 'MISSED'}"
        print(row)
    if ours is not None and ours.from_at:
        values = [percentile(ours.from_at, share) for share in (0.5, 0.99)]
        print(f"{'  ours from the event at, p50/p99':<34}{values[0]:>11.1f} / {values[1]:.1f}")
    print(
        f"{'frames received / expected':<34}"
        + "".join(_of(o.steady["received"], o.steady["expected"]) for o in sides)
    )
    rate = [o.burst["per_second"] for o in sides]
    row = f"{'saturation, burst (deliveries/s)':<34}" + "".join(f"{r:>18,.0f}" for r in rate)
    goal_rate = GOAL_THROUGHPUT[args.selection]
    if ours is not None and goal_rate is not None:
        met = rate[0] / rate[1] >= goal_rate
        row += f"{_ratio(rate[0], rate[1]):>10}   >= {goal_rate:g}: {'met' if met else 'MISSED'}"
    elif ours is not None:
        row += f"{_ratio(rate[0], rate[1]):>10}   (no goal for this selection)"
    print(row)
    cpu = [o.burst["server_cpu"] / max(o.burst["received"], 1) * 1e6 for o in sides]
    print(f"{'  server CPU per delivery (us)':<34}" + "".join(f"{c:>18,.0f}" for c in cpu))
    print(
        f"{'  frames received / expected':<34}"
        + "".join(_of(o.burst["received"], o.burst["expected"]) for o in sides)
    )
    rate = [o.saturation["per_second"] for o in sides]
    print(f"{'through the API (deliveries/s)':<34}" + "".join(f"{r:>18,.0f}" for r in rate))
    posts = [o.saturation["posts"] / o.saturation["posting_seconds"] for o in sides]
    print(f"{'  posts taken per s':<34}" + "".join(f"{p:>18,.0f}" for p in posts))
    cpu = [o.saturation["server_cpu"] / max(o.saturation["posts"], 1) * 1e3 for o in sides]
    print(f"{'  server CPU per post (ms)':<34}" + "".join(f"{c:>18,.2f}" for c in cpu))
    if ours is not None and ours.bare:
        bare = ours.bare
        rate = [posts[0], bare["posts"] / bare["posting_seconds"]]
        met = rate[0] / rate[1] >= GOAL_WRITES
        print(
            f"{'  posts/s, ours / bare write':<34}"
            + "".join(f"{r:>18,.0f}" for r in rate)
            + f"{_ratio(rate[0], rate[1]):>10}   >= {GOAL_WRITES:g}: {'met' if met else 'MISSED'}"
        )
        cpu = bare["server_cpu"] / max(bare["posts"], 1) * 1e3
        print(f"{'  bare write CPU per post (ms)':<34}{'':>18}{cpu:>18,.2f}")
    busy = [o.saturation["client_cpu"] / o.saturation["seconds"] for o in sides]
    print(f"{'  subscriber processes busy (cores)':<34}" + "".join(f"{b:>18.2f}" for b in busy))
    print(
        f"{'  frames received / expected':<34}"
        + "".join(_of(o.saturation["received"], o.saturation["expected"]) for o in sides)
    )
    print(
        f"{'server busy, no posts (cores)':<34}" + "".join(f"{o.idle_cores:>18.2f}" for o in sides)
    )
    for stage in ("idle", "subscribed", "after"):
        print(
            f"{'server RSS ' + stage + ' (MB)':<34}"
            + "".join(f"{o.rss_mb.get(stage, float('nan')):>18.1f}" for o in sides)
        )
    for o in sides:
        steady_failed, saturation_failed = o.steady.get("failed"), o.saturation.get("failed")
        if steady_failed or saturation_failed or o.steady["resumed"] or o.steady["problems"]:
            print(
                f"{o.name}: posts refused: {steady_failed} steady {o.steady.get('failures')}, "
                f"{saturation_failed} saturated; resubscribed after 1013: {o.steady['resumed']}; "
                f"subscriber problems: {o.steady['problems']} (server log: bench/results/)"
            )
    if ours is not None and ours.counted:
        executions(ours, args)
    if ours is not None and ours.replay:
        r = ours.replay
        if "error" in r:
            print(f"replay: FAILED after {r['received']} events: {r['error']}")
        else:
            met = r["from_subscribe"] < GOAL_REPLAY_SECONDS and r["exact"]
            exact = "yes" if r["exact"] else f"NO ({r['of_ours']:,} of them)"
            print(
                f"replay of {r['missed']:,} missed events: {r['from_subscribe']:.3f} s from "
                f"subscribe ({r['from_connect']:.3f} s with connecting); exactly those, in order: "
                f"{exact}; "
                f"goal < {GOAL_REPLAY_SECONDS:g} s: "
                f"{'met' if met else 'MISSED'}"
            )


def executions(ours: Outcome, args: argparse.Namespace) -> None:
    """Per feed event of each phase, from the server's counters: selections executed by part
    (whole, an audience's shared part, a viewer's own part) and frames delivered; beside them
    what one execution per audience (per viewer for a viewer's own part) would come to."""
    print(
        f"\nexecutions per event (ours, /metrics){'events':>9}"
        + "".join(f"{part:>8}" for part in PARTS)
        + f"{'frames':>8}   expected: audiences / subscribers"
    )
    phases = (("steady", ours.steady), ("burst", ours.burst), ("api", ours.saturation))
    names = {"steady": "steady", "burst": "saturation, burst", "api": "through the API"}
    audiences = {family: len({audience_of(r, args.selection) for r in ROLES
                              if family or r is not TeamRole.FAMILY})
                 for family in (True, False)}  # fmt: skip
    receivers = {family: sum(1 for r in ROLES if family or r is not TeamRole.FAMILY)
                 for family in (True, False)}  # fmt: skip
    for phase, figures in phases:
        delta = ours.counted.get(phase)
        if delta is None:
            continue
        events = delta["events"]
        row = f"  {names[phase]:<35}{events:>9,.0f}"
        row += "".join(f"{delta[part] / events if events else 0:>8.2f}" for part in PARTS)
        row += f"{delta['deliveries'] / events if events else 0:>8.2f}"
        posts = figures.get("accepted", figures.get("posts", 0))
        shared = figures.get("for_family", 0)
        if posts:
            per_audience = (shared * audiences[True] + (posts - shared) * audiences[False]) / posts
            per_viewer = (shared * receivers[True] + (posts - shared) * receivers[False]) / posts
            row += f"   {per_audience:.2f} / {per_viewer:.2f}"
        print(row)
    if args.selection == "usual":
        print("  (usual selection: whole once per audience, nothing per viewer)")
    else:
        print(
            "  (per-viewer selection: its shared part once per audience, the viewer's own part "
            "once per subscriber; whole only where the two do not merge)"
        )


def options() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="100 subscribers, 20/s for 10 s")
    parser.add_argument("--teams", type=int, help="teams of 5 subscribers (200)")
    parser.add_argument("--rate", type=float, help="steady posts per second (50)")
    parser.add_argument("--seconds", type=float, help="steady duration (60)")
    parser.add_argument("--saturation-seconds", type=float, help="saturation duration (15)")
    parser.add_argument("--concurrency", type=int, default=16, help="posts in flight, saturated")
    parser.add_argument("--burst", type=int, help="posts committed at once (3,000)")
    parser.add_argument("--missed", type=int, help="events to replay from a cursor (1,000)")
    parser.add_argument("--client-processes", type=int, default=1)
    parser.add_argument(
        "--compression", action="store_true", help="subscribers offer permessage-deflate"
    )
    parser.add_argument(
        "--selection",
        choices=sorted(SELECTIONS),
        default="usual",
        help="the subscription's selection: the usual one, or with the patient's myRoles "
        "and unreadCount (a viewer's own) added (usual)",
    )
    parser.add_argument("--pg", action="store_true", help="PostgreSQL and Redis")
    parser.add_argument("--broker", default="redis://127.0.0.1:6379/0", help="with --pg")
    parser.add_argument("--baseline-only", action="store_true", help="test the harness alone")
    parser.add_argument("--patients", type=int, help="world size (2,000)")
    parser.add_argument("--professionals", type=int, help="world size (2,000)")
    parser.add_argument("--posts", type=int, help="posts already in the world (10 per patient)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    full = {"teams": 200, "rate": 50.0, "seconds": 60.0, "saturation_seconds": 15.0, "burst": 3000}
    full |= {"missed": 1000, "patients": 2000, "professionals": 2000}
    quick = {"teams": 20, "rate": 20.0, "seconds": 10.0, "saturation_seconds": 5.0, "burst": 500}
    quick |= {"missed": 200, "patients": 200, "professionals": 300}
    for name, value in (quick if args.quick else full).items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    if args.posts is None:
        args.posts = 10 * args.patients
    return args


async def main() -> None:
    args = options()
    spec = SyntheticSpec(
        patients=args.patients, professionals=args.professionals, seed=args.seed, posts=args.posts
    )
    print(
        f"feed: world of {spec.patients:,} patients, {spec.professionals:,} professionals, "
        f"{spec.posts:,} posts (seed {spec.seed}); {args.teams} teams of {len(ROLES)} "
        f"subscribers; selection: {args.selection}",
        flush=True,
    )
    with tempfile.TemporaryDirectory(prefix="renraku-feed-") as tmp:
        workdir = Path(tmp)
        async with database(args, workdir) as url:
            teams = await build_teams(url, spec, teams=args.teams)
            ours = None
            if not args.baseline_only:

                async def our_poster(port: int) -> Poster:
                    return OurPoster(port)

                broker = args.broker if args.pg else None
                ours = await measure(
                    "ours",
                    lambda: our_server(url, broker),
                    our_poster,
                    teams,
                    args,
                    workdir,
                    url,
                )
                print(f"  bare write: createPost for {args.saturation_seconds:g} s", flush=True)
                ours.bare = await bare_writes(teams, args, url)
            frames = made_up_frames(teams, selection=args.selection)
            if ours is not None:
                # Ours as captured; made-up frames only where a team has none of a kind.
                captured = templates_from(ours.frames, teams, selection=args.selection)
                for gid, kinds in captured.items():
                    for family, sends in kinds.items():
                        if sends:
                            frames[gid][family] = sends
                whole = sum(1 for kinds in captured.values() if all(kinds.values()))
                print(
                    f"  baseline: our frames of {whole} of {len(teams)} teams, for posts shared "
                    "with the family and not (made-up ones for the rest)",
                    flush=True,
                )

            async def baseline_poster(port: int) -> Poster:
                return await BaselinePoster.open(port, frames)

            base = await measure(
                "baseline",
                lambda: baseline_server(),
                baseline_poster,
                teams,
                args,
                workdir,
                tagged=True,
            )
    report(ours, base, teams, args)


if __name__ == "__main__":
    asyncio.run(main())
