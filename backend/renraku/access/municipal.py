"""Decisions about a municipality as a whole: creating patients, incidents, counts.

The actor's relation to the municipality (its team manager, its planner, or none) comes from the
actor; what that relation allows lives in policies/roles.csv, like every other decision.
"""

from __future__ import annotations

from renraku.access.actor import Actor
from renraku.access.enforcer import allowed
from renraku.access.scopes import MANAGER, PLANNER
from renraku.errors import Forbidden
from renraku.kinds import UserKind


def relations_to_municipality(actor: Actor, municipality_code: str) -> frozenset[str]:
    """The actor's roles on the municipality: `manager` for its own team managers, `planner`
    for its own emergency planners, else none."""
    if actor.municipality_code is None or actor.municipality_code != municipality_code:
        return frozenset()
    if actor.kind is UserKind.MUNICIPALITY:
        return frozenset({MANAGER})
    if actor.kind is UserKind.PLANNER:
        return frozenset({PLANNER})
    return frozenset()


def require_manager_of(actor: Actor, municipality_code: str, *, obj: str, act: str) -> None:
    """Return if the actor may do `act` on `obj` in the municipality; Forbidden otherwise.

    Forbidden, not NotFound: municipalities and their codes are public open data.
    """
    if not allowed(relations_to_municipality(actor, municipality_code), obj, act):
        raise Forbidden
