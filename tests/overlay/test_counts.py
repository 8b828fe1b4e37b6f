"""`patientCounts`: counted in SQL, small counts suppressed, whole only inside an active
incident; planners and managers of the municipality only."""

from __future__ import annotations

import itertools
import random
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlmodel import col, select

from renraku.ids import decode_id, encode_id
from renraku.kinds import CareLevel, DeviceKind, Living, Mobility
from renraku.overlay.counts import JAPAN, LABELS, CountDimension, count_by
from renraku.runtime import Runtime
from renraku.teams.models import Patient, RiskProfile
from tests.overlay.helpers import (
    COUNTS,
    END,
    NISHIO,
    NISHIO_HOME,
    demo_incident_id,
    patients_inside,
)
from tests.support.databases import one_database
from tests.support.graphql import GraphQLClient, error_codes
from tests.teams.helpers import error

DIMENSIONS = [d.name for d in CountDimension]
PAIRS = [(r, c) for r, c in itertools.permutations(DIMENSIONS, 2)]


def published_values(table: dict[str, Any]) -> list[int | None]:
    return [
        *itertools.chain.from_iterable(table["cells"]),
        *table["rowTotals"],
        *table["columnTotals"],
        table["total"],
    ]


def assert_nothing_small_is_published(table: dict[str, Any]) -> None:
    small = [v for v in published_values(table) if v is not None and 1 <= v <= 10]
    assert small == [], table


async def counts(client: GraphQLClient, rows: str, columns: str, **extra: Any) -> dict[str, Any]:
    result = await client.execute(COUNTS, {"rows": rows, "columns": columns, **extra})
    assert "errors" not in result, result
    table: dict[str, Any] = result["data"]["patientCounts"]
    return table


async def test_the_demo_planner_of_nishio_sees_a_suppressed_table(gql: GraphQLClient) -> None:
    planner = await gql.login("planner.nishio")
    table = await counts(planner, "CARE_LEVEL", "MOBILITY")
    assert table["suppressed"] is True
    assert table["rows"] == [level.value for level in CareLevel]
    assert table["columns"] == [m.value for m in Mobility]
    assert None in itertools.chain.from_iterable(table["cells"])
    assert table["total"] is None  # five patients: even the total is a small number
    assert_nothing_small_is_published(table)


@pytest.mark.parametrize("username", ["planner.nishio", "planner.gamagori", "manager.gamagori"])
async def test_no_published_count_lies_between_1_and_10(gql: GraphQLClient, username: str) -> None:
    client = await gql.login(username)
    for rows, columns in PAIRS:
        table = await counts(client, rows, columns)
        assert table["suppressed"] is True
        assert_nothing_small_is_published(table)


def _age_band(born: date | None, today: date) -> str:
    if born is None:
        return "unknown"
    age = today.year - born.year - ((today.month, today.day) < (born.month, born.day))
    if age < 75:
        return "<75"
    if age < 85:
        return "75-84"
    if age < 95:
        return "85-94"
    return "95+"


def _labels(patient: Patient, risk: RiskProfile | None, today: date) -> dict[str, str]:
    risk = risk or RiskProfile(patient_id=0)
    return {
        "CARE_LEVEL": risk.care_level,
        "MOBILITY": risk.mobility,
        "LIVING": risk.living,
        "DEVICE": "powered" if risk.devices else "none",
        "AGE_BAND": _age_band(patient.birth_date, today),
    }


def _years_ago(today: date, years: int) -> date:
    try:
        return today.replace(year=today.year - years)
    except ValueError:  # today is 29 February
        return today.replace(year=today.year - years, day=28)


def _births(today: date, rng: random.Random) -> list[date | None]:
    """Every boundary of the age bands, both sides, and a spread of ordinary ones."""
    edges: list[date | None] = [None, date(1936, 2, 29)]
    for years in (75, 85, 95):
        exact = _years_ago(today, years)
        edges += [exact, exact + timedelta(days=1), exact - timedelta(days=1)]
    return edges + [today - timedelta(days=rng.randint(60 * 365, 100 * 365)) for _ in range(200)]


async def _add_patients(runtime: Runtime, today: date) -> list[tuple[Patient, RiskProfile | None]]:
    """Many patients of 西尾市, seeded random profiles; some archived, some without a profile."""
    rng = random.Random(20260401)
    added: list[tuple[Patient, RiskProfile | None]] = []
    async with runtime.db.transaction() as session:
        for n, born in enumerate(_births(today, rng)):
            patient = Patient(
                display_name=f"集計 {n}",
                birth_date=born,
                latitude=NISHIO_HOME[0],
                longitude=NISHIO_HOME[1],
                municipality_code=NISHIO,
                archived_at=datetime.now(UTC) if n % 17 == 5 else None,
            )
            session.add(patient)
            await session.flush()
            assert patient.id is not None
            risk = None
            if n % 23 != 7:
                risk = RiskProfile(
                    patient_id=patient.id,
                    care_level=rng.choice(list(CareLevel)).value,
                    mobility=rng.choice(list(Mobility)).value,
                    living=rng.choice(list(Living)).value,
                    devices=[{"kind": rng.choice(list(DeviceKind)).value}]
                    if rng.random() < 0.3
                    else [],
                )
                session.add(risk)
            added.append((patient, risk))
    return added


async def _expected(
    runtime: Runtime, added: list[tuple[Patient, RiskProfile | None]], today: date
) -> list[dict[str, str]]:
    """The labels of every live patient of 西尾市: the demo ones and those added."""
    async with runtime.db.session() as session:
        demo = await session.exec(
            select(Patient).where(
                Patient.municipality_code == NISHIO, col(Patient.external_ref).is_not(None)
            )
        )
        demo_rows = [(p, await session.get(RiskProfile, p.id)) for p in demo.all()]
    live = [(p, r) for p, r in [*demo_rows, *added] if p.archived_at is None]
    return [_labels(p, r, today) for p, r in live]


async def test_counts_match_the_patients_and_only_small_ones_are_hidden(
    gql: GraphQLClient, runtime: Runtime
) -> None:
    today = datetime.now(UTC).astimezone(JAPAN).date()
    added = await _add_patients(runtime, today)
    expected = await _expected(runtime, added, today)
    planner = await gql.login("planner.nishio")
    shown = 0
    for rows, columns in PAIRS:
        truth = Counter((e[rows], e[columns]) for e in expected)
        async with runtime.db.session() as session:
            exact = await count_by(
                session,
                municipality_code=NISHIO,
                rows=CountDimension[rows],
                columns=CountDimension[columns],
                today=today,
            )
        assert {k: v for k, v in exact.items() if v} == dict(truth), (rows, columns)

        table = await counts(planner, rows, columns)
        assert table["rows"] == list(LABELS[CountDimension[rows]])
        assert table["columns"] == list(LABELS[CountDimension[columns]])
        assert_nothing_small_is_published(table)
        assert table["total"] == len(expected)
        for r, row in enumerate(table["rows"]):
            for c, column in enumerate(table["columns"]):
                value = table["cells"][r][c]
                assert value is None or value == truth[(row, column)]
            total = sum(truth[(row, column)] for column in table["columns"])
            assert table["rowTotals"][r] in (None, total)
        hidden = sum(v is None for v in itertools.chain.from_iterable(table["cells"]))
        small = sum(1 <= n <= 10 for n in truth.values())
        assert hidden >= small
        shown += sum(v is not None and v > 10 for v in itertools.chain(*table["cells"]))
    assert shown > 0  # enough patients that large cells are published, and checked above


async def test_inside_an_active_incident_the_counts_are_whole(
    gql: GraphQLClient, runtime: Runtime, demo: dict[str, Any]
) -> None:
    incident = await demo_incident_id(runtime)
    inside = await patients_inside(runtime, decode_id("Incident", incident))
    async with runtime.db.session() as session:
        refs = await session.exec(select(Patient.external_ref).where(col(Patient.id).in_(inside)))
        keys = set(refs.all())
    patients = [p for p in demo["patients"] if p["key"] in keys]
    assert 1 <= len(patients) <= 10  # small enough that suppression would hide everything
    truth = Counter((p["risk"]["care_level"], p["risk"]["living"]) for p in patients)
    for username in ("planner.gamagori", "manager.gamagori"):
        client = await gql.login(username)
        table = await counts(client, "CARE_LEVEL", "LIVING", incidentId=incident)
        assert table["suppressed"] is False
        assert table["total"] == len(patients)
        cells = {
            (row, column): table["cells"][r][c]
            for r, row in enumerate(table["rows"])
            for c, column in enumerate(table["columns"])
        }
        assert cells == {k: truth.get(k, 0) for k in cells}
        assert sum(table["rowTotals"]) == sum(table["columnTotals"]) == len(patients)


async def test_an_ended_or_foreign_incident_is_not_found(
    gql: GraphQLClient, runtime: Runtime
) -> None:
    incident = await demo_incident_id(runtime)
    for username in ("planner.nishio", "manager.nishio"):
        client = await gql.login(username)
        result = await client.execute(
            COUNTS, {"rows": "CARE_LEVEL", "columns": "LIVING", "incidentId": incident}
        )
        assert error(result) == ("NOT_FOUND", None)
    planner = await gql.login("planner.gamagori")
    assert "errors" not in await planner.execute(END, {"id": incident})
    result = await planner.execute(
        COUNTS, {"rows": "CARE_LEVEL", "columns": "LIVING", "incidentId": incident}
    )
    assert error(result) == ("NOT_FOUND", None)


@pytest.mark.parametrize(
    "bad_id", ["", "nonsense", encode_id("Incident", 999_999), encode_id("Patient", 1), "x" * 5000]
)
async def test_an_id_that_names_no_incident_is_not_found(gql: GraphQLClient, bad_id: str) -> None:
    planner = await gql.login("planner.gamagori")
    result = await planner.execute(
        COUNTS, {"rows": "CARE_LEVEL", "columns": "LIVING", "incidentId": bad_id}
    )
    assert error(result) == ("NOT_FOUND", None)


@pytest.mark.parametrize("username", ["dr.suzuki", "cm.tanaka", "family.ito", "operator"])
async def test_anyone_else_is_forbidden(
    gql: GraphQLClient, runtime: Runtime, username: str
) -> None:
    client = await gql.login(username)
    for extra in ({}, {"incidentId": await demo_incident_id(runtime)}, {"incidentId": "x"}):
        result = await client.execute(COUNTS, {"rows": "CARE_LEVEL", "columns": "LIVING", **extra})
        assert error(result) == ("FORBIDDEN", None)


@one_database
async def test_signed_out_is_unauthenticated(gql: GraphQLClient) -> None:
    result = await gql.execute(COUNTS, {"rows": "CARE_LEVEL", "columns": "LIVING"})
    assert error_codes(result) == ["UNAUTHENTICATED"]


async def test_the_same_dimension_twice_or_an_unknown_one_is_bad_input(
    gql: GraphQLClient,
) -> None:
    planner = await gql.login("planner.gamagori")
    result = await planner.execute(COUNTS, {"rows": "LIVING", "columns": "LIVING"})
    assert error(result) == ("BAD_USER_INPUT", "columns")
    result = await planner.execute(COUNTS, {"rows": "LIVING", "columns": "NAME"})
    assert error_codes(result) == ["BAD_USER_INPUT"]
    result = await planner.execute(COUNTS, {"rows": "LIVING", "columns": "living"})
    assert error_codes(result) == ["BAD_USER_INPUT"]
