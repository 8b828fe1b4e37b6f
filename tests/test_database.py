"""The database wrapper: the pool never makes a request wait on connections that other work holds
while it waits itself; read sessions cannot write; a closed database opens nothing."""

from __future__ import annotations

import asyncio
import contextlib

from sqlalchemy import text, update
from sqlmodel import col, select

from renraku.accounts.models import User
from renraku.runtime import Runtime
from tests.audit.support import PATIENT_IN_FULL, patient_gid
from tests.support.graphql import GraphQLClient

HELD = 20  # more than the old SQLite cap (15) and PostgreSQL's pool without its overflow


async def test_a_request_is_served_while_many_connections_are_held(
    gql: GraphQLClient, runtime: Runtime
) -> None:
    nurse = await gql.login("nurse.sato")
    patient = await patient_gid(runtime, "pt-ito-haru")
    async with contextlib.AsyncExitStack() as held:
        for _ in range(HELD):
            session = await held.enter_async_context(runtime.db.session())
            await (await session.connection()).execute(text("SELECT 1"))
        # Well inside the pool's 30 s wait: a capped pool would time out instead.
        result = await asyncio.wait_for(nurse.execute(PATIENT_IN_FULL, {"id": patient}), 20)
    assert "errors" not in result, result
    assert result["data"]["patient"]["id"] == patient


async def test_a_closed_database_opens_no_new_connection(runtime: Runtime) -> None:
    await runtime.db.dispose()
    try:
        async with runtime.db.session() as session:
            await (await session.connection()).execute(text("SELECT 1"))
    except RuntimeError as refused:
        assert "closed" in str(refused)
    else:
        raise AssertionError("a session opened on a closed database")


async def test_a_read_session_refuses_to_write_and_nothing_is_stored(runtime: Runtime) -> None:
    async with runtime.db.session() as session:
        nurse = (await session.exec(select(User).where(col(User.username) == "nurse.sato"))).one()
        nurse.display_name = "changed in a read path"
        try:
            await session.flush()
        except RuntimeError as refused:
            assert "read session" in str(refused)
        else:
            raise AssertionError("a read session flushed a change")
    async with runtime.db.session() as session:
        try:
            await session.exec(update(User).values(display_name="changed in a read path"))
        except RuntimeError as refused:
            assert "read session" in str(refused)
        else:
            raise AssertionError("a read session ran an UPDATE")
    async with runtime.db.session() as session:
        names = (await session.exec(select(User.display_name))).all()
    assert "changed in a read path" not in names


async def test_a_write_transaction_inside_another_fails_instead_of_waiting(
    runtime: Runtime,
) -> None:
    async with runtime.db.transaction():
        if runtime.db.engine.dialect.name == "sqlite":
            try:
                async with runtime.db.transaction():
                    raise AssertionError("a nested write transaction began on SQLite")
            except RuntimeError as refused:
                assert "inside another" in str(refused)
        else:  # PostgreSQL: a second connection, its own transaction
            async with runtime.db.transaction() as inner:
                await (await inner.connection()).execute(text("SELECT 1"))
    async with runtime.db.transaction() as after:  # the lock was given back
        await (await after.connection()).execute(text("SELECT 1"))
