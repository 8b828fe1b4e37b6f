"""The audit record of an actor's change to patients, written in the changing transaction.

Shared by every domain that changes patients (teams, feed): one record per command, carrying the
patients' ids and the action's name, never patient data.
"""

from __future__ import annotations

from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from renraku.access.actor import Actor
from renraku.audit import chain


async def audit(
    session: AsyncSession,
    *,
    actor: Actor,
    action: str,
    patient_ids: list[int],
    reason: str = "",
    detail: dict[str, Any] | None = None,
) -> None:
    await chain.append(
        session,
        actor_id=actor.user_id,
        actor_kind=actor.kind.value,
        action=action,
        object_type="patient",
        object_ids=patient_ids,
        reason=reason,
        detail=detail,
    )
