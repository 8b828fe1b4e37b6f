"""The per-request gate: the actor's roles per patient (batched), decisions, and what was read.

Resolvers and services ask the gate; the gate asks scopes (SQL) and the enforcer (policies/).
A patient on which the actor has no role does not exist for them: NotFound, never Forbidden.

The gate also remembers which patients the request read and why (the basis of access: a team role,
a break-the-glass grant, an emergency, consent, the manager's municipality), and which attempts
it refused. At the end of the operation (audit/extension.py) `flush` turns that into at most two
audit records, one allowed and one denied: the audit grain is the request, never the row.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from strawberry.dataloader import DataLoader

from renraku.access.actor import Actor
from renraku.access.enforcer import allowed
from renraku.access.scopes import GLASS, MANAGER, PLANNER, PLANNER_CONSENT, roles_on
from renraku.audit.reads import ReadAuditor, ReadRecord
from renraku.db import Database
from renraku.errors import Forbidden, NotFound
from renraku.glass.models import GlassAccess
from renraku.teams.models import Patient

NO_ROLES: frozenset[str] = frozenset()
# Actions that read: their successes are audited here; every other action's success is audited
# by its own do_* in the transaction that makes the change.
READ_ACTIONS = frozenset({"read"})
# The basis recorded for a patient the actor holds several roles on: the first that applies.
_BASIS_ORDER = ("coordinator", "member", "family", MANAGER, PLANNER, PLANNER_CONSENT, GLASS)
_BASIS_NAMES = {PLANNER: "emergency", PLANNER_CONSENT: "consent"}
# A patient the actor asked for but has no role on (or a list row whose role ended meanwhile).
NO_BASIS = "none"
MAX_OPERATION_NAME = 100
MAX_REASON = 400


def basis_of(roles: frozenset[str]) -> str:
    """The one role a read of the patient rests on, named for the audit log."""
    for role in _BASIS_ORDER:
        if role in roles:
            return _BASIS_NAMES.get(role, role)
    return min(roles) if roles else NO_BASIS


class Gate:
    def __init__(self, actor: Actor, db: Database) -> None:
        self.actor = actor
        self._db = db
        self._roles = DataLoader(load_fn=self._load_roles)
        self._read: dict[int, frozenset[str]] = {}
        self._read_kinds: set[str] = set()
        # patient id -> roles, and "object.action" -> patient ids, for refused attempts.
        self._denied: dict[int, frozenset[str]] = {}
        self._denied_attempts: dict[str, set[int]] = defaultdict(set)

    async def _load_roles(self, patient_ids: Sequence[int]) -> list[frozenset[str]]:
        async with self._db.session() as session:
            found = await roles_on(session, self.actor, patient_ids)
        return [found.get(pid, NO_ROLES) for pid in patient_ids]

    def prime(self, patient_id: int, roles: frozenset[str], *, force: bool = False) -> None:
        self._roles.prime(patient_id, roles, force=force)

    async def load_in(
        self, session: AsyncSession, patient_ids: Sequence[int], *, fresh: bool = False
    ) -> None:
        """Read the actor's roles on these patients through the caller's session (a write
        transaction about to be decided on them) rather than a session of the gate's own.
        Roles this request already read are kept, as `roles` would, unless `fresh`: a write
        decides on the roles its own transaction reads, not on ones read before it began (the
        actor may have been taken off the team in between); the rest of the request then sees
        them too."""
        ids = list(dict.fromkeys(patient_ids))
        wanted = ids if fresh else [p for p in ids if self._roles.cache_map.get(p) is None]
        if not wanted:
            return
        found = await roles_on(session, self.actor, wanted)
        for patient_id in wanted:
            self._roles.prime(patient_id, found.get(patient_id, NO_ROLES), force=fresh)

    async def load_for_write(
        self, session: AsyncSession, patient_ids: Sequence[int], *, exclusive: bool = False
    ) -> None:
        """Hold these patients' care teams until the caller's write transaction ends, then read
        the actor's roles on them afresh through it: what the command decides on then stays
        true until it commits. `exclusive` for commands that change the team themselves."""
        await _hold_teams(session, patient_ids, exclusive=exclusive)
        await self.load_in(session, patient_ids, fresh=True)

    async def roles(self, patient_id: int) -> frozenset[str]:
        return await self._roles.load(patient_id)

    def roles_now(self, patient_id: int) -> frozenset[str] | None:
        """`roles` without waiting: None when they are not loaded yet (the live feed primes
        them), so the caller takes the awaiting path."""
        future = self._roles.cache_map.get(patient_id)
        if future is None or not future.done() or future.cancelled() or future.exception():
            return None
        roles: frozenset[str] = future.result()
        return roles

    def may_now(self, patient_id: int, obj: str, act: str) -> bool | None:
        """`may` without waiting, or None (see `roles_now`)."""
        roles = self.roles_now(patient_id)
        if roles is None:
            return None
        if not allowed(roles, obj, act):
            return False
        self._note(patient_id, roles, obj, act)
        return True

    async def may(self, patient_id: int, obj: str, act: str) -> bool:
        roles = await self.roles(patient_id)
        if not allowed(roles, obj, act):
            return False
        self._note(patient_id, roles, obj, act)
        return True

    async def require(self, patient_id: int, obj: str, act: str) -> frozenset[str]:
        """The actor's roles if they may do `act` on `obj`; NotFound if the patient is invisible."""
        roles = await self.roles(patient_id)
        if not roles:
            self._deny(patient_id, roles, obj, act)
            raise NotFound
        if not allowed(roles, obj, act):
            self._deny(patient_id, roles, obj, act)
            raise Forbidden
        self._note(patient_id, roles, obj, act)
        return roles

    async def refuse(self, patient_id: int, obj: str, act: str) -> None:
        """Record a refused attempt that the caller answers itself (as NotFound): a rule past
        the policy's, such as a post not shared with the family, refused it."""
        self._deny(patient_id, await self.roles(patient_id), obj, act)

    async def touched(self, patient_ids: Iterable[int], *, action: str) -> None:
        """Record that a list (`action`, e.g. "patients.list") showed these patients."""
        ids = list(dict.fromkeys(patient_ids))
        roles = await self._roles.load_many(ids)
        self._read_kinds.add(action)
        for patient_id, found in zip(ids, roles, strict=True):
            self._read.setdefault(patient_id, found)

    def _note(self, patient_id: int, roles: frozenset[str], obj: str, act: str) -> None:
        if act in READ_ACTIONS:
            self._read[patient_id] = roles
            self._read_kinds.add(obj)

    def _deny(self, patient_id: int, roles: frozenset[str], obj: str, act: str) -> None:
        self._denied[patient_id] = roles
        self._denied_attempts[f"{obj}.{act}"].add(patient_id)

    @property
    def has_touched(self) -> bool:
        return bool(self._read_kinds or self._denied)

    async def flush(self, auditor: ReadAuditor, *, operation: str | None) -> None:
        """Queue this request's read record and, if anything was refused, its deny record."""
        read, kinds = self._read, self._read_kinds
        denied, attempts = self._denied, self._denied_attempts
        self._read, self._read_kinds, self._denied = {}, set(), {}
        self._denied_attempts = defaultdict(set)
        name = (operation or "")[:MAX_OPERATION_NAME] or None
        async with self._db.session() as session:
            glass = await self._glass_grants(session, {**denied, **read})
            # Denials are audited only for patients that exist: an id nobody holds is not data.
            existing = await self._existing(session, [p for p, r in denied.items() if not r])
        if kinds:
            detail: dict[str, Any] = {"operation": name, "objects": sorted(kinds)}
            await auditor.record(self._entry(read, glass, "allow", "read", detail))
        denied = {p: r for p, r in denied.items() if r or p in existing}
        if denied:
            refused = {a: sorted(ids & denied.keys()) for a, ids in sorted(attempts.items())}
            refused = {a: ids for a, ids in refused.items() if ids}
            reading = all(a.rsplit(".", 1)[1] in READ_ACTIONS for a in refused)
            detail = {"operation": name, "denied": refused}
            action = "read" if reading else "write"
            await auditor.record(self._entry(denied, glass, "deny", action, detail))

    def _entry(
        self,
        patients: dict[int, frozenset[str]],
        glass: dict[int, int],
        decision: str,
        action: str,
        detail: dict[str, Any],
    ) -> ReadRecord:
        basis = _group(patients, glass)
        return ReadRecord(
            actor_id=self.actor.user_id,
            actor_kind=self.actor.kind.value,
            action=action,
            object_type="patient",
            object_ids=tuple(sorted(patients)),
            decision=decision,
            reason=",".join(basis)[:MAX_REASON],
            detail={**detail, "basis": basis},
        )

    async def _glass_grants(
        self, session: AsyncSession, patients: dict[int, frozenset[str]]
    ) -> dict[int, int]:
        """The grant each glass access rests on: the actor's latest on the patient."""
        wanted = [p for p, roles in patients.items() if basis_of(roles) == GLASS]
        if not wanted:
            return {}
        rows = await session.exec(
            select(GlassAccess.patient_id, GlassAccess.id)
            .where(
                col(GlassAccess.user_id) == self.actor.user_id,
                col(GlassAccess.patient_id).in_(wanted),
            )
            .order_by(col(GlassAccess.id))
        )
        return {patient_id: grant for patient_id, grant in rows.all() if grant is not None}

    @staticmethod
    async def _existing(session: AsyncSession, patient_ids: list[int]) -> set[int]:
        if not patient_ids:
            return set()
        rows = await session.exec(select(Patient.id).where(col(Patient.id).in_(patient_ids)))
        return {p for p in rows.all() if p is not None}


async def _hold_teams(
    session: AsyncSession, patient_ids: Sequence[int], *, exclusive: bool
) -> None:
    """Lock the patients' rows, the lock of their care teams, on PostgreSQL.

    Every team change (teams/membership.py, teams/actions.py, teams/offboarding.py) takes the
    patient row FOR UPDATE before it reads or ends a membership. Under READ COMMITTED a command
    that only read the memberships would not conflict with that: a removal could commit between
    its decision and its commit. FOR KEY SHARE conflicts with FOR UPDATE and with nothing else
    taken here (a post's or receipt's foreign key takes the same lock anyway), so commands on
    one team still run side by side, while a removal either committed before the roles are
    read (the next statement sees it) or waits for this transaction. Taken in id order, so two
    commands never wait on each other crosswise. SQLite's writers are serial (BEGIN IMMEDIATE).
    """
    if session.bind is None or session.bind.dialect.name != "postgresql":
        return
    ids = sorted(set(patient_ids))
    if not ids:
        return
    query = select(Patient.id).where(col(Patient.id).in_(ids)).order_by(col(Patient.id))
    if exclusive:
        query = query.with_for_update()
    else:
        query = query.with_for_update(read=True, key_share=True)
    await session.exec(query)


def _group(patients: dict[int, frozenset[str]], glass: dict[int, int]) -> dict[str, list[int]]:
    """Patient ids grouped by basis, e.g. {"glass:12": [7], "member": [3, 5]}."""
    groups: dict[str, list[int]] = defaultdict(list)
    for patient_id in sorted(patients):
        basis = basis_of(patients[patient_id])
        if basis == GLASS and patient_id in glass:
            basis = f"{GLASS}:{glass[patient_id]}"
        groups[basis].append(patient_id)
    return dict(sorted(groups.items()))
