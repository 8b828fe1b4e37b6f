"""The priority list ranked over arrays (overlay/priority.py, from overlay/points.py's kept-ready
records) must be exactly what priority_model.score and rank_key give person by person: on random
profiles without a database, and on the demo world and a synthetic one through `priorityList`,
with ties, resolved statuses from the safety board, and records kept current as patients change.
"""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
import pytest
from shapely.geometry import Point
from sqlmodel import col, select

from renraku.ids import decode_id
from renraku.kinds import CareLevel, DeviceKind, LandslideZone, Living, Mobility
from renraku.overlay import priority
from renraku.overlay.areas import parse_area
from renraku.overlay.incidents import _place_all, alert_in_force, alerts_of
from renraku.overlay.models import Incident, IncidentPatient, SafetyCheck
from renraku.overlay.points import Points, encode
from renraku.overlay.points import load as load_points
from renraku.overlay.priority_model import (
    RESOLVED_STATUSES,
    Hazard,
    Person,
    default_weights,
    rank_key,
    score,
)
from renraku.runtime import Runtime
from renraku.seed.synthetic import SyntheticSpec, seed_synthetic
from renraku.teams.models import Patient, RiskProfile
from tests.audit.support import pk_of
from tests.overlay.helpers import GAMAGORI, demo_incident_id
from tests.support.graphql import GraphQLClient

NOW = datetime(2026, 7, 4, 2, 0, tzinfo=UTC)
KINDS = sorted(default_weights().hazards["kinds"])
STATUSES = ["unknown", "contacted", "needs_help", *sorted(RESOLVED_STATUSES)]
LIST = """
query($id: ID!, $first: Int, $after: String) {
  priorityList(incidentId: $id, first: $first, after: $after) {
    totalCount tierCounts pageInfo { hasNextPage endCursor }
    edges { cursor node { tier score vulnerability stale patient { id }
      reasons { factor points text params } } }
  }
}
"""


def _random_row(rng: random.Random, pid: int) -> tuple[Any, ...]:
    """A row as overlay/points.py reads it, values near every threshold of the policy."""
    devices = [
        {"kind": rng.choice(list(DeviceKind)).value}
        | (
            {}
            if rng.random() < 0.3
            else {"battery_hours": rng.choice([0.0, 4.0, 8.0, 12.0, 24.0, 72.5])}
        )
        for _ in range(rng.choice([0, 0, 0, 1, 1, 2, 3, 10]))
    ]
    visit = rng.choice(
        [
            *(None, NOW, NOW - timedelta(days=14), NOW - timedelta(days=15, seconds=-1)),
            *(NOW - timedelta(days=15), NOW - timedelta(days=40), NOW + timedelta(hours=3)),
        ]
    )
    if rng.random() < 0.1:  # no risk profile at all
        return (pid, GAMAGORI, 137.2, 34.8, "high", visit, *([None] * 13))
    return (
        pid,
        GAMAGORI,
        137.2,
        34.8,
        rng.choice(["high", "low"]),
        visit,
        pid,
        rng.choice(list(CareLevel)).value,
        rng.choice(list(Mobility)).value,
        rng.choice(list(Living)).value,
        rng.choice(list(LandslideZone)).value,
        rng.random() < 0.3,
        rng.random() < 0.2,
        rng.random() < 0.2,
        rng.random() < 0.8,
        rng.choice(["", " ", "伊藤 健一"]),
        rng.choice([0, 1, 2, 5]),
        rng.choice([0.0, 0.49, 0.5, 1.2, 2.99, 3.0, 4.5]),
        devices,
    )


def _person(row: tuple[Any, ...], safety: str) -> Person:
    """The Person the list used to build from a patient and its risk profile."""
    if row[6] is None:
        return Person(source=str(row[0]), last_visit_at=row[5], safety=safety)
    devices = tuple((d["kind"], d.get("battery_hours")) for d in row[18])
    return Person(
        source=str(row[0]),
        care_level=row[7],
        mobility=row[8],
        living=row[9],
        landslide_zone=row[10],
        dementia=row[11],
        sensory_impairment=row[12],
        tsunami_zone=row[13],
        air_conditioning=row[14],
        supporter=row[15],
        floor=row[16],
        flood_depth_m=row[17],
        devices=devices,
        last_visit_at=row[5],
        safety=safety,
    )


@pytest.mark.parametrize("seed", range(12))
def test_the_arrays_rank_random_profiles_as_the_model_does(seed: int) -> None:
    rng = random.Random(seed)
    rows = [_random_row(rng, pid) for pid in range(1, 1501)]
    safety = [rng.choice(STATUSES) for _ in rows]
    kinds = frozenset(rng.sample(KINDS, rng.choice([1, 1, 2, 3])))
    onset = rng.choice([None, NOW - timedelta(hours=1), NOW + timedelta(hours=7)])
    hazard = Hazard(rng.randint(1, 5), kinds, onset, "test", "incident:1")
    weights = default_weights()
    points = Points(*encode(rows))
    records = points.records
    resolved = np.array([s in RESOLVED_STATUSES for s in safety])
    tier, value = priority.tiers_and_scores(points, resolved, hazard, weights, NOW)
    v, straight = priority.vulnerability(points, hazard, weights, NOW)
    expected = [
        score(_person(r, s), hazard, weights, NOW) for r, s in zip(rows, safety, strict=True)
    ]
    assert v.tolist() == [e.vulnerability for e in expected]
    assert straight.tolist() == [e.straight_to_p1 for e in expected]
    assert [priority.TIERS[t] for t in tier.tolist()] == [e.tier for e in expected]
    assert value.tolist() == [e.score for e in expected]
    order = np.lexsort((records["id"], -value, tier)).tolist()
    by_model = sorted(range(len(rows)), key=lambda i: (rank_key(expected[i], onset, None), i))
    assert order == by_model
    # Ties are plenty: equal tier and score for many, broken by depth (here none) and id.
    assert (
        len({(t, s) for t, s in zip(tier.tolist(), value.tolist(), strict=True)}) < len(rows) / 10
    )


async def _by_the_model(runtime: Runtime, incident_pk: int) -> list[tuple[Any, ...]]:
    """The whole list as the model ranks it person by person: (rank key, id, tier, score)."""
    async with runtime.db.session() as session:
        incident = await session.get(Incident, incident_pk)
        assert incident is not None
        now = datetime.now(UTC)
        alerts = [a for a in await alerts_of(session, incident_pk) if alert_in_force(a, now)]
        hazard = priority._hazard(incident, alerts)
        weights = default_weights().weights_for(incident.municipality_code)
        area = parse_area(incident.area) if incident.area is not None else None
        rows = await session.exec(
            select(Patient, RiskProfile, SafetyCheck.status)
            .join(IncidentPatient, col(IncidentPatient.patient_id) == col(Patient.id))
            .join(RiskProfile, col(RiskProfile.patient_id) == col(Patient.id), isouter=True)
            .join(
                SafetyCheck,
                (col(SafetyCheck.patient_id) == col(Patient.id))
                & (col(SafetyCheck.incident_id) == incident_pk),
                isouter=True,
            )
            .where(IncidentPatient.incident_id == incident_pk, col(Patient.archived_at).is_(None))
        )
        ranked = []
        for patient, risk, safety in rows.all():
            person = priority._person(patient, risk, safety or "unknown")
            matched = priority._matched_by(incident, patient)
            scored = score(person, replace(hazard, matched_by=matched), weights, now)
            depth = (
                area.boundary.distance(Point(patient.longitude, patient.latitude))
                * priority.METRES_PER_DEGREE
                if area is not None
                else None
            )
            key = rank_key(scored, hazard.onset, depth)
            ranked.append((key, patient.id, scored.tier, scored.score, scored.reasons))
    ranked.sort(key=lambda r: (r[0], r[1]))
    return ranked


async def _by_the_api(client: GraphQLClient, incident: str, first: int) -> list[dict[str, Any]]:
    nodes: list[dict[str, Any]] = []
    after = None
    while True:
        result = await client.execute(LIST, {"id": incident, "first": first, "after": after})
        assert "errors" not in result, result
        page = result["data"]["priorityList"]
        nodes += [e["node"] for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            assert page["totalCount"] == len(nodes)
            return nodes
        after = page["pageInfo"]["endCursor"]


async def _resolve_some(runtime: Runtime, incident_pk: int, every: int) -> None:
    async with runtime.db.transaction() as session:
        inside = await session.exec(
            select(IncidentPatient.patient_id).where(IncidentPatient.incident_id == incident_pk)
        )
        for n, pid in enumerate(sorted(inside.all())):
            if n % every == 0:
                status = STATUSES[(n // every) % len(STATUSES)]
                session.add(SafetyCheck(incident_id=incident_pk, patient_id=pid, status=status))


async def _assert_same(client: GraphQLClient, runtime: Runtime, incident: str) -> None:
    expected = await _by_the_model(runtime, decode_id("Incident", incident))
    for first in (7, 100):
        got = await _by_the_api(client, incident, first)
        assert [pk_of(n["patient"]["id"]) for n in got] == [r[1] for r in expected]
        assert [n["tier"] for n in got] == [r[2].upper() for r in expected]
        assert [n["score"] for n in got] == [r[3] for r in expected]
        assert [[x["factor"] for x in n["reasons"]] for n in got] == [
            [x.factor for x in r[4]] for r in expected
        ]


async def test_the_demo_list_is_the_models_ranking(gql: GraphQLClient, runtime: Runtime) -> None:
    planner = await gql.login("planner.gamagori")
    incident = await demo_incident_id(runtime)
    await _assert_same(planner, runtime, incident)
    await _resolve_some(runtime, decode_id("Incident", incident), every=2)
    await _assert_same(planner, runtime, incident)


async def test_a_synthetic_list_with_many_ties_is_the_models_ranking(
    gql: GraphQLClient, runtime: Runtime
) -> None:
    spec = SyntheticSpec(
        patients=400,
        professionals=120,
        seed=9,
        today=date(2026, 3, 1),
        focus=GAMAGORI,
        focus_share=1.0,
    )
    await seed_synthetic(runtime.db, spec)
    planner = await gql.login("planner.gamagori")
    incident = await demo_incident_id(runtime)
    incident_pk = decode_id("Incident", incident)
    # The incident's area is refreshed to take in the synthetic homes.
    async with runtime.db.transaction() as session:
        row = await session.get(Incident, incident_pk)
        assert row is not None
        placed = await _place_all(session, row)
    assert placed > 100
    await _resolve_some(runtime, incident_pk, every=5)
    await _assert_same(planner, runtime, incident)


async def test_kept_ready_records_follow_the_tables(runtime: Runtime) -> None:
    """Whatever writes a patient or a risk profile (here the ORM, no action), the records read
    next are the tables' own."""
    async with runtime.db.transaction() as session:
        before = (await load_points(session)).records
        risk = (await session.exec(select(RiskProfile).limit(1))).one()
        risk.mobility = Mobility.BEDRIDDEN.value
        risk.devices = [{"kind": "oxygen"}]
        session.add(risk)
        patient = await session.get(Patient, risk.patient_id)
        assert patient is not None
        patient.longitude += 0.001
        session.add(patient)
        archived = (
            await session.exec(select(Patient).where(col(Patient.id) != risk.patient_id).limit(1))
        ).one()
        archived.archived_at = datetime.now(UTC)
        session.add(archived)
        after = (await load_points(session)).records
    async with runtime.db.session() as session:
        read = (await load_points(session)).records
    assert len(after) == len(before) - 1 and archived.id not in after["id"].tolist()
    mine = after[after["id"] == risk.patient_id][0]
    assert int(mine["devices"]) == 1 and mine["longitude"] == patient.longitude
    assert read.tobytes() == after.tobytes()
    # Its oxygen concentrator, battery unknown, is in the device records.
    async with runtime.db.session() as session:
        devices = (await load_points(session)).devices
    (oxygen,) = devices[devices["id"] == risk.patient_id]
    assert int(oxygen["kind"]) == list(DeviceKind).index(DeviceKind.OXYGEN)
    assert np.isnan(oxygen["battery"])
