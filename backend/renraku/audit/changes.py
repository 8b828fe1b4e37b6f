"""The audit record of a change, written in the changing transaction: one per command, with the
actor (or the system), the action's name and the ids of what it changed, never patient data.
Every domain's do_* functions write theirs through `record` (or `audit`, for patients).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from renraku.access.actor import SYSTEM_ACTOR_KIND, Actor
from renraku.audit import chain


async def record(
    session: AsyncSession,
    *,
    actor: Actor | None,
    action: str,
    object_type: str = "",
    object_ids: Sequence[int] = (),
    reason: str = "",
    detail: dict[str, Any] | None = None,
) -> None:
    """The record of `actor`'s change (None: the system's, a job or a command-line task)."""
    await chain.append(
        session,
        actor_id=actor.user_id if actor else None,
        actor_kind=actor.kind.value if actor else SYSTEM_ACTOR_KIND,
        action=action,
        object_type=object_type,
        object_ids=object_ids,
        reason=reason,
        detail=detail,
    )


async def audit(
    session: AsyncSession,
    *,
    actor: Actor,
    action: str,
    patient_ids: list[int],
    reason: str = "",
    detail: dict[str, Any] | None = None,
) -> None:
    """The record of `actor`'s change to patients."""
    await record(
        session,
        actor=actor,
        action=action,
        object_type="patient",
        object_ids=patient_ids,
        reason=reason,
        detail=detail,
    )
