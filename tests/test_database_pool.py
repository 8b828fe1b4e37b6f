"""The connection pool never makes a request wait on connections that other work holds while it
waits itself (writers queued on SQLite's lock, a request's second session)."""

from __future__ import annotations

import asyncio
import contextlib

from sqlalchemy import text

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
