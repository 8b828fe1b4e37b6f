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
    SafetyUpdate,
)
from renraku.overlay.safety import DistrictCounts, per_district, statuses_of


@dataclass(frozen=True)
class Report:
    incident: Incident
    listed: int
    reached: int
    by_status: dict[str, int]
    # Minutes from the incident's start until each person's first status, summarised.
    median_minutes_to_reach: float | None
    reached_within_hour: int
    districts: list[DistrictCounts]


async def access_report(session: AsyncSession, *, actor: Actor, incident_id: int) -> Report:
    incident = await access_incident(session, actor=actor, incident_id=incident_id, act="read")
    people = await statuses_of(session, incident_id, live_only=False)
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
    statuses = Counter(status for _address, status in people)
    return Report(
        incident=incident,
        listed=len(people),
        reached=len(people) - statuses["unknown"],
        by_status={s: statuses[s] for s in SAFETY_STATUSES},
        median_minutes_to_reach=round(statistics.median(minutes), 1) if minutes else None,
        reached_within_hour=sum(m <= 60 for m in minutes),
        districts=per_district(people),
    )
