"""Who may read and write which posts of a patient's notebook (rules in policies/roles.csv).

A reader sees the whole timeline (`timeline` read: team professionals, break-the-glass) or only
the posts shared with family (`timeline.family` read); anyone else who may see the patient gets
FORBIDDEN, and whoever may not see it NOT_FOUND.
"""

from __future__ import annotations

from enum import StrEnum

from renraku.access.actor import Actor
from renraku.access.enforcer import allowed
from renraku.access.gate import Gate
from renraku.errors import Forbidden
from renraku.kinds import TeamRole


class Scope(StrEnum):
    ALL = "all"
    FAMILY = "family"


async def timeline_scope(gate: Gate, patient_id: int) -> Scope:
    """Which of the patient's posts the actor may read; NotFound/Forbidden if none."""
    if await gate.may(patient_id, "timeline", "read"):
        return Scope.ALL
    if await gate.may(patient_id, "timeline.family", "read"):
        return Scope.FAMILY
    await gate.require(patient_id, "timeline", "read")  # raises, and records the refusal
    raise Forbidden  # unreachable: require() raised


def scope_of(roles: frozenset[str]) -> Scope | None:
    """The same decision from roles already known (a live subscription's re-check)."""
    if allowed(roles, "timeline", "read"):
        return Scope.ALL
    if allowed(roles, "timeline.family", "read"):
        return Scope.FAMILY
    return None


def team_roles_reading(scope: Scope) -> list[str]:
    """The team roles whose members read the timeline with `scope` (for list queries in SQL)."""
    obj = "timeline" if scope is Scope.ALL else "timeline.family"
    full = [r.value for r in TeamRole if allowed({r.value}, "timeline", "read")]
    if scope is Scope.ALL:
        return full
    return [r.value for r in TeamRole if r.value not in full and allowed({r.value}, obj, "read")]


async def require_post_create(
    gate: Gate, patient_id: int, *, instruction: bool, visible_to_family: bool
) -> frozenset[str]:
    """The actor's roles if they may write this post; family may only write family-visible ones."""
    actor = gate.actor
    if await gate.may(patient_id, "post", "create"):
        roles = await gate.roles(patient_id)
    else:
        roles = await gate.require(patient_id, "post.family", "create")
        if not visible_to_family or instruction:
            raise Forbidden
    if instruction and not may_write_instructions(actor):
        raise Forbidden
    return roles


def may_write_instructions(actor: Actor) -> bool:
    return actor.profession is not None and allowed(
        {f"profession.{actor.profession}"}, "post.instruction", "create"
    )
