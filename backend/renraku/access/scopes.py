"""Which patients an actor may see, as SQL, and the actor's roles on given patients.

Every list of patients is filtered here, in the query; nothing is fetched and then filtered.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    CompoundSelect,
    and_,
    bindparam,
    exists,
    false,
    literal,
    or_,
    union_all,
)
from sqlalchemy.orm import aliased
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from renraku.access.actor import Actor
from renraku.glass.models import GlassAccess, live_glass
from renraku.kinds import ConsentKind, UserKind
from renraku.overlay.models import Incident, IncidentPatient, active_incident
from renraku.teams.models import Consent, Patient, TeamMembership
from renraku.timeutil import utcnow

MANAGER = "manager"
# A planner sees a patient inside an active incident of their municipality, or one who consented
# to sharing with planners in normal times; the two roles allow the same minimum-necessary fields
# but are audited with different reasons.
PLANNER = "planner"
PLANNER_CONSENT = "planner_consent"
# A clinician not on the team who broke the glass (glass/actions.py): read-only, for a while.
GLASS = "glass"


def active_membership(now: ColumnElement[datetime] | datetime | None = None) -> ColumnElement[bool]:
    """A WHERE clause on TeamMembership: the memberships in force `now` (by default the present;
    a bind parameter in the statements built once, below)."""
    now = utcnow() if now is None else now
    return and_(
        col(TeamMembership.starts_at) <= now,
        or_(col(TeamMembership.ends_at).is_(None), col(TeamMembership.ends_at) > now),
    )


def in_active_incident() -> ColumnElement[bool]:
    return exists().where(
        col(IncidentPatient.patient_id) == col(Patient.id),
        col(IncidentPatient.incident_id) == col(Incident.id),
        active_incident(),
    )


def consented_to_planners() -> ColumnElement[bool]:
    """The latest planner-sharing consent record of the patient grants it."""
    newer = aliased(Consent)
    return exists().where(
        col(Consent.patient_id) == col(Patient.id),
        col(Consent.kind) == ConsentKind.PLANNER_SHARING.value,
        col(Consent.granted).is_(True),
        ~exists().where(
            col(newer.patient_id) == col(Consent.patient_id),
            col(newer.kind) == col(Consent.kind),
            or_(
                col(newer.recorded_at) > col(Consent.recorded_at),
                and_(
                    col(newer.recorded_at) == col(Consent.recorded_at),
                    col(newer.id) > col(Consent.id),
                ),
            ),
        ),
    )


def visible_patients(actor: Actor) -> ColumnElement[bool]:
    """A WHERE clause on Patient: the patients `actor` may see at all."""
    live = col(Patient.archived_at).is_(None)
    if actor.is_team_kind:
        # IN over the (user_id, patient_id) index: a correlated EXISTS made SQLite scan every
        # patient (about 1 s at 410,000 patients; bench/access.py).
        mine = select(TeamMembership.patient_id).where(
            col(TeamMembership.user_id) == actor.user_id, active_membership()
        )
        return and_(live, col(Patient.id).in_(mine))
    if actor.kind is UserKind.MUNICIPALITY and actor.municipality_code:
        return and_(live, col(Patient.municipality_code) == actor.municipality_code)
    if actor.kind is UserKind.PLANNER and actor.municipality_code:
        return and_(
            live,
            col(Patient.municipality_code) == actor.municipality_code,
            or_(in_active_incident(), consented_to_planners()),
        )
    # Operators never see patient data.
    return false()


async def roles_on(
    session: AsyncSession, actor: Actor, patient_ids: Sequence[int]
) -> dict[int, frozenset[str]]:
    """The actor's roles on each patient, batched (patients not visible get no roles)."""
    roles: dict[int, set[str]] = defaultdict(set)
    if not patient_ids:
        return {}
    ids = list(dict.fromkeys(patient_ids))
    if actor.is_team_kind:
        found = await _team_and_glass(session, user_id=actor.user_id, patient_ids=ids)
        roles.update({pid: set(r) for (pid, _uid), r in found.items()})
    elif actor.kind is UserKind.PLANNER:
        incident = in_active_incident().label("incident")
        consent = consented_to_planners().label("consent")
        rows3 = await session.exec(
            select(Patient.id, incident, consent).where(
                col(Patient.id).in_(ids), visible_patients(actor)
            )
        )
        for patient_id3, in_incident, consented in rows3.all():
            assert patient_id3 is not None
            if in_incident:
                roles[patient_id3].add(PLANNER)
            if consented:
                roles[patient_id3].add(PLANNER_CONSENT)
    elif actor.kind is UserKind.MUNICIPALITY:
        rows2 = await session.exec(
            select(Patient.id).where(col(Patient.id).in_(ids), visible_patients(actor))
        )
        for patient_id2 in rows2.all():
            assert patient_id2 is not None
            roles[patient_id2].add(MANAGER)
    return {pid: frozenset(r) for pid, r in roles.items()}


async def roles_by_patient(
    session: AsyncSession, patient_ids: Sequence[int]
) -> dict[int, dict[int, frozenset[str]]]:
    """Every team-kind user's roles on each of some patients, by patient then user: who may hear
    of a change to them (the live feed re-checks a batch of events with these two queries)."""
    if not patient_ids:
        return {}
    found = await _team_and_glass(session, patient_ids=list(dict.fromkeys(patient_ids)))
    by_patient: dict[int, dict[int, frozenset[str]]] = defaultdict(dict)
    for (patient_id, user_id), roles in found.items():
        by_patient[patient_id][user_id] = frozenset(roles)
    return dict(by_patient)


async def roles_by_user(session: AsyncSession, patient_id: int) -> dict[int, frozenset[str]]:
    """Every team-kind user's roles on one patient; an archived patient has no one."""
    return (await roles_by_patient(session, [patient_id])).get(patient_id, {})


async def roles_of_user(session: AsyncSession, actor: Actor) -> dict[int, frozenset[str]]:
    """The actor's roles on every patient they are on the team of or hold a live glass grant for."""
    if not actor.is_team_kind:
        return {}
    found = await _team_and_glass(session, user_id=actor.user_id)
    return {pid: frozenset(r) for (pid, _uid), r in found.items()}


async def _team_and_glass(
    session: AsyncSession,
    *,
    user_id: int | None = None,
    patient_ids: Sequence[int] | None = None,
) -> dict[tuple[int, int], set[str]]:
    """Active care-team roles, plus `glass` for a live break-the-glass grant (glass/actions.py),
    on patients not archived; keyed by (patient, user)."""
    params: dict[str, Any] = {"now": utcnow()}
    if user_id is not None:
        params["user_id"] = user_id
    if patient_ids is not None:
        params["patient_ids"] = list(patient_ids)
    query = _team_and_glass_query(by_user=user_id is not None, by_patients=patient_ids is not None)
    connection = await session.connection()
    roles: dict[tuple[int, int], set[str]] = defaultdict(set)
    for patient_id, member_id, role in (await connection.execute(query, params)).all():
        roles[(patient_id, member_id)].add(role)
    return roles


@cache
def _team_and_glass_query(*, by_user: bool, by_patients: bool) -> CompoundSelect[int, int, str]:
    """The roles query of _team_and_glass for one shape of filter, built once and run with
    parameters (now, user_id, patient_ids): building and keying a statement this size for every
    request cost more than running it. Glass grants come as rows whose role is `glass`."""
    now: BindParameter[datetime] = bindparam("now")
    team = (
        select(
            col(TeamMembership.patient_id), col(TeamMembership.user_id), col(TeamMembership.role)
        )
        .join(Patient, col(Patient.id) == TeamMembership.patient_id)
        .where(active_membership(now), col(Patient.archived_at).is_(None))
    )
    glass = (
        select(col(GlassAccess.patient_id), col(GlassAccess.user_id), literal(GLASS))
        .join(Patient, col(Patient.id) == GlassAccess.patient_id)
        .where(live_glass(now), col(Patient.archived_at).is_(None))
    )
    if by_user:
        team = team.where(col(TeamMembership.user_id) == bindparam("user_id"))
        glass = glass.where(col(GlassAccess.user_id) == bindparam("user_id"))
    if by_patients:
        ids: BindParameter[list[int]] = bindparam("patient_ids", expanding=True)
        team = team.where(col(TeamMembership.patient_id).in_(ids))
        glass = glass.where(col(GlassAccess.patient_id).in_(ids))
    return union_all(team, glass)
