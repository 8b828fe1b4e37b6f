"""The Casbin enforcer over policies/, and one decide() for every permission question.

Roles come from the request (the actor's relation to the patient), not from Casbin policy rows:
see DESIGN.md "Casbin holds the rules, SQL holds the memberships".
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import casbin

from renraku.access.vocabulary import PolicyError, check_words
from renraku.package_data import POLICIES, package_folder

# cache_key_order indexes the (obj, act) columns, so each decision scans only the rows for them.
_CACHE_KEY_ORDER = (1, 2)


@dataclass(frozen=True, slots=True)
class RoleSubject:
    role: str


def policies_dir() -> Path:
    configured = os.environ.get("RENRAKU_POLICIES")
    if configured:
        return Path(configured)
    return package_folder(POLICIES)


@cache
def enforcer() -> casbin.FastEnforcer:
    folder = policies_dir()
    return casbin.FastEnforcer(
        str(folder / "model.conf"),
        str(folder / "roles.csv"),
        cache_key_order=list(_CACHE_KEY_ORDER),
    )


def check_policy() -> None:
    """Load policies/ and check every rule's words against the vocabulary (access/vocabulary.py):
    a typo fails the server's start instead of denying in silence. PolicyError names the rule."""
    rules = enforcer().get_policy()
    if not rules:
        raise PolicyError("policies/roles.csv holds no rule")
    for rule in rules:
        if len(rule) != 3:
            raise PolicyError(f"rule {', '.join(rule)}: expected role, object, action")
        role, obj, act = rule
        try:
            check_words(obj=obj, act=act, role=role)
        except PolicyError as exc:
            raise PolicyError(f"rule {role}, {obj}, {act}: {exc}") from None


@cache
def _decide_role(role: str, obj: str, act: str) -> bool:
    # Decisions depend only on the policy files, which are read once per process.
    return bool(enforcer().enforce(RoleSubject(role), obj, act))


def allowed(roles: Iterable[str], obj: str, act: str) -> bool:
    """True if any of `roles` may do `act` on `obj`; PolicyError for a word the policy does not
    know (a typo in the code fails where it asks, whoever asks)."""
    check_words(obj=obj, act=act)
    return any(_decide_role(role, obj, act) for role in roles)
