"""From an alert's import to the first page of its incident's complete priority list, against a
naive list made in Python from the same data, in the same run.

The world (renraku seed synthetic, not timed): 410,000 patients (20,000 with --quick) and a
tenth as many professionals, 90% of the patients in one large municipality (豊田市, 232114,
Aichi's largest by area) and the rest over the others by population. An incident lives in one
municipality, so "an alert covering half of the patients" only makes sense where most of them
live in one: the alert is a CAP 1.2 polygon of 2,000 vertices inside 豊田市 (a wavy ring around
the centre of its homes, the rays to the municipality's boundary scaled until half of all
patients are inside), trusted (the operator's import), warning level 3, heavy rain.

- ours: `import_document` (parse, place, store the alert and the patients it covers, open the
  incident in 豊田市 and place its patients, audit, commit), then `priorityList(first: 50)`
  through the application (a planner's bearer token, in process over httpx) until its answer
  arrives: every eligible person scored and ranked, the first page with its reasons. Patients'
  homes and vulnerability attributes are kept ready as patients change (overlay/points.py); the
  bench brings them up to date after loading the world, not timed, as a running server has;
- update: an Update of the alert with its polygon grown (a quarter more patients inside), timed
  from its import until `priorityList`'s first page reflects the change (its total is the new
  count). There is no live subscription to the list yet: this is the time until a planner's next
  query sees it;
- where the import's time went: homes inside the alert, placing the incident's patients,
  announcing the incident, and the rest (the alert, its alert_patient rows, audit, commit),
  timed by wrapping those functions for the two measured imports;
- before timing: one small alert imported, listed and its incident ended (a running server is
  warm), so that the measured alert opens an incident of its own;
- baseline: the naive list on the same database after ours: load the municipality's live
  patients and their risk profiles, test each home with shapely (prepared) `contains` in a
  Python loop, score each person inside with `priority_model.score`, take each one's depth
  inside the area (the ranking's tie-break) and sort by `rank_key`. Its first page must be ours.

Goal: ours under 1 s and at least 10 times faster than the baseline; the update under 1 s. Run
on SQLite (a world built once under bench/results/ and copied for each run) or on PostgreSQL
(--pg: a throwaway database).

    .venv/bin/python bench/overlay.py                # 410,000 patients, SQLite
    .venv/bin/python bench/overlay.py --pg           # PostgreSQL
    .venv/bin/python bench/overlay.py --quick        # 20,000 patients
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import importlib
import os
import shutil
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any, cast

import httpx
import numpy as np
import shapely
from shapely.geometry import LineString, Point, Polygon
from shapely.prepared import prep
from sqlmodel import col, select

from _common import RESULTS, bench_settings, seeded_world
from renraku.accounts.actions import do_create_session
from renraku.accounts.models import User
from renraku.alerts.imports import Origin, import_document
from renraku.app import build_app
from renraku.db import Database
from renraku.geo import boundaries
from renraku.ids import decode_id, encode_id
from renraku.kinds import UserKind
from renraku.overlay.areas import parse_area
from renraku.overlay.incidents import alert_in_force, alerts_of
from renraku.overlay.models import Incident
from renraku.overlay.points import load as load_points
from renraku.overlay.priority import METRES_PER_DEGREE as DEGREE
from renraku.overlay.priority import _hazard, _matched_by, _person
from renraku.overlay.priority_model import default_weights, rank_key, score
from renraku.runtime import Runtime, build_runtime
from renraku.seed.synthetic import SyntheticSpec
from renraku.teams.models import Patient, RiskProfile
from renraku.timeutil import utcnow

FOCUS = "232114"  # 豊田市
FOCUS_SHARE = 0.9
VERTICES = 2000
COVERED = 0.5  # of all patients, by the first alert
GROWN = 1.25  # the update covers this many times as many
PAGE = 50
GOAL_SECONDS = 1.0
GOAL_RATIO = 10.0
END = "mutation($id: ID!) { endIncident(id: $id) { id active } }"
# What the import spends its time on, timed by wrapping these functions (module, name, label).
STAGES = (
    ("renraku.alerts.imports", "_patients_inside", "homes inside the alert"),
    ("renraku.overlay.incidents", "_place_all", "placing the incident's patients"),
    ("renraku.overlay.incidents", "do_announce", "announcing the incident"),
)
LIST = """
query($id: ID!, $first: Int) {
  priorityList(incidentId: $id, first: $first) {
    totalCount tierCounts
    edges { node { tier score patient { id } reasons { factor points text } } }
  }
}
"""
CAP = """<?xml version="1.0" encoding="UTF-8"?>
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">
  <identifier>urn:renraku-bench:toyota:{n}</identifier>
  <sender>bench@example.invalid</sender>
  <sent>{sent}</sent>
  <status>Actual</status>
  <msgType>{kind}</msgType>
  <scope>Public</scope>{references}
  <info>
    <language>ja-JP</language>
    <category>Met</category>
    <event>大雨警報（土砂災害）</event>
    <urgency>Expected</urgency>
    <severity>Severe</severity>
    <certainty>Likely</certainty>
    <expires>2099-07-05T09:00:00+09:00</expires>
    <headline>【警戒レベル3】高齢者等避難（ベンチマーク用の架空の発表）</headline>
    <parameter><valueName>警戒レベル</valueName><value>3</value></parameter>
    <area>
      <areaDesc>豊田市（ベンチマーク用の架空の区域）</areaDesc>
      <polygon>{polygon}</polygon>
    </area>
  </info>
</alert>
"""


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class Ring:
    """A wavy ring of VERTICES points around a centre, each on the ray to the municipality's
    boundary, at a share of the way there."""

    def __init__(self, centre: tuple[float, float]) -> None:
        boundary = boundaries()[FOCUS]
        self.centre = centre
        angles = np.linspace(0, 2 * np.pi, VERTICES, endpoint=False)
        self.wave = 1 + 0.04 * np.sin(23 * angles)
        far = 2.0  # degrees: past the municipality's edge
        self.reach = np.empty(VERTICES)
        for i, angle in enumerate(angles):
            end = (centre[0] + far * np.cos(angle), centre[1] + far * np.sin(angle))
            hit = boundary.boundary.intersection(LineString([centre, end]))
            points = [hit] if isinstance(hit, Point) else list(getattr(hit, "geoms", []))
            self.reach[i] = min(Point(centre).distance(p) for p in points) if points else 0.01
        self.angles = angles

    def polygon(self, share: float) -> Polygon:
        r = self.reach * self.wave * share
        x = np.round(self.centre[0] + r * np.cos(self.angles), 6)
        y = np.round(self.centre[1] + r * np.sin(self.angles), 6)
        return Polygon(np.c_[x, y])


def fit(ring: Ring, lon: Any, lat: Any, wanted: int) -> tuple[Polygon, int]:
    """The ring's polygon that holds about `wanted` of the homes (bisection on its size)."""
    low, high = 0.0, 1 / 1.04
    best = ring.polygon(high)
    for _ in range(30):
        middle = (low + high) / 2
        best = ring.polygon(middle)
        inside = int(shapely.contains_xy(best, lon, lat).sum())
        if inside < wanted:
            low = middle
        else:
            high = middle
        if abs(inside - wanted) <= wanted // 1000:
            break
    return best, int(shapely.contains_xy(best, lon, lat).sum())


def sent_at(n: int) -> str:
    """When the bench's n-th message was sent: a second apart, from the start of the run."""
    return (STARTED + timedelta(seconds=n)).isoformat(timespec="seconds")


def cap(n: int, polygon: Polygon, *, update_of: int | None = None) -> bytes:
    ring = " ".join(f"{lat:.6f},{lon:.6f}" for lon, lat in polygon.exterior.coords)
    references = ""
    if update_of is not None:
        references = (
            "\n  <references>bench@example.invalid,urn:renraku-bench:toyota:"
            f"{update_of},{sent_at(update_of)}</references>"
        )
    kind = "Update" if update_of is not None else "Alert"
    text = CAP.format(n=n, sent=sent_at(n), kind=kind, references=references, polygon=ring)
    return text.encode()


STARTED = utcnow().replace(microsecond=0)


async def planner_token(runtime: Runtime) -> str:
    async with runtime.db.transaction() as session:
        user = User(
            username=f"bench.planner.{FOCUS}",
            display_name="ベンチ 計画担当",
            kind=UserKind.PLANNER.value,
            municipality_code=FOCUS,
        )
        session.add(user)
        await session.flush()
        issued = await do_create_session(session, runtime, user=user, kind="bearer", method="bench")
    return issued.token


@contextmanager
def stages() -> Iterator[dict[str, float]]:
    """Seconds spent in each of STAGES while the block runs."""
    spent: dict[str, float] = {}
    saved = []
    for module_name, name, label in STAGES:
        module = importlib.import_module(module_name)
        original = getattr(module, name)
        saved.append((module, name, original))

        def timed(original: Any = original, label: str = label) -> Any:
            @functools.wraps(original)
            async def run(*args: Any, **kwargs: Any) -> Any:
                began = time.perf_counter()
                try:
                    return await original(*args, **kwargs)
                finally:
                    spent[label] = spent.get(label, 0.0) + time.perf_counter() - began

            return run

        setattr(module, name, timed())
    try:
        yield spent
    finally:
        for module, name, original in saved:
            setattr(module, name, original)


def stage_text(spent: dict[str, float], total: float) -> str:
    parts = [f"{label} {seconds:.3f}" for label, seconds in spent.items()]
    rest = total - sum(spent.values())
    return ", ".join(
        [*parts, f"the rest (the alert, its patients' rows, audit, commit) {rest:.3f}"]
    )


async def graphql(http: httpx.AsyncClient, token: str, query: str, **variables: Any) -> Any:
    response = await http.post(
        "/graphql",
        json={"query": query, "variables": variables},
        headers={"Authorization": f"Bearer {token}"},
    )
    return response.json()


async def warm_up(runtime: Runtime, http: httpx.AsyncClient, token: str, ring: Ring) -> None:
    """A running server has imported and listed before: one small alert in the municipality,
    its list, and the incident ended, so that the measured alert opens a new one."""
    imported = await import_document(runtime.db, cap(0, ring.polygon(0.05)), Origin(trusted=True))
    assert imported.incident_ids, imported
    incident = encode_id("Incident", imported.incident_ids[0])
    await first_page(http, token, incident)
    ended = await graphql(http, token, END, id=incident)
    if "errors" in ended:
        raise SystemExit(f"endIncident failed: {ended['errors']}")


async def first_page(http: httpx.AsyncClient, token: str, incident: str) -> dict[str, Any]:
    response = await http.post(
        "/graphql",
        json={"query": LIST, "variables": {"id": incident, "first": PAGE}},
        headers={"Authorization": f"Bearer {token}"},
    )
    body = response.json()
    if "errors" in body:
        raise SystemExit(f"priorityList failed: {body['errors']}")
    return cast(dict[str, Any], body["data"]["priorityList"])


async def baseline(runtime: Runtime, incident_pk: int, area: Polygon) -> dict[str, Any]:
    """The naive list: every patient of the municipality loaded, tested, scored and sorted in
    Python."""
    times: dict[str, float] = {}
    began = time.perf_counter()
    async with runtime.db.session() as session:
        rows = (
            await session.exec(
                select(Patient, RiskProfile)
                .join(RiskProfile, col(RiskProfile.patient_id) == col(Patient.id), isouter=True)
                .where(Patient.municipality_code == FOCUS, col(Patient.archived_at).is_(None))
            )
        ).all()
        incident = await session.get(Incident, incident_pk)
        assert incident is not None
        now = utcnow()
        alerts = [a for a in await alerts_of(session, incident_pk) if alert_in_force(a, now)]
    times["load"] = time.perf_counter() - began
    mark = time.perf_counter()
    holds = prep(area)
    inside = [(p, r) for p, r in rows if holds.contains(Point(p.longitude, p.latitude))]
    times["contains"] = time.perf_counter() - mark
    mark = time.perf_counter()
    hazard = _hazard(incident, alerts)
    weights = default_weights().weights_for(FOCUS)
    scored = [
        (
            p,
            score(
                _person(p, r, "unknown"),
                replace(hazard, matched_by=_matched_by(incident, p)),
                weights,
                now,
            ),
        )
        for p, r in inside
    ]
    times["score"] = time.perf_counter() - mark
    mark = time.perf_counter()
    edge = area.boundary
    ranked = sorted(
        (
            rank_key(s, hazard.onset, edge.distance(Point(p.longitude, p.latitude)) * DEGREE),
            p.id,
        )
        for p, s in scored
    )
    times["depth and sort"] = time.perf_counter() - mark
    times["total"] = time.perf_counter() - began
    return {"times": times, "count": len(ranked), "first": [pid for _, pid in ranked[:PAGE]]}


@asynccontextmanager
async def world(args: argparse.Namespace) -> AsyncIterator[str]:
    spec = SyntheticSpec(
        patients=args.patients,
        professionals=args.patients // 10,
        seed=1,
        focus=FOCUS,
        focus_share=FOCUS_SHARE,
    )
    kind = "postgresql" if args.pg else "sqlite"
    async with seeded_world(kind, spec, tag="overlay", reuse=not args.fresh) as url:
        db = Database.from_url(url)
        try:
            began = time.perf_counter()
            async with db.transaction() as session:
                ready = len(await load_points(session))
            print(
                f"  points kept ready for {ready:,} patients ({time.perf_counter() - began:.1f} s)"
            )
        finally:
            await db.dispose()
        if kind == "postgresql":
            yield url
            return
        # The cached world stays as built: each run imports into a copy.
        source = Path(url.removeprefix("sqlite:///"))
        with tempfile.TemporaryDirectory(dir=RESULTS) as folder:
            copy = Path(folder) / "overlay-run.db"
            shutil.copyfile(source, copy)
            yield f"sqlite:///{copy}"


async def run(args: argparse.Namespace) -> None:
    backend = "PostgreSQL" if args.pg else "SQLite"
    print(
        f"world: {args.patients:,} patients, {FOCUS_SHARE:.0%} in {FOCUS} ({backend})", flush=True
    )
    async with world(args) as url:
        runtime = build_runtime(bench_settings(url), Database.from_url(url))
        try:
            await measure(args, runtime)
        finally:
            await runtime.close()


async def measure(args: argparse.Namespace, runtime: Runtime) -> None:
    async with runtime.db.session() as session:
        homes = (await load_points(session)).of([FOCUS]).records
    lon, lat = homes["longitude"], homes["latitude"]
    ring = Ring((float(np.median(lon)), float(np.median(lat))))
    wanted = round(args.patients * COVERED)
    first_area, first_count = fit(ring, lon, lat, wanted)
    grown_area, grown_count = fit(ring, lon, lat, round(wanted * GROWN))
    print(
        f"  alert: {len(first_area.exterior.coords) - 1:,} vertices holding {first_count:,} homes;"
        f" its update {grown_count:,}",
        flush=True,
    )
    token = await planner_token(runtime)
    app = build_app(runtime.settings, runtime)
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
    rss_before = rss_mb()
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8000") as http:
        await warm_up(runtime, http, token, ring)
        document = cap(1, first_area)
        with stages() as spent:
            began = time.perf_counter()
            imported = await import_document(runtime.db, document, Origin(trusted=True))
            imported_at = time.perf_counter()
        assert imported.incident_ids, imported
        incident_pk = imported.incident_ids[0]
        incident = encode_id("Incident", incident_pk)
        page = await first_page(http, token, incident)
        ours = time.perf_counter() - began
        listed = time.perf_counter() - imported_at
        print(
            f"  ours: import {imported_at - began:.3f} s ({imported.matched_patients:,} matched),"
            f" first page {listed:.3f} s (total {page['totalCount']:,},"
            f" tiers {page['tierCounts']})",
            flush=True,
        )
        print(f"    {stage_text(spent, imported_at - began)}", flush=True)
        update = cap(2, grown_area, update_of=1)
        with stages() as spent:
            began = time.perf_counter()
            updated = await import_document(runtime.db, update, Origin(trusted=True))
            updated_at = time.perf_counter()
        again = await first_page(http, token, incident)
        renewed = time.perf_counter() - began
        print(
            f"  update: import {updated_at - began:.3f} s ({updated.status},"
            f" {updated.matched_patients:,}"
            f" matched), first page {time.perf_counter() - updated_at:.3f} s"
            f" (total {again['totalCount']:,})",
            flush=True,
        )
        print(f"    {stage_text(spent, updated_at - began)}", flush=True)
    rss_after = rss_mb()
    async with runtime.db.session() as session:
        row = await session.get(Incident, incident_pk)
        assert row is not None and row.area is not None
        area_now = parse_area(row.area)
    # The baseline on the incident as it now stands (the grown area): the same list as `again`.
    naive = await baseline(runtime, incident_pk, cast(Polygon, area_now))
    same = naive["first"] == [_pk(e["node"]["patient"]["id"]) for e in again["edges"]]
    times = naive["times"]
    base = times["total"]
    print()
    print(
        f"{'from the import to the first page':<44}{'ours':>10}{'baseline':>10}{'ratio':>8}   goal"
    )
    met_time, met_ratio = ours < GOAL_SECONDS, base / ours >= GOAL_RATIO
    print(
        f"{'  alert covering half the patients (s)':<52}{ours:>8.3f}{base:>10.3f}"
        f"{base / ours:>8.1f}"
        f"   < {GOAL_SECONDS:g} s: {'met' if met_time else 'MISSED'};"
        f" >= {GOAL_RATIO:g}x: {'met' if met_ratio else 'MISSED'}"
    )
    print(
        f"{'  update, polygon grown, until the list shows it (s)':<52}{renewed:>8.3f}{'':>18}"
        f"   < {GOAL_SECONDS:g} s: {'met' if renewed < GOAL_SECONDS else 'MISSED'}"
    )
    print(
        f"  baseline: load {times['load']:.2f} s, contains {times['contains']:.2f} s, score"
        f" {times['score']:.2f} s, depth and sort {times['depth and sort']:.2f} s;"
        f" {naive['count']:,} listed (ours {again['totalCount']:,}); first page the same as ours:"
        f" {'yes' if same else 'NO'}"
    )
    print(
        f"  process RSS: {rss_before:,.0f} MB before the import,"
        f" {rss_after:,.0f} MB after the update"
    )
    if naive["count"] != again["totalCount"] or not same:
        raise SystemExit("the baseline's list differs from ours")


def _pk(gid: str) -> int:
    return decode_id("Patient", gid)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="20,000 patients")
    parser.add_argument("--patients", type=int, help="patients in the world (default 410,000)")
    parser.add_argument("--pg", action="store_true", help="PostgreSQL instead of SQLite")
    parser.add_argument("--fresh", action="store_true", help="rebuild the cached SQLite world")
    args = parser.parse_args()
    args.patients = args.patients or (20_000 if args.quick else 410_000)
    os.environ.setdefault("RENRAKU_ENV", "development")
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
