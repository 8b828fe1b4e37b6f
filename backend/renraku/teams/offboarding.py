"""Offboarding: a municipality manager takes a professional off every care team of the
municipality at once (they left the organisation, or should no longer see its patients).

In one transaction: every active membership on the municipality's live patients ends, open
invitations to its patients are revoked, each affected team's coordinator gets a notice, one audit
record lists the patients, and once committed the professional's live subscriptions hear of it.
Teams in other municipalities are not this manager's to change and stay as they are.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import col, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from renraku.access.accounts import relations_to_user
from renraku.access.actor import Actor
from renraku.access.enforcer import allowed
from renraku.access.scopes import active_membership
from renraku.accounts.models import User
from renraku.audit.changes import audit
from renraku.broker import Broker
from renraku.errors import NotFound
from renraku.kinds import TeamRole
from renraku.notices.actions import do_notify
from renraku.revocations import RevocationReason, revoke_on_commit
from renraku.runtime import Runtime
from renraku.teams.fields import MAX_NOTE
from renraku.teams.membership import membership_changed
from renraku.teams.models import Invitation, Patient, TeamMembership
from renraku.text import validate_text
from renraku.timeutil import utcnow

NOTICE_KIND = "member_offboarded"


@dataclass(frozen=True)
class AffectedTeam:
    patient_id: int
    # The coordinator after offboarding; None when the professional was the coordinator.
    coordinator: User | None


@dataclass(frozen=True)
class Offboarded:
    user: User
    teams: list[AffectedTeam]
    ended_memberships: int
    revoked_invitations: int


async def access_professional_to_offboard(
    session: AsyncSession, *, actor: Actor, user_id: int
) -> User:
    """The professional the actor may offboard; NotFound for missing and not-allowed alike."""
    user = await session.get(User, user_id)
    if user is None:
        raise NotFound
    relations = await relations_to_user(session, actor, user)
    if not allowed(relations, f"account.{user.kind}", "offboard"):
        raise NotFound
    return user


async def check_offboard_professional(
    runtime: Runtime, *, actor: Actor, user_id: int, reason: str | None
) -> Offboarded:
    """End all of the professional's memberships in the actor's municipality."""
    async with runtime.db.transaction() as session:
        user = await access_professional_to_offboard(session, actor=actor, user_id=user_id)
        text = validate_text(reason, name="reason", max_length=MAX_NOTE, note=True)
        assert actor.municipality_code is not None  # a manager's relation needs one
        done = await do_offboard_professional(
            session,
            runtime.broker,
            actor=actor,
            user=user,
            municipality_code=actor.municipality_code,
            reason=text,
        )
        revoke_on_commit(
            session,
            runtime,
            user_id=user_id,
            patient_ids=[t.patient_id for t in done.teams],
            reason=RevocationReason.OFFBOARDED,
        )
    return done


async def do_offboard_professional(
    session: AsyncSession,
    broker: Broker,
    *,
    actor: Actor,
    user: User,
    municipality_code: str,
    reason: str,
) -> Offboarded:
    assert user.id is not None
    uid = user.id
    now = utcnow()
    municipal_patients = select(Patient.id).where(
        col(Patient.municipality_code) == municipality_code, col(Patient.archived_at).is_(None)
    )
    affected = (
        await session.exec(
            select(TeamMembership.patient_id)
            .where(
                col(TeamMembership.user_id) == uid,
                active_membership(),
                col(TeamMembership.patient_id).in_(municipal_patients),
            )
            .distinct()
        )
    ).all()
    patient_ids = sorted(affected)
    if patient_ids:
        # The same per-patient lock as every other team change, taken in one order.
        await session.exec(
            select(Patient.id)
            .where(col(Patient.id).in_(patient_ids))
            .order_by(col(Patient.id))
            .with_for_update()
        )
    memberships = (
        await session.exec(
            select(TeamMembership).where(
                col(TeamMembership.user_id) == uid,
                active_membership(),
                col(TeamMembership.patient_id).in_(patient_ids),
            )
        )
    ).all()
    for membership in memberships:
        membership.ends_at = now
        session.add(membership)
    revoked = await session.exec(
        update(Invitation)
        .where(
            col(Invitation.user_id) == uid,
            col(Invitation.patient_id).in_(municipal_patients),
            col(Invitation.accepted_at).is_(None),
            col(Invitation.revoked_at).is_(None),
        )
        .values(revoked_at=now)
    )
    await session.flush()
    coordinators = await _coordinators(session, patient_ids)
    for patient_id in patient_ids:
        coordinator = coordinators.get(patient_id)
        if coordinator is not None and coordinator.id is not None:
            await do_notify(
                session,
                user_ids=[coordinator.id],
                kind=NOTICE_KIND,
                patient_id=patient_id,
                data={"user_id": uid},
            )
        membership_changed(
            session, broker, patient_id=patient_id, user_ids=[uid], actor_id=actor.user_id
        )
    await audit(
        session,
        actor=actor,
        action="teams.professional_offboarded",
        patient_ids=patient_ids,
        reason=reason,
        detail={
            "user_id": uid,
            "memberships": len(memberships),
            "invitations": int(revoked.rowcount),
        },
    )
    return Offboarded(
        user=user,
        teams=[AffectedTeam(pid, coordinators.get(pid)) for pid in patient_ids],
        ended_memberships=len(memberships),
        revoked_invitations=int(revoked.rowcount),
    )


async def _coordinators(session: AsyncSession, patient_ids: list[int]) -> dict[int, User]:
    """Each patient's active coordinator, if the team has one."""
    if not patient_ids:
        return {}
    rows = await session.exec(
        select(TeamMembership.patient_id, User)
        .join(User, col(User.id) == col(TeamMembership.user_id))
        .where(
            col(TeamMembership.patient_id).in_(patient_ids),
            col(TeamMembership.role) == TeamRole.COORDINATOR.value,
            active_membership(),
        )
    )
    return dict(rows.all())
