"""Invitations to a care team: a coordinator or manager invites; only the invitee answers.

The invitee accepts in the app, signed in, by the invitation's id; an invitation that has expired,
was declined or revoked, or was accepted already answers NOT_FOUND, as does anyone else's.
"""

from __future__ import annotations

from datetime import timedelta

from sqlmodel.ext.asyncio.session import AsyncSession

from renraku.access.actor import Actor
from renraku.access.gate import Gate
from renraku.accounts import secrets
from renraku.accounts.models import User
from renraku.audit.changes import audit
from renraku.broker import Broker
from renraku.errors import BadInput
from renraku.kinds import TeamRole
from renraku.notices.actions import do_notify
from renraku.runtime import Runtime
from renraku.teams import membership, service
from renraku.teams.membership import Joined, pk
from renraku.teams.models import Invitation, Patient
from renraku.timeutil import utcnow

INVITATION_NOTICE = "team_invitation"


async def check_invite(
    runtime: Runtime, *, gate: Gate, patient_id: int, user_id: int, role: TeamRole
) -> Invitation:
    """Invite a user to the patient's team; they join when they accept."""
    async with runtime.db.transaction() as session:
        # Decided on the actor's roles as this transaction reads them, the team held still.
        await gate.load_for_write(session, [patient_id], exclusive=True)
        await gate.require(patient_id, "invitation", "create")
        patient = await service.get_live_patient(session, patient_id, for_update=True)
        user = await membership.eligible_user(session, user_id=user_id, role=role, patient=patient)
        current = await service.active_memberships(session, patient_id=patient_id, user_id=user_id)
        if any(m.role == role.value for m in current):
            raise BadInput("This user is already on the team in this role.", field="userId")
        if await service.open_invitation_exists(session, patient_id=patient_id, user_id=user_id):
            raise BadInput("This user already has an open invitation to this team.", field="userId")
        return await do_invite(
            session,
            actor=gate.actor,
            patient=patient,
            user=user,
            role=role,
            days=runtime.settings.invitation_days,
        )


async def do_invite(
    session: AsyncSession, *, actor: Actor, patient: Patient, user: User, role: TeamRole, days: int
) -> Invitation:
    # The token is for links sent by other channels; only its hash is kept, and the in-app answer
    # goes by the invitation's id, so the token itself is not needed here.
    _token, digest = secrets.new_token()
    now = utcnow()
    invitation = Invitation(
        token_hash=digest,
        user_id=pk(user),
        patient_id=pk(patient),
        role=role.value,
        invited_by=actor.user_id,
        created_at=now,
        expires_at=now + timedelta(days=days),
    )
    session.add(invitation)
    await session.flush()
    await audit(
        session,
        actor=actor,
        action="teams.invitation_created",
        patient_ids=[pk(patient)],
        detail={"invitation_id": invitation.id, "user_id": pk(user), "role": role.value},
    )
    # No patient on the notice: the invitee learns whose team it is on accepting.
    await do_notify(
        session,
        user_ids=[pk(user)],
        kind=INVITATION_NOTICE,
        patient_id=None,
        data={"invitation_id": pk(invitation), "role": role.value},
    )
    return invitation


async def check_accept_invitation(runtime: Runtime, *, actor: Actor, invitation_id: int) -> Joined:
    """Join the team the actor was invited to; NotFound unless the invitation is theirs and open."""
    async with runtime.db.transaction() as session:
        invitation = await service.access_invitation(
            session, actor=actor, invitation_id=invitation_id
        )
        assert invitation.patient_id is not None
        patient = await service.get_live_patient(session, invitation.patient_id, for_update=True)
        # Looked at again under the team's lock: a removal that revoked it meanwhile has
        # committed by now, and the WHERE of a new statement sees that.
        invitation = await service.access_invitation(
            session, actor=actor, invitation_id=invitation_id
        )
        assert invitation.role is not None
        role = TeamRole(invitation.role)
        user = await membership.eligible_user(
            session, user_id=actor.user_id, role=role, patient=patient
        )
        return await do_accept_invitation(
            session, runtime.broker, actor=actor, invitation=invitation, patient=patient, user=user
        )


async def do_accept_invitation(
    session: AsyncSession,
    broker: Broker,
    *,
    actor: Actor,
    invitation: Invitation,
    patient: Patient,
    user: User,
) -> Joined:
    assert invitation.role is not None
    role = TeamRole(invitation.role)
    joined = await membership.join(
        session,
        broker,
        patient=patient,
        user=user,
        role=role,
        until=None,
        added_by=invitation.invited_by,
        actor_id=actor.user_id,
    )
    invitation.accepted_at = utcnow()
    session.add(invitation)
    await audit(
        session,
        actor=actor,
        action="teams.invitation_accepted",
        patient_ids=[pk(patient)],
        detail={
            "invitation_id": pk(invitation),
            "role": role.value,
            "demoted_user_ids": joined.demoted,
        },
    )
    return joined


async def check_decline_invitation(
    runtime: Runtime, *, actor: Actor, invitation_id: int
) -> Invitation:
    """Turn the invitation down; it can no longer be accepted."""
    async with runtime.db.transaction() as session:
        invitation = await service.access_invitation(
            session, actor=actor, invitation_id=invitation_id
        )
        return await do_decline_invitation(session, actor=actor, invitation=invitation)


async def do_decline_invitation(
    session: AsyncSession, *, actor: Actor, invitation: Invitation
) -> Invitation:
    # A declined invitation is one its invitee revoked: there is no separate state to keep.
    invitation.revoked_at = utcnow()
    session.add(invitation)
    assert invitation.patient_id is not None
    await audit(
        session,
        actor=actor,
        action="teams.invitation_declined",
        patient_ids=[invitation.patient_id],
        detail={"invitation_id": pk(invitation)},
    )
    return invitation
