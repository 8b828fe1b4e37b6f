"""A command decides on the roles its own write transaction reads, never on roles read before it.

Each race stops the member's command at a door (a patched function) while the municipality's
manager takes the member off pt-ito-haru's team, then lets it through: the command must answer as
it would to someone who was never on the team, and store nothing. On PostgreSQL a command that has
decided holds the team still until it commits, so a removal waits for it instead of slipping in.

pt-ito-haru's team (seed/demo.toml): dr.suzuki, nurse.sato, cm.tanaka (coordinator), pharm.kato,
helper.kobayashi, and family.ito; nurse.takahashi is a nurse of the same town on other teams.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from types import ModuleType
from typing import Any

import pytest
from sqlalchemy import text
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from renraku.access.gate import Gate
from renraku.accounts.models import User
from renraku.accounts.service import actor_for
from renraku.errors import NotFound
from renraku.feed import changes, receipts
from renraku.feed.changes import PostEdit
from renraku.feed.posts import PostDraft, check_create_post
from renraku.kinds import ConsentKind, PostCategory, TeamRole
from renraku.runtime import Runtime
from renraku.teams import actions, invitations, membership, service
from renraku.teams.fields import RiskFields
from renraku.teams.models import TeamMembership
from tests.feed.post_support import feed_snapshot
from tests.teams.helpers import patient_pk, snapshot, user_pk

ITO = "pt-ito-haru"
MANAGER = "manager.gamagori"

Command = Callable[[Gate], Coroutine[Any, Any, object]]


class Door:
    """Stops one task at a point of its command until the test opens the door."""

    def __init__(self) -> None:
        self.reached = asyncio.Event()
        self._open = asyncio.Event()
        self.task: asyncio.Task[object] | None = None

    def start(self, command: Coroutine[Any, Any, object]) -> asyncio.Task[object]:
        self.task = asyncio.create_task(command)
        return self.task

    async def _pass(self) -> None:
        if asyncio.current_task() is self.task and not self.reached.is_set():
            self.reached.set()
            await self._open.wait()

    def at_transaction(self, monkeypatch: pytest.MonkeyPatch, runtime: Runtime) -> None:
        """The door is where the task opens its write transaction."""
        original = runtime.db.transaction

        @contextlib.asynccontextmanager
        async def transaction() -> AsyncIterator[AsyncSession]:
            await self._pass()
            async with original() as session:
                yield session

        monkeypatch.setattr(runtime.db, "transaction", transaction)

    def at_call(self, monkeypatch: pytest.MonkeyPatch, module: ModuleType, name: str) -> None:
        """The door is where the task calls `module.name`."""
        original = getattr(module, name)

        async def paused(*args: Any, **kwargs: Any) -> Any:
            await self._pass()
            return await original(*args, **kwargs)

        monkeypatch.setattr(module, name, paused)

    async def wait_reached(self) -> None:
        """Until the task stands at the door; fails if it ended without coming to it."""
        assert self.task is not None
        reached = asyncio.create_task(self.reached.wait())
        await asyncio.wait({reached, self.task}, timeout=30, return_when=asyncio.FIRST_COMPLETED)
        reached.cancel()
        assert self.reached.is_set(), "the command never came to the door"

    def open(self) -> None:
        self._open.set()


async def gate_for(runtime: Runtime, username: str) -> Gate:
    async with runtime.db.session() as session:
        user = (await session.exec(select(User).where(User.username == username))).one()
    return Gate(actor_for(user), runtime.db)


async def remove(runtime: Runtime, username: str) -> None:
    """The manager takes `username` off pt-ito-haru's team (committed on return)."""
    await membership.check_end_membership(
        runtime,
        gate=await gate_for(runtime, MANAGER),
        patient_id=await patient_pk(runtime, ITO),
        user_id=await user_pk(runtime, username),
        reason="異動",
    )


async def stored(runtime: Runtime) -> dict[str, list[tuple[Any, ...]]]:
    """Every row a command here could write."""
    return {**await feed_snapshot(runtime), **await snapshot(runtime)}


async def new_post(runtime: Runtime, author: str, category: PostCategory) -> int:
    gate = await gate_for(runtime, author)
    draft = PostDraft(
        patient_id=await patient_pk(runtime, ITO),
        client_id=f"race-{author}-{category.value}",
        category=category,
        body="訪問しました。",
    )
    post = await check_create_post(runtime, gate=gate, draft=draft)
    assert post.id is not None
    return post.id


async def is_member(runtime: Runtime, username: str) -> bool:
    pid, uid = await patient_pk(runtime, ITO), await user_pk(runtime, username)
    async with runtime.db.session() as session:
        return bool(await service.active_memberships(session, patient_id=pid, user_id=uid))


async def race(
    runtime: Runtime, door: Door, member: str, command: Command
) -> tuple[BaseException | object, dict[str, list[tuple[Any, ...]]]]:
    """Start the member's command, remove the member while it stands at the door, let it through;
    what it answered, and every row as it was once the removal had committed."""
    gate = await gate_for(runtime, member)
    # Read earlier in the same request (another field, another mutation), before the removal.
    await gate.roles(await patient_pk(runtime, ITO))
    task = door.start(command(gate))
    try:
        await door.wait_reached()
        await remove(runtime, member)
        before = await stored(runtime)
    finally:
        door.open()
        [answer] = await asyncio.gather(task, return_exceptions=True)
    return answer, before


async def mark_posts_read(runtime: Runtime) -> tuple[str, Command]:
    post_id = await new_post(runtime, "dr.suzuki", PostCategory.VISIT_REPORT)
    return "nurse.sato", lambda gate: receipts.check_mark_posts_read(
        runtime, gate=gate, post_ids=[post_id]
    )


async def mark_patient_read(runtime: Runtime) -> tuple[str, Command]:
    await new_post(runtime, "dr.suzuki", PostCategory.VISIT_REPORT)
    pid = await patient_pk(runtime, ITO)
    return "nurse.sato", lambda gate: receipts.check_mark_patient_read(
        runtime, gate=gate, patient_id=pid
    )


async def acknowledge_post(runtime: Runtime) -> tuple[str, Command]:
    post_id = await new_post(runtime, "dr.suzuki", PostCategory.INSTRUCTION)
    return "nurse.sato", lambda gate: receipts.check_acknowledge_post(
        runtime, gate=gate, post_id=post_id
    )


async def edit_post(runtime: Runtime) -> tuple[str, Command]:
    post_id = await new_post(runtime, "nurse.sato", PostCategory.VISIT_REPORT)
    edit = PostEdit(post_id=post_id, body="訂正します。")
    return "nurse.sato", lambda gate: changes.check_edit_post(runtime, gate=gate, edit=edit)


async def retract_own_post(runtime: Runtime) -> tuple[str, Command]:
    post_id = await new_post(runtime, "nurse.sato", PostCategory.VISIT_REPORT)
    return "nurse.sato", lambda gate: changes.check_retract_post(
        runtime, gate=gate, post_id=post_id, reason="誤記のため"
    )


async def retract_others_post(runtime: Runtime) -> tuple[str, Command]:
    post_id = await new_post(runtime, "nurse.sato", PostCategory.VISIT_REPORT)
    return "cm.tanaka", lambda gate: changes.check_retract_post(
        runtime, gate=gate, post_id=post_id, reason="誤記のため"
    )


async def invite(runtime: Runtime) -> tuple[str, Command]:
    pid, uid = await patient_pk(runtime, ITO), await user_pk(runtime, "nurse.takahashi")
    return "cm.tanaka", lambda gate: invitations.check_invite(
        runtime, gate=gate, patient_id=pid, user_id=uid, role=TeamRole.MEMBER
    )


async def add_member(runtime: Runtime) -> tuple[str, Command]:
    pid, uid = await patient_pk(runtime, ITO), await user_pk(runtime, "nurse.takahashi")
    return "cm.tanaka", lambda gate: membership.check_add_member(
        runtime, gate=gate, patient_id=pid, user_id=uid, role=TeamRole.MEMBER, until=None
    )


async def end_membership(runtime: Runtime) -> tuple[str, Command]:
    pid, uid = await patient_pk(runtime, ITO), await user_pk(runtime, "pharm.kato")
    return "cm.tanaka", lambda gate: membership.check_end_membership(
        runtime, gate=gate, patient_id=pid, user_id=uid, reason="異動"
    )


async def update_patient(runtime: Runtime) -> tuple[str, Command]:
    pid = await patient_pk(runtime, ITO)
    return "cm.tanaka", lambda gate: actions.check_update_patient(
        runtime, gate=gate, patient_id=pid, changes={"phone": "0533-00-9999"}
    )


async def update_risk(runtime: Runtime) -> tuple[str, Command]:
    pid = await patient_pk(runtime, ITO)
    return "cm.tanaka", lambda gate: actions.check_update_risk(
        runtime, gate=gate, patient_id=pid, risk=RiskFields(floor=3)
    )


async def record_consent(runtime: Runtime) -> tuple[str, Command]:
    pid = await patient_pk(runtime, ITO)
    return "cm.tanaka", lambda gate: actions.check_record_consent(
        runtime,
        gate=gate,
        patient_id=pid,
        kind=ConsentKind.PLANNER_SHARING,
        granted=True,
        note=None,
    )


CASES: list[Callable[[Runtime], Awaitable[tuple[str, Command]]]] = [
    mark_posts_read,
    mark_patient_read,
    acknowledge_post,
    edit_post,
    retract_own_post,
    retract_others_post,
    invite,
    add_member,
    end_membership,
    update_patient,
    update_risk,
    record_consent,
]


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.__name__)
async def test_a_member_removed_before_their_command_opens_its_transaction_is_refused(
    runtime: Runtime,
    monkeypatch: pytest.MonkeyPatch,
    case: Callable[[Runtime], Awaitable[tuple[str, Command]]],
) -> None:
    member, command = await case(runtime)
    door = Door()
    door.at_transaction(monkeypatch, runtime)
    answer, before = await race(runtime, door, member, command)
    assert isinstance(answer, NotFound), answer
    assert await stored(runtime) == before
    assert not await is_member(runtime, member)


# Only PostgreSQL: SQLite's writers are serial (BEGIN IMMEDIATE), so a removal cannot commit
# inside another write transaction, and a door inside one would keep the removal out for ever.
ON_POSTGRES = pytest.mark.parametrize("backend", ["postgresql"], indirect=True)


async def waits_for_a_lock(runtime: Runtime, removal: asyncio.Task[None]) -> bool:
    """True once the removal waits for a lock in this database; False if it finished first."""
    query = text(
        "SELECT count(*) FROM pg_stat_activity"
        " WHERE datname = current_database() AND wait_event_type = 'Lock'"
    )
    while not removal.done():
        async with runtime.db.session() as session:
            connection = await session.connection()
            if (await connection.execute(query)).scalar_one():
                return True
        await asyncio.sleep(0.01)
    return False


@pytest.mark.parametrize(
    ("case", "module", "step"),
    [
        (mark_posts_read, receipts, "do_mark_read"),
        (acknowledge_post, receipts, "do_acknowledge_post"),
        (edit_post, changes, "do_edit_post"),
        (retract_others_post, changes, "do_retract_post"),
    ],
    ids=["mark_posts_read", "acknowledge_post", "edit_post", "retract_others_post"],
)
@ON_POSTGRES
async def test_a_removal_waits_for_a_command_that_has_decided_until_it_commits(
    runtime: Runtime,
    monkeypatch: pytest.MonkeyPatch,
    case: Callable[[Runtime], Awaitable[tuple[str, Command]]],
    module: ModuleType,
    step: str,
) -> None:
    member, command = await case(runtime)
    door = Door()
    door.at_call(monkeypatch, module, step)
    gate = await gate_for(runtime, member)
    task = door.start(command(gate))
    removal: asyncio.Task[None] | None = None
    try:
        await door.wait_reached()
        removal = asyncio.create_task(remove(runtime, member))
        waited = await waits_for_a_lock(runtime, removal)
    finally:
        door.open()
        answers = await asyncio.gather(task, *[t for t in [removal] if t], return_exceptions=True)
    assert waited, "the removal committed while the command stood between decision and commit"
    assert not any(isinstance(a, BaseException) for a in answers), answers
    assert not await is_member(runtime, member)


@ON_POSTGRES
async def test_an_invitation_revoked_by_a_removal_while_it_is_accepted_is_not_found(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    pid, uid = await patient_pk(runtime, ITO), await user_pk(runtime, "nurse.sato")
    invitation = await invitations.check_invite(
        runtime,
        gate=await gate_for(runtime, MANAGER),
        patient_id=pid,
        user_id=uid,
        role=TeamRole.COORDINATOR,
    )
    assert invitation.id is not None
    invitee = await gate_for(runtime, "nurse.sato")
    door = Door()
    # Inside the accepting transaction: the invitation has been looked at, the team not locked.
    door.at_call(monkeypatch, service, "get_live_patient")
    task = door.start(
        invitations.check_accept_invitation(
            runtime, actor=invitee.actor, invitation_id=invitation.id
        )
    )
    try:
        await door.wait_reached()
        await remove(runtime, "nurse.sato")
        before = await stored(runtime)
    finally:
        door.open()
        [answer] = await asyncio.gather(task, return_exceptions=True)
    assert isinstance(answer, NotFound), answer
    assert await stored(runtime) == before
    async with runtime.db.session() as session:
        rows = await session.exec(
            select(TeamMembership).where(
                col(TeamMembership.patient_id) == pid, col(TeamMembership.user_id) == uid
            )
        )
        assert all(m.ends_at is not None for m in rows.all())
