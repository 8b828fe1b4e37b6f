"""What authorization adds to a page, against a bare dictionary lookup, in the same run.

(a) The patient list page (the first 50 of `patients`), (b) the patient detail page (risk,
contacts, care team) and (c) the first timeline page (20 posts) of that patient run through the
real schema with a real runtime, the policy files and read auditing on, for a sample of
professionals: once with the decision Renraku makes (renraku.access.enforcer.allowed: Casbin,
each decision cached per process) and once with that decision replaced by a dict lookup of
(role, object, action) built from policies/roles.csv. The two alternate request by request, after
a warm-up. Ratios are ours over the dict lookup's: of the medians, of the 95th percentiles, and
the median of each request's pair (the goal's figure). (d) The timeline's size: the first page of
a patient with 100,000 posts over that of a patient with 100, through the real GraphQL endpoint
(bench/_timeline.py). (e) One decision: FastEnforcer.enforce called directly (no cache),
allowed() with its cache, and the dict lookup, in microseconds.

    .venv/bin/python bench/access.py                    # 41,000 patients / 23,000 professionals
    .venv/bin/python bench/access.py --full --reuse     # 410,000 / 230,000, cached SQLite world
    .venv/bin/python bench/access.py --full --backend postgresql

The world has 5 posts per patient (--posts), plus the two timelines of (d) on patients of their
own (--big-timeline sets the larger).
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import itertools
import random
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import strawberry
from sqlmodel import col, func, select
from starlette.requests import Request

from _common import bench_settings, median, percentile, seeded_world
from _timeline import GOAL_SIZE_RATIO, SMALL_TIMELINE, TIMELINE_QUERY, size_ratio
from renraku.access import enforcer, gate
from renraku.access.actor import Actor
from renraku.access.scopes import active_membership
from renraku.accounts.models import User
from renraku.accounts.service import actor_for
from renraku.audit.models import AuditRecord
from renraku.context import Context
from renraku.db import Database
from renraku.kinds import UserKind
from renraku.runtime import Runtime, build_runtime
from renraku.schema import build_schema
from renraku.seed.synthetic import SyntheticSpec
from renraku.teams.models import TeamMembership

PAGE = 50
POSTS_PER_PATIENT = 5
GOAL_PAGE = 1.05  # authorization adds less than 5% to a page
GOAL_DECISION_US = 200.0  # one decision under 0.2 ms

LIST_QUERY = """
query PatientList($first: Int!) {
  patients(first: $first) {
    edges { cursor node {
      id displayName kana sex address birthDate phone myRoles lastVisitAt
      location { latitude longitude confidence }
    } }
    pageInfo { hasNextPage endCursor }
  }
}"""

DETAIL_QUERY = """
query PatientDetail($id: ID!) {
  patient(id: $id) {
    id displayName kana sex address birthDate phone myRoles lastVisitAt
    location { latitude longitude confidence }
    risk {
      careLevel mobility living dementia sensoryImpairment floor landslideZone floodDepthM
      tsunamiZone airConditioning supporter devices { kind batteryHours }
    }
    contacts { name relation phone isKeyPerson }
    careTeam { members { role since until user { id displayName profession } } }
  }
}"""

Decide = Callable[[Iterable[str], str, str], bool]


def policy_table() -> dict[tuple[str, str, str], bool]:
    """Every (role, object, action) that policies/roles.csv allows."""
    table: dict[tuple[str, str, str], bool] = {}
    with (enforcer.policies_dir() / "roles.csv").open(newline="") as rows:
        for row in csv.reader(rows, skipinitialspace=True):
            if row and row[0].strip() == "p":
                role, obj, act = (cell.strip() for cell in row[1:4])
                table[role, obj, act] = True
    return table


TABLE = policy_table()


def dict_allowed(roles: Iterable[str], obj: str, act: str) -> bool:
    """The baseline decision: a bare dictionary lookup."""
    return any(TABLE.get((role, obj, act), False) for role in roles)


def _users_of_allowed() -> list[ModuleType]:
    """Every loaded renraku module holding a reference to enforcer.allowed."""
    real = enforcer.allowed
    modules = [
        module
        for name, module in list(sys.modules.items())
        if name.startswith("renraku") and getattr(module, "allowed", None) is real
    ]
    assert gate in modules, "the gate no longer decides through enforcer.allowed"
    return modules


@contextmanager
def deciding_with(decide: Decide, modules: list[ModuleType]) -> Iterator[None]:
    """Make every module in `modules` decide with `decide` for the duration."""
    saved = [getattr(module, "allowed") for module in modules]  # noqa: B009 - a module attribute mypy cannot see
    for module in modules:
        setattr(module, "allowed", decide)  # noqa: B010 - as above
    try:
        yield
    finally:
        for module, original in zip(modules, saved, strict=True):
            setattr(module, "allowed", original)  # noqa: B010 - as above


@dataclass
class Bench:
    schema: strawberry.Schema
    runtime: Runtime
    modules: list[ModuleType]

    async def run(self, actor: Actor, query: str, variables: dict[str, Any]) -> tuple[float, Any]:
        request = Request({"type": "http", "method": "POST", "path": "/graphql", "headers": []})
        context = Context(
            runtime=self.runtime,
            request=request,
            response=None,
            actor=actor,
            client_address="127.0.0.1",
        )
        began = time.perf_counter()
        result = await self.schema.execute(query, variable_values=variables, context_value=context)
        elapsed = time.perf_counter() - began
        if result.errors:
            raise SystemExit(f"query failed for user {actor.user_id}: {result.errors[0].message}")
        return elapsed, result.data

    async def compare(
        self, requests: list[tuple[Actor, str, dict[str, Any]]], rounds: int
    ) -> tuple[list[float], list[float]]:
        """Latencies (ms) of ours and the dict lookup's, alternating request by request."""
        variants: tuple[Decide, Decide] = (enforcer.allowed, dict_allowed)
        timings: tuple[list[float], list[float]] = ([], [])
        for round_ in range(rounds + 1):  # round 0 warms up and is not counted
            for i, (actor, query, variables) in enumerate(requests):
                order = (0, 1) if (round_ + i) % 2 == 0 else (1, 0)
                for which in order:
                    with deciding_with(variants[which], self.modules):
                        elapsed, _ = await self.run(actor, query, variables)
                    if round_:
                        timings[which].append(elapsed * 1000)
            await flush_auditing(self.runtime)
        return timings


async def flush_auditing(runtime: Runtime) -> None:
    """Wait for the read audit writer, so each round pays for the records it queued."""
    await runtime.read_auditor.flush()


async def audit_records(db: Database) -> int:
    async with db.session() as session:
        return (await session.exec(select(func.count()).select_from(AuditRecord))).one()


async def sample_actors(db: Database, count: int, seed: int) -> list[Actor]:
    """`count` professionals on at least one care team, drawn with `seed`."""
    async with db.session() as session:
        members = (
            await session.exec(select(TeamMembership.user_id).where(active_membership()).distinct())
        ).all()
        chosen = random.Random(seed).sample(sorted(members), min(count, len(members)))
        users = (await session.exec(select(User).where(col(User.id).in_(chosen)))).all()
    actors = [actor_for(u) for u in users if u.kind == UserKind.PROFESSIONAL.value]
    return sorted(actors, key=lambda a: chosen.index(a.user_id))


def report_pages(name: str, ours: list[float], base: list[float]) -> float:
    """Print one page's row; return the median of the paired ratios."""
    # Each pair is the same request run back to back, so load on the machine cancels out of it.
    paired = median([o / b for o, b in zip(ours, base, strict=True)])
    print(
        f"{name:<24} {len(ours):>5} {median(ours):>8.2f} {percentile(ours, 0.95):>8.2f} "
        f"{median(base):>8.2f} {percentile(base, 0.95):>8.2f} "
        f"{median(ours) / median(base):>7.3f} "
        f"{percentile(ours, 0.95) / percentile(base, 0.95):>7.3f} {paired:>7.3f}"
    )
    return paired


Case = tuple[str, str, str]


def per_call_us(call: Callable[[str, str, str], object], cases: list[Case]) -> float:
    repeat = 200
    began = time.perf_counter()
    for _ in range(repeat):
        for role, obj, act in cases:
            call(role, obj, act)
    return (time.perf_counter() - began) / (repeat * len(cases)) * 1e6


def single_decision(rounds: int) -> float:
    """Print the per-call microseconds of each decision beside the dict lookup's; return the
    uncached decision's median."""
    roles = sorted({role for role, _, _ in TABLE})
    pairs = sorted({(obj, act) for _, obj, act in TABLE})
    # Every role against every (object, action): allowed and denied decisions alike.
    cases = [(role, obj, act) for role, (obj, act) in itertools.product(roles, pairs)]
    real = enforcer.enforcer()
    for role, obj, act in cases:
        if bool(real.enforce(enforcer.RoleSubject(role), obj, act)) != dict_allowed(
            (role,), obj, act
        ):
            raise SystemExit(f"the dict lookup disagrees with Casbin on {role}, {obj}, {act}")
    variants: dict[str, Callable[[str, str, str], object]] = {
        "FastEnforcer.enforce, no cache": lambda r, o, a: real.enforce(
            enforcer.RoleSubject(r), o, a
        ),
        "allowed(), cached": lambda r, o, a: enforcer.allowed((r,), o, a),
        "dict lookup": lambda r, o, a: dict_allowed((r,), o, a),
    }
    for call in variants.values():
        per_call_us(call, cases)  # warm up (and fill allowed()'s cache)
    samples: dict[str, list[float]] = {name: [] for name in variants}
    names = list(variants)
    for round_ in range(rounds):
        for name in names if round_ % 2 == 0 else reversed(names):
            samples[name].append(per_call_us(variants[name], cases))
    base = median(samples["dict lookup"])
    print(
        f"{'one decision (us per call)':<32} {'median':>8} {'best':>8} {'x dict':>8}"
        f"   ({len(cases)} role/object/action cases, {rounds} rounds)"
    )
    for name, values in samples.items():
        mid = median(values)
        print(f"{name:<32} {mid:>8.2f} {min(values):>8.2f} {mid / base:>8.1f}")
    return median(samples["FastEnforcer.enforce, no cache"])


async def pages(url: str, args: argparse.Namespace) -> tuple[float, float, float, float]:
    """Print the list, detail and timeline pages, ours beside the dict lookup, and the timeline
    size ratio; return the four ratios."""
    runtime = build_runtime(bench_settings(url), Database.from_url(url))
    bench = Bench(schema=build_schema(), runtime=runtime, modules=_users_of_allowed())
    audited = await audit_records(runtime.db)
    try:
        actors = await sample_actors(runtime.db, args.sample, args.seed)
        lists = [(a, LIST_QUERY, {"first": PAGE}) for a in actors]
        details = []
        shown = 0
        for actor, query, variables in lists:
            _, data = await bench.run(actor, query, variables)
            edges = data["patients"]["edges"]
            shown += len(edges)
            details.append((actor, DETAIL_QUERY, {"id": edges[len(edges) // 2]["node"]["id"]}))
        print(
            f"{len(actors)} professionals, {shown / len(actors):.1f} patients on their first page "
            f"on average; {args.rounds} rounds after a warm-up; read auditing on"
        )
        print(
            f"{'page (ms per request)':<24} {'n':>5} {'ours':>8} {'p95':>8} {'dict':>8} "
            f"{'p95':>8} {'ratio':>7} {'p95':>7} {'paired':>7}"
        )
        rounds = args.rounds
        list_ratio = report_pages("patient list (first 50)", *await bench.compare(lists, rounds))
        detail_ratio = report_pages("patient detail", *await bench.compare(details, rounds))
        timelines = [(a, TIMELINE_QUERY, v) for a, _, v in details]
        timeline_ratio = report_pages(
            "timeline (first 20)", *await bench.compare(timelines, rounds)
        )
        await flush_auditing(runtime)
        audited = await audit_records(runtime.db) - audited
        print(f"{audited:,} read audit records written (one per request)")
        size = await size_ratio(runtime, args.big_timeline, args.timeline_requests)
    finally:
        await runtime.close()
    return list_ratio, detail_ratio, timeline_ratio, size


async def run(url: str, args: argparse.Namespace) -> None:
    list_ratio, detail_ratio, timeline_ratio, size = await pages(url, args)
    uncached = single_decision(args.rounds * 2 + 1)
    met = max(list_ratio, detail_ratio, timeline_ratio) < GOAL_PAGE and uncached < GOAL_DECISION_US
    print(
        f"goal (a page +<5%, a decision <200 us): {'met' if met else 'MISSED'}: "
        f"list {(list_ratio - 1) * 100:+.1f}%, detail {(detail_ratio - 1) * 100:+.1f}%, "
        f"timeline {(timeline_ratio - 1) * 100:+.1f}%, uncached decision {uncached:.1f} us"
    )
    print(
        f"goal (timeline first page, {args.big_timeline:,} / {SMALL_TIMELINE} posts, <= "
        f"{GOAL_SIZE_RATIO}): {'met' if size <= GOAL_SIZE_RATIO else 'MISSED'}: {size:.3f}"
    )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=41_000)
    parser.add_argument("--professionals", type=int, default=23_000)
    parser.add_argument("--full", action="store_true", help="410,000 / 230,000 (ten times)")
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--reuse", action="store_true", help="reuse the cached SQLite world")
    parser.add_argument("--sample", type=int, default=200, help="professionals to sample")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--posts", type=int, help="posts in all (default: 5 per patient)")
    parser.add_argument("--big-timeline", type=int, default=100_000)
    parser.add_argument(
        "--timeline-requests", type=int, default=200, help="requests per timeline size"
    )
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    if args.full:
        args.patients, args.professionals = 410_000, 230_000
    posts = POSTS_PER_PATIENT * args.patients if args.posts is None else args.posts
    spec = SyntheticSpec(
        patients=args.patients,
        professionals=args.professionals,
        seed=args.seed,
        posts=posts,
        big_timelines=(args.big_timeline, SMALL_TIMELINE),
    )
    print(
        f"access: {spec.patients:,} patients, {spec.professionals:,} professionals, "
        f"{posts:,} posts and timelines of {args.big_timeline:,} and {SMALL_TIMELINE} "
        f"(seed {spec.seed}) on {args.backend}"
    )
    async with seeded_world(args.backend, spec, tag="access", reuse=args.reuse) as url:
        await run(url, args)


if __name__ == "__main__":
    asyncio.run(main())
