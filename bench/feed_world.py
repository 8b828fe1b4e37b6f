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
import socket
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import httpx
from sqlmodel import col, select

from _common import RESULTS, bench_settings
from renraku.accounts.actions import do_create_session
from renraku.accounts.models import User
from renraku.accounts.service import actor_for
from renraku.db import Database
from renraku.feed.posts import PostDraft, do_create_post, new_post
from renraku.ids import encode_id
from renraku.kinds import PostCategory, UserKind
from renraku.runtime import build_runtime
from renraku.seed import post_texts
from renraku.seed.synthetic import SyntheticSpec, seed_synthetic
from renraku.teams.models import TeamMembership

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
# No frame for this long: whatever was still coming has come (or never will).
QUIET_SECONDS = 5

SUBSCRIPTION = """
subscription($p: ID!, $after: String) { patientEvents(patientId: $p, after: $after) {
  cursor kind patientId at post { id body category urgent createdAt author { displayName } } } }"""


@dataclass(frozen=True)
class Member:
    user_id: int
    token: str


@dataclass(frozen=True)
class Team:
    patient_id: int
    members: list[Member]

    @property
    def gid(self) -> str:
        return encode_id("Patient", self.patient_id)


async def build_teams(url: str, spec: SyntheticSpec, *, teams: int, per_team: int) -> list[Team]:
    """Seed `spec` into `url`; pick `teams` care teams with `per_team` members each, no one on
    two of them; give each of those members a bearer session (as sign-in would, without 1,000
    argon2 hashes: synthetic accounts have no password)."""
    db = Database.from_url(url)
    try:
        began = time.perf_counter()
        result = await seed_synthetic(db, spec)
        print(f"  seeded {result.rows:,} rows in {time.perf_counter() - began:.1f} s", flush=True)
        async with db.session() as session:
            rows = (
                await session.exec(
                    select(TeamMembership.patient_id, TeamMembership.user_id)
                    .join(User, col(User.id) == TeamMembership.user_id)
                    .where(col(User.kind) == UserKind.PROFESSIONAL.value)
                )
            ).all()
    finally:
        await db.dispose()
    by_patient: dict[int, list[int]] = defaultdict(list)
    for patient_id, user_id in rows:
        by_patient[patient_id].append(user_id)
    chosen: list[tuple[int, list[int]]] = []
    used: set[int] = set()
    order = sorted(by_patient)
    random.Random(spec.seed).shuffle(order)
    for patient_id in order:
        free = [u for u in sorted(by_patient[patient_id]) if u not in used][:per_team]
        if len(free) == per_team:
            chosen.append((patient_id, free))
            used.update(free)
            if len(chosen) == teams:
                break
    if len(chosen) < teams:
        raise SystemExit(f"only {len(chosen)} teams of {per_team} found: seed a bigger world")
    runtime = build_runtime(bench_settings(url), Database.from_url(url))
    try:
        async with runtime.db.transaction() as session:
            users = {
                u.id: u for u in (await session.exec(select(User).where(col(User.id).in_(used))))
            }
            built = []
            for patient_id, user_ids in chosen:
                members = []
                for user_id in user_ids:
                    issued = await do_create_session(
                        session, runtime, user=users[user_id], kind="bearer", method="bench"
                    )
                    members.append(Member(user_id, issued.token))
                built.append(Team(patient_id, members))
    finally:
        await runtime.close()
    return built


async def write_burst(url: str, teams: list[Team], count: int, tag: str) -> float:
    """`count` posts, round-robin over the teams, written by the service layer (as createPost
    writes them: post, feed event and audit record) in one transaction; when it committed."""
    runtime = build_runtime(bench_settings(url), Database.from_url(url))
    try:
        async with runtime.db.session() as session:
            ids = {m.user_id for t in teams for m in t.members}
            users = {u.id: u for u in await session.exec(select(User).where(col(User.id).in_(ids)))}
        async with runtime.db.transaction() as session:
            for n in range(count):
                team = teams[n % len(teams)]
                author = users[team.members[n % len(team.members)].user_id]
                category = [PostCategory.VISIT_REPORT, PostCategory.MEALS, PostCategory.MOOD][n % 3]
                draft = PostDraft(
                    patient_id=team.patient_id,
                    client_id=f"burst-{tag}-{n}",
                    category=category,
                    body=post_texts.body(category, (n, n // 7, n // 49)),
                    visible_to_family=n % 3 == 0,
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
    env.pop("BROKER_URL", None)
    if broker:
        env["BROKER_URL"] = broker
    args = [sys.executable, "-m", "renraku.cli", "serve", "--port", str(port)]
    process = Process("renraku serve", args, env, RESULTS / "feed-server.log")
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
    url: str, teams: list[Team], *, processes: int, workdir: Path, compression: str | None
) -> AsyncIterator[Clients]:
    """The subscriber processes, not yet connected: subscriber k of team t is number
    t * per_team + k, and process 0 holds subscriber 0."""
    subs = [
        {"token": m.token, "patient": team.gid, "team": t}
        for t, team in enumerate(teams)
        for m in team.members
    ]
    procs = []
    share = -(-len(subs) // processes)
    for p in range(processes):
        config = workdir / f"client-{p}.json"
        mine = subs[p * share : (p + 1) * share]
        body = {"url": url, "query": SUBSCRIPTION, "subs": mine, "compression": compression}
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
