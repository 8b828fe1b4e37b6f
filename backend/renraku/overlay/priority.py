"""The priority list of an incident: every eligible person scored, explained and ranked.

Eligible are the live patients inside the incident's area (`incident_patient`, kept current as
areas and homes change). The hazard is the incident's: its level, the kinds named by its alerts
in force (or by the declaration's reason), the soonest onset. Each person is scored by the pure
model (overlay/priority_model.py) with the weights of policies/priority.toml for the incident's
municipality. Only a planner may ask (policies/roles.csv: incident, priority), and only while the
incident is in force: a pending, ended or past incident has no list. Register entries without a
care team will join the list when the register is imported.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from shapely.geometry import Point
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from renraku.access.actor import Actor
from renraku.alerts.models import Alert
from renraku.errors import Forbidden
from renraku.ids import encode_id
from renraku.overlay.areas import parse_area
from renraku.overlay.declarations import access_incident
from renraku.overlay.incidents import alert_in_force, alerts_of
from renraku.overlay.models import Incident, IncidentPatient, SafetyCheck
from renraku.overlay.priority_model import (
    Hazard,
    MatchedBy,
    Person,
    Rank,
    Scored,
    default_weights,
    hazard_kinds,
    rank_key,
    score,
)
from renraku.teams.models import Patient, RiskProfile
from renraku.timeutil import utcnow

# Degrees to metres, near enough at Japan's latitudes for ordering ties by depth inside an area.
METRES_PER_DEGREE = 111_000


class NotInForce(Forbidden):
    message = "The incident is not in force: its priority list is shown only while it is."


@dataclass(frozen=True)
class Entry:
    patient: Patient
    scored: Scored
    rank: Rank


def _hazard(incident: Incident, alerts: list[Alert]) -> Hazard:
    assert incident.id is not None
    texts = [incident.reason]
    for alert in alerts:
        texts += [alert.event, alert.headline]
        for info in alert.infos:
            texts += [str(info.get("event", "")), *map(str, info.get("kinds", {}) or {})]
    onsets = [a.onset for a in alerts if a.onset is not None]
    label = alerts[0].headline or alerts[0].event if alerts else incident.reason
    return Hazard(
        level=incident.level,
        kinds=hazard_kinds(" ".join(t for t in texts if t)),
        onset=min(onsets) if onsets else None,
        label=label[:120],
        source=encode_id("Incident", incident.id),
    )


def _person(patient: Patient, risk: RiskProfile | None, safety: str) -> Person:
    source = encode_id("Patient", patient.id or 0)
    if risk is None:
        return Person(source=source, last_visit_at=patient.last_visit_at, safety=safety)
    return Person(
        source=source,
        care_level=risk.care_level,
        mobility=risk.mobility,
        dementia=risk.dementia,
        sensory_impairment=risk.sensory_impairment,
        living=risk.living,
        devices=tuple((d["kind"], d.get("battery_hours")) for d in risk.devices),
        floor=risk.floor,
        landslide_zone=risk.landslide_zone,
        flood_depth_m=risk.flood_depth_m,
        tsunami_zone=risk.tsunami_zone,
        air_conditioning=risk.air_conditioning,
        supporter=risk.supporter,
        last_visit_at=patient.last_visit_at,
        safety=safety,
    )


def _matched_by(incident: Incident, patient: Patient) -> MatchedBy:
    if incident.area is None:
        return "declared" if incident.declared else "geocode"
    return "polygon" if patient.location_confidence == "high" else "geocode"


async def access_priority_list(
    session: AsyncSession, *, actor: Actor, incident_id: int, now: datetime | None = None
) -> tuple[Incident, list[Entry]]:
    """The incident's ranked list, highest priority first; Forbidden unless a planner may see it."""
    now = now or utcnow()
    incident = await access_incident(session, actor=actor, incident_id=incident_id, act="priority")
    if (
        incident.pending
        or incident.ended_at is not None
        or not (incident.starts_at <= now < incident.ends_at)
    ):
        raise NotInForce
    assert incident.id is not None
    alerts = [a for a in await alerts_of(session, incident.id) if alert_in_force(a, now)]
    hazard = _hazard(incident, alerts)
    weights = default_weights().weights_for(incident.municipality_code)
    area = parse_area(incident.area) if incident.area is not None else None
    rows = await session.exec(
        select(Patient, RiskProfile, SafetyCheck.status)
        .join(IncidentPatient, col(IncidentPatient.patient_id) == col(Patient.id))
        .join(RiskProfile, col(RiskProfile.patient_id) == col(Patient.id), isouter=True)
        .join(
            SafetyCheck,
            (col(SafetyCheck.patient_id) == col(Patient.id))
            & (col(SafetyCheck.incident_id) == incident.id),
            isouter=True,
        )
        .where(IncidentPatient.incident_id == incident.id, col(Patient.archived_at).is_(None))
    )
    entries = []
    for patient, risk, safety in rows.all():
        matched = _matched_by(incident, patient)
        person = _person(patient, risk, safety or "unknown")
        scored = score(person, replace(hazard, matched_by=matched), weights, now)
        depth = (
            area.boundary.distance(Point(patient.longitude, patient.latitude)) * METRES_PER_DEGREE
            if area is not None
            else None
        )
        entries.append(Entry(patient, scored, rank_key(scored, hazard.onset, depth)))
    entries.sort(key=lambda e: (e.rank, e.patient.id or 0))
    return incident, entries
