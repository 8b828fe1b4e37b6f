"""Shared by the incident and count tests: the demo incident, areas, and rows to compare."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from sqlalchemy import func
from sqlmodel import col, select

from renraku.ids import encode_id
from renraku.overlay.models import Incident, IncidentPatient
from renraku.runtime import Runtime
from renraku.teams.models import Patient
from renraku.timeutil import utcnow

GAMAGORI, NISHIO = "232149", "232131"
NISHIO_HOME = (34.8620, 137.0580)  # a demo patient's home in 西尾市

DECLARE = """
mutation($input: DeclareIncidentInput!) {
  declareIncident(input: $input) {
    id municipalityCode reason startsAt endsAt endedAt active patientCount area }
}
"""
END = "mutation($id: ID!) { endIncident(id: $id) { id active endedAt patientCount } }"
INCIDENTS = """
query($active: Boolean) { incidents(active: $active) { id municipalityCode active patientCount } }
"""
COUNTS = """
query($rows: CountDimension!, $columns: CountDimension!, $incidentId: ID) {
  patientCounts(rows: $rows, columns: $columns, incidentId: $incidentId) {
    rows columns cells rowTotals columnTotals total suppressed }
}
"""


def hours_from_now(hours: float) -> str:
    return (utcnow() + timedelta(hours=hours)).isoformat()


def incident_input(**overrides: Any) -> dict[str, Any]:
    """A valid DeclareIncidentInput for the whole municipality, with `overrides` applied."""
    values: dict[str, Any] = {"reason": "高潮警報（試験）", "endsAt": hours_from_now(12)}
    values.update(overrides)
    return values


def square(lat: float, lon: float, half: float = 0.002) -> dict[str, Any]:
    """A small GeoJSON square around a point ([longitude, latitude] order)."""
    ring = [
        [lon - half, lat - half],
        [lon + half, lat - half],
        [lon + half, lat + half],
        [lon - half, lat + half],
        [lon - half, lat - half],
    ]
    return {"type": "Polygon", "coordinates": [ring]}


def square_text(lat: float, lon: float, half: float = 0.002) -> str:
    return json.dumps(square(lat, lon, half))


async def demo_incident_id(runtime: Runtime, municipality_code: str = GAMAGORI) -> str:
    async with runtime.db.session() as session:
        found = (
            await session.exec(
                select(Incident.id).where(Incident.municipality_code == municipality_code)
            )
        ).first()
    assert found is not None
    return encode_id("Incident", found)


async def incident_rows(runtime: Runtime) -> list[tuple[Any, ...]]:
    """Every incident and every incident membership, to show nothing was stored."""
    async with runtime.db.session() as session:
        incidents = (await session.exec(select(Incident))).all()
        inside = (await session.exec(select(func.count()).select_from(IncidentPatient))).one()
    return [(e.id, e.ended_at, e.ends_at) for e in incidents] + [("inside", inside)]


async def patients_inside(runtime: Runtime, incident_pk: int) -> set[int]:
    async with runtime.db.session() as session:
        rows = await session.exec(
            select(IncidentPatient.patient_id).where(IncidentPatient.incident_id == incident_pk)
        )
        return set(rows.all())


async def live_patients(runtime: Runtime, municipality_code: str) -> list[Patient]:
    async with runtime.db.session() as session:
        rows = await session.exec(
            select(Patient).where(
                Patient.municipality_code == municipality_code,
                col(Patient.archived_at).is_(None),
            )
        )
        return list(rows.all())
