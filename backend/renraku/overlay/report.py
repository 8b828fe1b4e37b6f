"""What an incident leaves behind: how many people it listed, whom the checks reached and how
soon, where they stood at the end, and completion per district. Counts only, no names: it is
read by the municipality's manager as well as its planners (policies/roles.csv: incident, read).
A drill's report is its own, labelled as one, and never mixed into a real incident's.
"""

from __future__ import annotations

import statistics
from collections import Counter
from dataclasses import dataclass

from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from renraku.access.actor import Actor
from renraku.overlay.declarations import access_incident
from renraku.overlay.models import (
    SAFETY_STATUSES,
    Incident,
    IncidentPatient,
    SafetyCheck,
    SafetyUpdate,
)
from renraku.overlay.safety import district_of
from renraku.teams.models import Patient


@dataclass(frozen=True)
class District:
    district: str
    total: int
    reached: int


@dataclass(frozen=True)
class Report:
    incident: Incident
    listed: int
    reached: int
    by_status: dict[str, int]
    # Minutes from the incident's start until each person's first status, summarised.
    median_minutes_to_reach: float | None
    reached_within_hour: int
    districts: list[District]


async def access_report(session: AsyncSession, *, actor: Actor, incident_id: int) -> Report:
    incident = await access_incident(session, actor=actor, incident_id=incident_id, act="read")
    rows = await session.exec(
        select(Patient.id, Patient.address, SafetyCheck.status)
        .join(IncidentPatient, col(IncidentPatient.patient_id) == col(Patient.id))
        .join(
            SafetyCheck,
            (col(SafetyCheck.patient_id) == col(Patient.id))
            & (col(SafetyCheck.incident_id) == incident_id),
            isouter=True,
        )
        .where(IncidentPatient.incident_id == incident_id)
    )
    people = rows.all()
    firsts = await session.exec(
        select(SafetyUpdate.patient_id, func.min(SafetyUpdate.set_at))
        .where(SafetyUpdate.incident_id == incident_id)
        .group_by(col(SafetyUpdate.patient_id))
    )
    minutes = [
        (first - incident.starts_at).total_seconds() / 60
        for _pid, first in firsts.all()
        if first is not None
    ]
    statuses = Counter(status or "unknown" for _pid, _address, status in people)
    districts: dict[str, list[bool]] = {}
    for _pid, address, status in people:
        districts.setdefault(district_of(address), []).append((status or "unknown") != "unknown")
    return Report(
        incident=incident,
        listed=len(people),
        reached=len(people) - statuses["unknown"],
        by_status={s: statuses[s] for s in SAFETY_STATUSES},
        median_minutes_to_reach=round(statistics.median(minutes), 1) if minutes else None,
        reached_within_hour=sum(m <= 60 for m in minutes),
        districts=[
            District(name, len(flags), sum(flags)) for name, flags in sorted(districts.items())
        ],
    )
