"""The words of the access policy: roles, objects and actions, one typed list each.

`policies/roles.csv` may use only these words, and the code may ask only about them: a word
missing here fails the server's start (`check_policy`) or the call that asks (`allowed`), where a
typo would otherwise deny in silence.
"""

from __future__ import annotations

from enum import StrEnum

from renraku.kinds import Profession, TeamRole, UserKind


class Obj(StrEnum):
    PATIENT = "patient"
    PATIENT_RISK = "patient.risk"
    PATIENT_CONTACTS = "patient.contacts"
    PATIENT_AUDIT = "patient.audit"
    TEAM = "team"
    CONSENT = "consent"
    INVITATION = "invitation"
    TIMELINE = "timeline"
    TIMELINE_FAMILY = "timeline.family"
    POST = "post"
    POST_FAMILY = "post.family"
    POST_RECEIPTS = "post.receipts"
    POST_INSTRUCTION = "post.instruction"
    POST_OTHERS = "post.others"
    UPLOAD = "upload"
    STAFF = "staff"
    INCIDENT = "incident"
    SAFETY = "safety"
    COUNTS = "counts"
    AUDIT_REPORT = "audit.report"


class Act(StrEnum):
    READ = "read"
    CREATE = "create"
    UPDATE = "update"
    ARCHIVE = "archive"
    MANAGE = "manage"
    RECORD = "record"
    IMPORT = "import"
    BREAK_GLASS = "break_glass"
    DECLARE = "declare"
    END = "end"
    CONFIRM = "confirm"
    PRIORITY = "priority"
    ASSIGN = "assign"
    MARK_READ = "mark_read"
    ACKNOWLEDGE = "acknowledge"
    RETRACT = "retract"
    RESET_PASSWORD = "reset_password"  # noqa: S105 - an action's name, not a password
    OFFBOARD = "offboard"


# Roles that are not a team role: the actor's relation to a patient, a municipality or an
# account (access/scopes.py, municipal.py, accounts.py).
RELATIONS = frozenset({"manager", "planner", "planner_consent", "glass", "operator"})
# Objects and roles named after a kind: account.<user kind>, profession.<p>, kind.<user kind>.
ACCOUNT_OBJECTS = frozenset(f"account.{k.value}" for k in UserKind)
ROLES = (
    frozenset(r.value for r in TeamRole)
    | RELATIONS
    | frozenset(f"profession.{p.value}" for p in Profession)
    | frozenset(f"kind.{k.value}" for k in UserKind)
)
OBJECTS = frozenset(o.value for o in Obj) | ACCOUNT_OBJECTS
ACTIONS = frozenset(a.value for a in Act)


class PolicyError(ValueError):
    """The policy or a question put to it uses a word outside the vocabulary."""


def check_words(*, obj: str, act: str, role: str | None = None) -> None:
    """PolicyError naming the first word that is not in the vocabulary."""
    if obj not in OBJECTS:
        raise PolicyError(f"unknown object {obj!r}")
    if act not in ACTIONS:
        raise PolicyError(f"unknown action {act!r}")
    if role is not None and role not in ROLES:
        raise PolicyError(f"unknown role {role!r}")
