"""The per-request gate: the actor's roles per patient (batched) and cached decisions.

Resolvers and services ask the gate; the gate asks scopes (SQL) and the enforcer (policies/).
A patient on which the actor has no role does not exist for them: NotFound, never Forbidden.
"""

from __future__ import annotations

from collections.abc import Sequence

from strawberry.dataloader import DataLoader

from renraku.access.actor import Actor
from renraku.access.enforcer import allowed
from renraku.access.scopes import roles_on
from renraku.db import Database
from renraku.errors import Forbidden, NotFound

NO_ROLES: frozenset[str] = frozenset()


class Gate:
    def __init__(self, actor: Actor, db: Database) -> None:
        self.actor = actor
        self._db = db
        self._roles = DataLoader(load_fn=self._load_roles)

    async def _load_roles(self, patient_ids: Sequence[int]) -> list[frozenset[str]]:
        async with self._db.session() as session:
            found = await roles_on(session, self.actor, patient_ids)
        return [found.get(pid, NO_ROLES) for pid in patient_ids]

    def prime(self, patient_id: int, roles: frozenset[str]) -> None:
        self._roles.prime(patient_id, roles)

    async def roles(self, patient_id: int) -> frozenset[str]:
        return await self._roles.load(patient_id)

    async def may(self, patient_id: int, obj: str, act: str) -> bool:
        return allowed(await self.roles(patient_id), obj, act)

    async def require(self, patient_id: int, obj: str, act: str) -> frozenset[str]:
        """The actor's roles if they may do `act` on `obj`; NotFound if the patient is invisible."""
        roles = await self.roles(patient_id)
        if not roles:
            raise NotFound
        if not allowed(roles, obj, act):
            raise Forbidden
        return roles
