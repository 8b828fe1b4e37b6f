"""Care-team membership: add and end; an accepted invitation (teams/invitations.py) joins here.

A team has at most one coordinator: naming a new one demotes the previous one to member. Ending a
membership sets its end to now, so the member's very next request no longer sees the patient; a
membership given an end date expires by itself (scopes.active_membership reads ends_at).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import col, update
from sqlmodel.ext.asyncio.session import AsyncSession

from renraku.access.actor import Actor
from renraku.access.gate import Gate
from renraku.accounts.models import User
from renraku.audit.changes import audit
from renraku.broker import Broker
from renraku.errors import BadInput, NotFound
from renraku.feed import events
from renraku.feed.events import NewEvent
from renraku.kinds import FeedAudience, FeedEventKind, TeamRole, UserKind
from renraku.revocations import RevocationReason, revoke_on_commit
from renraku.runtime import Runtime
from renraku.teams import service
from renraku.teams.fields import MAX_NOTE
from renraku.teams.models import Invitation, Patient, TeamMembership
from renraku.text import validate_text
from renraku.timeutil import utcnow

# Which kinds of account may hold which team role.
_KINDS_FOR_ROLE = {
    TeamRole.COORDINATOR: frozenset({UserKind.PROFESSIONAL}),
    TeamRole.MEMBER: frozenset({UserKind.PROFESSIONAL}),
    TeamRole.FAMILY: frozenset({UserKind.FAMILY, UserKind.PATIENT}),
}


@dataclass(frozen=True)
class Joined:
    membership: TeamMembership
    user: User
    demoted: list[int]  # user ids of the previous coordinator, if one was replaced


def pk(row: Patient | User | Invitation) -> int:
    assert row.id is not None
    return row.id


def kinds_for(role: TeamRole) -> frozenset[str]:
    """The kinds of account that may take `role` on a care team."""
    return frozenset(k.value for k in _KINDS_FOR_ROLE[role])


async def eligible_user(
    session: AsyncSession, *, user_id: int, role: TeamRole, patient: Patient
) -> User:
    """The user if they may join the patient's team in `role`.

    Accounts of other municipalities do not exist for this purpose (NotFound); an account of the
    wrong kind for the role is a BadInput on `role`.
    """
    user = await session.get(User, user_id)
    if user is None or not user.active or user.municipality_code != patient.municipality_code:
        raise NotFound
    if UserKind(user.kind) not in _KINDS_FOR_ROLE[role]:
        raise BadInput("This account cannot take this role on a care team.", field="role")
    return user


def validate_until(until: datetime | None) -> None:
    if until is None:
        return
    if until.tzinfo is None:
        raise BadInput("until needs a time zone.", field="until")
    if until <= utcnow():
        raise BadInput("until must lie in the future.", field="until")


def membership_changed(
    session: AsyncSession,
    broker: Broker,
    *,
    patient_id: int,
    user_ids: list[int],
    actor_id: int | None,
) -> None:
    """Tell the team's live feed that these users' memberships changed (in this transaction)."""
    events.append(
        session,
        broker,
        [
            NewEvent(
                patient_id=patient_id,
                kind=FeedEventKind.MEMBERSHIP_CHANGED,
                audience=FeedAudience.TEAM,
                actor_id=actor_id,
                subject_user_id=uid,
            )
            for uid in user_ids
        ],
    )


async def join(
    session: AsyncSession,
    broker: Broker,
    *,
    patient: Patient,
    user: User,
    role: TeamRole,
    until: datetime | None,
    added_by: int | None,
    actor_id: int | None,
) -> Joined:
    """Give `user` the role on the patient's team (a member already there changes role)."""
    pid, uid = pk(patient), pk(user)
    demoted: list[int] = []
    if role is TeamRole.COORDINATOR:
        for previous in await service.active_coordinators(session, patient_id=pid):
            if previous.user_id != uid:
                previous.role = TeamRole.MEMBER.value
                session.add(previous)
                demoted.append(previous.user_id)
    current = await service.active_memberships(session, patient_id=pid, user_id=uid)
    if current:
        membership = current[0]
        membership.role = role.value
        membership.ends_at = until
    else:
        membership = TeamMembership(
            patient_id=pid, user_id=uid, role=role.value, ends_at=until, added_by=added_by
        )
    session.add(membership)
    await session.flush()
    membership_changed(session, broker, patient_id=pid, user_ids=[uid, *demoted], actor_id=actor_id)
    return Joined(membership=membership, user=user, demoted=demoted)


async def check_add_member(
    runtime: Runtime,
    *,
    gate: Gate,
    patient_id: int,
    user_id: int,
    role: TeamRole,
    until: datetime | None,
) -> Joined:
    """Put a user on the patient's team directly (a manager or the team's coordinator)."""
    validate_until(until)
    async with runtime.db.transaction() as session:
        # Decided on the actor's roles as this transaction reads them, the team held still.
        await gate.load_for_write(session, [patient_id], exclusive=True)
        await gate.require(patient_id, "team", "manage")
        patient = await service.get_live_patient(session, patient_id, for_update=True)
        user = await eligible_user(session, user_id=user_id, role=role, patient=patient)
        current = await service.active_memberships(session, patient_id=patient_id, user_id=user_id)
        if any(m.role == role.value and m.ends_at == until for m in current):
            raise BadInput("This user is already on the team in this role.", field="userId")
        return await do_add_member(
            session,
            runtime.broker,
            actor=gate.actor,
            patient=patient,
            user=user,
            role=role,
            until=until,
        )


async def do_add_member(
    session: AsyncSession,
    broker: Broker,
    *,
    actor: Actor,
    patient: Patient,
    user: User,
    role: TeamRole,
    until: datetime | None,
) -> Joined:
    joined = await join(
        session,
        broker,
        patient=patient,
        user=user,
        role=role,
        until=until,
        added_by=actor.user_id,
        actor_id=actor.user_id,
    )
    await audit(
        session,
        actor=actor,
        action="teams.member_added",
        patient_ids=[pk(patient)],
        detail={"user_id": pk(user), "role": role.value, "demoted_user_ids": joined.demoted},
    )
    return joined


async def check_end_membership(
    runtime: Runtime, *, gate: Gate, patient_id: int, user_id: int, reason: str
) -> Joined:
    """Take a user off the patient's team, at once."""
    text = validate_text(reason, name="reason", max_length=MAX_NOTE, required=True, note=True)
    async with runtime.db.transaction() as session:
        await gate.load_for_write(session, [patient_id], exclusive=True)
        await gate.require(patient_id, "team", "manage")
        patient = await service.get_live_patient(session, patient_id, for_update=True)
        current = await service.active_memberships(session, patient_id=patient_id, user_id=user_id)
        user = await session.get(User, user_id)
        if not current or user is None:
            raise NotFound
        ended = await do_end_membership(
            session,
            runtime.broker,
            actor=gate.actor,
            patient=patient,
            user=user,
            current=current,
            reason=text,
        )
        revoke_on_commit(
            session,
            runtime,
            user_id=user_id,
            patient_ids=[patient_id],
            reason=RevocationReason.MEMBERSHIP_ENDED,
        )
        return ended


async def do_end_membership(
    session: AsyncSession,
    broker: Broker,
    *,
    actor: Actor,
    patient: Patient,
    user: User,
    current: list[TeamMembership],
    reason: str,
) -> Joined:
    now = utcnow()
    for membership in current:
        membership.ends_at = now
        session.add(membership)
    # An open invitation would let the removed user walk straight back in.
    await session.exec(
        update(Invitation)
        .where(
            col(Invitation.patient_id) == pk(patient),
            col(Invitation.user_id) == pk(user),
            col(Invitation.accepted_at).is_(None),
            col(Invitation.revoked_at).is_(None),
        )
        .values(revoked_at=now)
    )
    membership_changed(
        session, broker, patient_id=pk(patient), user_ids=[pk(user)], actor_id=actor.user_id
    )
    await audit(
        session,
        actor=actor,
        action="teams.member_removed",
        patient_ids=[pk(patient)],
        reason=reason,
        detail={"user_id": pk(user)},
    )
    return Joined(membership=current[0], user=user, demoted=[])
