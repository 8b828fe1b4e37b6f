"""What bench/feed.py runs on: a synthetic world with teams of subscribers and their sessions,
the servers as processes (ours: `renraku serve`; the baseline: bench/feed_baseline.py), and the
subscriber processes (bench/feed_client.py) driven over their stdin/stdout.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import secrets
import socket
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import IO, Any

import httpx
from graphql import parse
from sqlmodel import col, select

from _common import RESULTS, bench_settings
from renraku.access.fields import answers
from renraku.accounts.actions import do_create_session
from renraku.accounts.models import User
from renraku.accounts.service import actor_for
from renraku.db import Database
from renraku.feed.posts import PostDraft, do_create_post, new_post
from renraku.ids import encode_id
from renraku.kinds import PostCategory, TeamRole, UserKind
from renraku.realtime.split import classify
from renraku.runtime import build_runtime
from renraku.schema import build_schema
from renraku.seed import post_texts
from renraku.seed.synthetic import SyntheticSpec, seed_synthetic
from renraku.teams.models import TeamMembership
from renraku.timeutil import utcnow

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
# No frame for this long: whatever was still coming has come (or never will).
QUIET_SECONDS = 5

# The subscription's selection (bench/feed.py --selection): the usual one, and the usual one with
# the patient's `myRoles` (the same for an audience) and `unreadCount` (each viewer's own).
SELECTIONS = {
    "usual": """
subscription($p: ID!, $after: String) { patientEvents(patientId: $p, after: $after) {
  cursor kind patientId at post { id body category urgent createdAt author { displayName } } } }""",
    "per-viewer": """
subscription($p: ID!, $after: String) { patientEvents(patientId: $p, after: $after) {
  cursor kind patientId at post { id body category urgent createdAt author { displayName }
  patient { myRoles unreadCount } } } }""",
}
# Each team's subscribers, in this order: its coordinator, three members, one family member.
ROLES = (TeamRole.COORDINATOR, TeamRole.MEMBER, TeamRole.MEMBER, TeamRole.MEMBER, TeamRole.FAMILY)


@cache
def _asks(selection: str) -> frozenset[tuple[str, str]] | None:
    """The policy questions the server's classification finds in `selection` (a schema built
    once per selection, not once per role)."""
    return classify(build_schema()._schema, parse(SELECTIONS[selection]), None).asks


@cache
def audience_of(role: TeamRole, selection: str) -> str:
    """The audience the server puts a subscriber holding `role` in for `selection`, named by
    its first role in ROLES: those to whom the selection's rules answer alike (for the usual
    selection, the coordinator and the members are one)."""
    asks = _asks(selection)
    mine = answers(asks, frozenset({role.value}))
    return next(r.value for r in ROLES if answers(asks, frozenset({r.value})) == mine)


@dataclass(frozen=True)
class Member:
    user_id: int
    token: str
    role: TeamRole


@dataclass(frozen=True)
class Team:
    patient_id: int
    # In ROLES order: the coordinator, the members, the family member.
    members: list[Member]

    @property
    def gid(self) -> str:
        return encode_id("Patient", self.patient_id)

    @property
    def authors(self) -> list[Member]:
        """Who posts on this team: its professionals."""
        return [m for m in self.members if m.role is not TeamRole.FAMILY]

    def receivers(self, *, family: bool) -> int:
        """How many of its subscribers a post reaches: family only if it is shared with them."""
        return sum(1 for m in self.members if family or m.role is not TeamRole.FAMILY)


async def build_teams(url: str, spec: SyntheticSpec, *, teams: int) -> list[Team]:
    """Seed `spec` into `url`; pick `teams` care teams and on each the subscribers of ROLES: the
    team's coordinator (a care manager with some thirty patients, so one coordinator may be on
    several of the chosen teams), three of its members (no member on two of them) and a family
    member added to the team here (the synthetic world has no family accounts); give each a
    bearer session per team (as sign-in would, without 1,000 argon2 hashes: synthetic accounts
    have no password)."""
    per_role = {role: ROLES.count(role) for role in set(ROLES)}
    db = Database.from_url(url)
    try:
        began = time.perf_counter()
        result = await seed_synthetic(db, spec)
        print(f"  seeded {result.rows:,} rows in {time.perf_counter() - began:.1f} s", flush=True)
        async with db.session() as session:
            rows = (
                await session.exec(
                    select(TeamMembership.patient_id, TeamMembership.user_id, TeamMembership.role)
                    .join(User, col(User.id) == TeamMembership.user_id)
                    .where(col(User.kind) == UserKind.PROFESSIONAL.value)
                )
            ).all()
    finally:
        await db.dispose()
    by_patient: dict[int, dict[str, list[int]]] = defaultdict(lambda: defaultdict(list))
    for patient_id, user_id, role in rows:
        by_patient[patient_id][role].append(user_id)
    chosen: list[tuple[int, list[int], list[int]]] = []  # patient, coordinators, members
    used: set[int] = set()
    order = sorted(by_patient)
    random.Random(spec.seed).shuffle(order)
    for patient_id in order:
        team = by_patient[patient_id]
        coordinators = sorted(team[TeamRole.COORDINATOR.value])[: per_role[TeamRole.COORDINATOR]]
        free = [u for u in sorted(team[TeamRole.MEMBER.value]) if u not in used]
        members = free[: per_role[TeamRole.MEMBER]]
        if (
            len(coordinators) == per_role[TeamRole.COORDINATOR]
            and len(members) == per_role[TeamRole.MEMBER]
        ):
            chosen.append((patient_id, coordinators, members))
            used.update(members)
            if len(chosen) == teams:
                break
    if len(chosen) < teams:
        raise SystemExit(f"only {len(chosen)} teams with {len(ROLES)} subscribers: seed more")
    runtime = build_runtime(bench_settings(url), Database.from_url(url))
    try:
        async with runtime.db.transaction() as session:
            # The family members, one per chosen team, as an invitation accepted would make them.
            now = utcnow()
            family: dict[int, list[User]] = {}
            for patient_id, _, _ in chosen:
                relatives = [
                    User(
                        username=f"bench.family.{patient_id}.{k}",
                        display_name=f"家族 {patient_id}-{k}",
                        kind=UserKind.FAMILY.value,
                    )
                    for k in range(per_role[TeamRole.FAMILY])
                ]
                session.add_all(relatives)
                family[patient_id] = relatives
            await session.flush()
            for patient_id, relatives in family.items():
                for u in relatives:
                    assert u.id is not None
                    session.add(
                        TeamMembership(
                            patient_id=patient_id,
                            user_id=u.id,
                            role=TeamRole.FAMILY.value,
                            starts_at=now,
                        )
                    )
            ids = {u for _, coordinators, members in chosen for u in (*coordinators, *members)}
            users = {
                u.id: u for u in (await session.exec(select(User).where(col(User.id).in_(ids))))
            }
            built = []
            for patient_id, coordinators, members in chosen:
                people = {
                    TeamRole.COORDINATOR: [users[u] for u in coordinators],
                    TeamRole.MEMBER: [users[u] for u in members],
                    TeamRole.FAMILY: list(family[patient_id]),
                }
                subscribed = []
                for role in ROLES:
                    user = people[role].pop(0)
                    assert user.id is not None
                    issued = await do_create_session(
                        session, runtime, user=user, kind="bearer", method="bench"
                    )
                    subscribed.append(Member(user.id, issued.token, role))
                built.append(Team(patient_id, subscribed))
    finally:
        await runtime.close()
    return built


async def write_burst(
    url: str, teams: list[Team], count: int, tag: str, family: Callable[[int], bool]
) -> float:
    """`count` posts, round-robin over the teams, written by the service layer (as createPost
    writes them: post, feed event and audit record) in one transaction; post n shared with the
    family if family(n); when it committed."""
    runtime = build_runtime(bench_settings(url), Database.from_url(url))
    try:
        async with runtime.db.session() as session:
            ids = {m.user_id for t in teams for m in t.authors}
            users = {u.id: u for u in await session.exec(select(User).where(col(User.id).in_(ids)))}
        async with runtime.db.transaction() as session:
            for n in range(count):
                team = teams[n % len(teams)]
                author = users[team.authors[n % len(team.authors)].user_id]
                category = [PostCategory.VISIT_REPORT, PostCategory.MEALS, PostCategory.MOOD][n % 3]
                draft = PostDraft(
                    patient_id=team.patient_id,
                    client_id=f"burst-{tag}-{n}",
                    category=category,
                    body=post_texts.body(category, (n, n // 7, n // 49)),
                    visible_to_family=family(n),
                )
                actor = actor_for(author)
                post = new_post(actor, draft)
                await do_create_post(session, runtime.broker, actor=actor, post=post, draft=draft)
        return time.time()
    finally:
        await runtime.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class Process:
    """A server process: its memory and CPU time read from /proc."""

    def __init__(self, name: str, args: Sequence[str], env: dict[str, str], log: Path) -> None:
        self.name = name
        self.log_path = log
        # GET /metrics takes this as a bearer token (ours only).
        self.metrics_token: str | None = None
        log.parent.mkdir(exist_ok=True)
        self._log: IO[bytes] = log.open("wb")
        self.popen = subprocess.Popen(  # noqa: S603 - our own interpreter and scripts
            list(args), env=env, cwd=ROOT, stdout=self._log, stderr=subprocess.STDOUT
        )

    def rss_mb(self) -> float:
        for line in Path(f"/proc/{self.popen.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def cpu_seconds(self) -> float:
        return cpu_seconds(self.popen.pid)

    def stop(self) -> None:
        self.popen.terminate()
        try:
            self.popen.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait()
        self._log.close()


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process `pid` so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


async def wait_until_up(process: Process, url: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    async with httpx.AsyncClient(trust_env=False) as http:
        while time.monotonic() < deadline:
            if process.popen.poll() is not None:
                break
            with contextlib.suppress(httpx.HTTPError):
                if (await http.get(url, timeout=2)).status_code == 200:
                    return
            await asyncio.sleep(0.2)
    raise SystemExit(f"{process.name} did not start; its log: {process.log_path}")


@contextlib.asynccontextmanager
async def our_server(url: str, broker: str | None) -> AsyncIterator[tuple[Process, int]]:
    """`renraku serve` on a free port, on the database at `url`; its log is kept in
    bench/results/feed-server.log (ids and kinds only, as every server log)."""
    port = free_port()
    env = dict(os.environ, DATABASE_URL=url, RENRAKU_MODE="demo")
    env["RENRAKU_AUDIT_KEY_FILE"] = str(bench_settings(url).audit_key_file)
    # A line per committing transaction (event ids and when it committed): bench/feed.py times
    # the steady phase from the commit with these.
    env["RENRAKU_DEBUG_LOGGERS"] = "renraku.feed.commits"
    # bench/feed.py reads the feed's counters from /metrics: with a token of its own, whatever
    # the mode (open without one in demo mode only) or the caller's environment.
    token = secrets.token_urlsafe(32)
    env["RENRAKU_METRICS_TOKEN"] = token
    env.pop("BROKER_URL", None)
    if broker:
        env["BROKER_URL"] = broker
    args = [sys.executable, "-m", "renraku.cli", "serve", "--port", str(port)]
    process = Process("renraku serve", args, env, RESULTS / "feed-server.log")
    process.metrics_token = token
    try:
        await wait_until_up(process, f"http://127.0.0.1:{port}/healthz")
        yield process, port
    finally:
        process.stop()


@contextlib.asynccontextmanager
async def write_baseline_server(url: str) -> AsyncIterator[tuple[Process, int]]:
    """bench/write_baseline.py on a free port, writing to the database at `url`."""
    port = free_port()
    args = [sys.executable, str(BENCH / "write_baseline.py"), str(port), url]
    process = Process("write baseline", args, dict(os.environ), RESULTS / "write-baseline.log")
    try:
        await wait_until_up(process, f"http://127.0.0.1:{port}/healthz")
        yield process, port
    finally:
        process.stop()


@contextlib.asynccontextmanager
async def baseline_server() -> AsyncIterator[tuple[Process, int]]:
    port = free_port()
    args = [sys.executable, str(BENCH / "feed_baseline.py"), str(port)]
    process = Process("baseline", args, dict(os.environ), RESULTS / "feed-baseline.log")
    try:
        deadline = time.monotonic() + 30
        while b"ready" not in process.log_path.read_bytes():
            if process.popen.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"the baseline did not start; its log: {process.log_path}")
            await asyncio.sleep(0.1)
        yield process, port
    finally:
        process.stop()


class Clients:
    """The subscriber processes, each with a share of the subscribers; answers combined."""

    def __init__(self, procs: list[asyncio.subprocess.Process]) -> None:
        self.procs = procs

    async def _ask(self, proc: asyncio.subprocess.Process, command: dict[str, Any]) -> Any:
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write((json.dumps(command) + "\n").encode())
        await proc.stdin.drain()
        line = await proc.stdout.readline()
        if not line:
            raise SystemExit("a subscriber process ended; see its messages above")
        return json.loads(line)

    async def all(self, command: dict[str, Any]) -> list[Any]:
        return list(await asyncio.gather(*(self._ask(p, command) for p in self.procs)))

    async def first(self, command: dict[str, Any]) -> Any:
        """Ask the process holding subscriber 0 (the first of team 0)."""
        return await self._ask(self.procs[0], command)

    async def count(self) -> tuple[int, float]:
        answers = await self.all({"cmd": "count"})
        return sum(a["received"] for a in answers), max(a["last_arrival"] for a in answers)

    async def drain(self, expected: int, *, give_up: float = 30) -> tuple[int, float]:
        """Wait until `expected` frames arrived, or none for 5 s, or `give_up` seconds passed;
        (received, last arrival)."""
        deadline = time.monotonic() + give_up
        seen, quiet_since = -1, time.monotonic()
        while True:
            received, last = await self.count()
            if received >= expected:
                return received, last
            if received != seen:
                seen, quiet_since = received, time.monotonic()
            if time.monotonic() - quiet_since > QUIET_SECONDS or time.monotonic() > deadline:
                return received, last
            await asyncio.sleep(0.1)

    def cpu_seconds(self) -> float:
        return sum(cpu_seconds(p.pid) for p in self.procs)


@contextlib.asynccontextmanager
async def subscribers(
    url: str,
    teams: list[Team],
    *,
    selection: str,
    processes: int,
    workdir: Path,
    compression: str | None,
    tagged: bool = False,
) -> AsyncIterator[Clients]:
    """The subscriber processes, not yet connected: subscriber k of team t is number
    t * len(ROLES) + k, each process holds whole teams, and process 0 holds subscriber 0.
    `tagged` (the baseline): each subscriber names its audience and itself in connection_init."""
    subs: list[dict[str, Any]] = [
        {
            "token": m.token,
            "patient": team.gid,
            "team": t,
            "viewer": t * len(team.members) + k,
            "audience": audience_of(m.role, selection),
            "tagged": tagged,
        }
        for t, team in enumerate(teams)
        for k, m in enumerate(team.members)
    ]
    procs = []
    per_process = -(-len(teams) // processes)
    for p in range(processes):
        config = workdir / f"client-{p}.json"
        mine = [s for s in subs if s["team"] // per_process == p]
        query = SELECTIONS[selection]
        body = {"url": url, "query": query, "subs": mine, "compression": compression}
        config.write_text(json.dumps(body), encoding="utf-8")
        config.chmod(0o600)  # it holds bearer tokens
        procs.append(
            await asyncio.create_subprocess_exec(
                sys.executable,
                str(BENCH / "feed_client.py"),
                str(config),
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                limit=2**26,  # a stats answer carries every latency of the run
            )
        )
    clients = Clients(procs)
    try:
        yield clients
    finally:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(clients.all({"cmd": "quit"}), timeout=20)
        for proc in procs:
            if proc.returncode is None:
                proc.kill()
            await proc.wait()
