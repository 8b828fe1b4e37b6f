"""The database wrapper: the pool never makes a request wait on connections that other work holds
while it waits itself; read sessions cannot write; a closed database opens nothing; last steps run
just before the commit; SQLite's checkpoints stay out of the commits."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from contextlib import closing
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy import text, update
from sqlalchemy.exc import OperationalError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from renraku import db as db_module
from renraku.accounts.models import User
from renraku.db import CHECKPOINT_EVERY, Database, before_commit, publish_on_commit
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


async def test_last_steps_run_after_the_callers_work_and_before_the_commit(
    runtime: Runtime,
) -> None:
    order: list[str] = []

    async with runtime.db.transaction() as session:

        async def second() -> None:
            order.append("second")
            publish_on_commit(session, committed)

        async def first() -> None:
            order.append("first")
            before_commit(session, second)  # a step may queue another

        async def committed() -> None:
            order.append("committed")

        before_commit(session, first)
        await session.exec(
            update(User).where(col(User.username) == "nurse.sato").values(display_name="last steps")
        )
        order.append("work")
    assert order == ["work", "first", "second", "committed"]


async def test_a_failing_last_step_rolls_everything_back(runtime: Runtime) -> None:
    async def fails() -> None:
        raise ValueError("refused at the end")

    try:
        async with runtime.db.transaction() as session:
            await session.exec(update(User).values(display_name="never stored"))
            before_commit(session, fails)
    except ValueError:
        pass
    else:
        raise AssertionError("the failing step did not fail the transaction")
    async with runtime.db.session() as session:
        names = (await session.exec(select(User.display_name))).all()
    assert "never stored" not in names


async def test_sqlite_checkpoints_beside_the_writers_not_inside_a_commit(tmp_path: Path) -> None:
    """Every CHECKPOINT_EVERY commits the write-ahead log is copied into the database file by a
    checkpoint of its own; SQLite's own (inside whichever commit crosses its threshold) is far
    off. The database file alone (read as immutable: the log ignored) shows which ran."""
    path = tmp_path / "checkpoints.db"
    db = Database.from_url(f"sqlite:///{path}")

    def rows_in_file() -> int:
        with closing(sqlite3.connect(f"file:{path}?immutable=1", uri=True)) as file_only:
            tables = file_only.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
            if not tables:
                return 0
            return int(file_only.execute("SELECT count(*) FROM t").fetchone()[0])

    try:
        async with db.transaction() as session:
            await (await session.connection()).execute(text("CREATE TABLE t (n INTEGER)"))
        for n in range(CHECKPOINT_EVERY - 2):
            async with db.transaction() as session:
                await (await session.connection()).execute(
                    text("INSERT INTO t VALUES (:n)").bindparams(n=n)
                )
        assert rows_in_file() == 0  # all still in the log
        async with db.transaction() as session:  # the CHECKPOINT_EVERY-th commit
            await (await session.connection()).execute(text("INSERT INTO t VALUES (-1)"))
        # Looked at while the database is open (closing it checkpoints too).
        for _ in range(200):
            with contextlib.suppress(sqlite3.DatabaseError):  # a page being copied meanwhile
                if rows_in_file() == CHECKPOINT_EVERY - 1:
                    break
            await asyncio.sleep(0.05)
        assert rows_in_file() == CHECKPOINT_EVERY - 1
    finally:
        await db.dispose()


async def test_sqlite_writer_waits_while_another_process_holds_the_lock(
    tmp_path: Path,
) -> None:
    """While another process holds SQLite's write lock, a writer waits without blocking the
    event loop (other work goes on) and writes once the lock is released."""
    path = tmp_path / "locked.db"
    db = Database.from_url(f"sqlite:///{path}")
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    try:
        async with db.transaction() as session:
            await (await session.connection()).execute(text("CREATE TABLE t (n INTEGER)"))
        other.execute("BEGIN IMMEDIATE")
        ticks = 0
        writing = asyncio.create_task(_insert(db, 1))
        while ticks < 20:  # the loop turns while the writer waits
            await asyncio.sleep(0.005)
            ticks += 1
        assert not writing.done()
        other.execute("ROLLBACK")
        await writing
        async with db.session() as session:
            assert (await (await session.connection()).execute(text("SELECT n FROM t"))).all() == [
                (1,)
            ]
    finally:
        other.close()
        await db.dispose()


async def test_sqlite_writer_gives_up_when_the_lock_is_never_released(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "locked.db"
    monkeypatch.setattr(db_module, "BUSY_SECONDS", 0.2)  # SQLite's busy timeout, as connected
    db = Database.from_url(f"sqlite:///{path}")
    other = sqlite3.connect(path, isolation_level=None)
    try:
        async with db.transaction() as session:
            await (await session.connection()).execute(text("CREATE TABLE t (n INTEGER)"))
        other.execute("BEGIN IMMEDIATE")
        with pytest.raises(OperationalError, match="locked"):
            await _insert(db, 2)
        other.execute("ROLLBACK")
        await _insert(db, 3)  # the connection it gave back still works
        async with db.session() as session:
            assert (await (await session.connection()).execute(text("SELECT n FROM t"))).all() == [
                (3,)
            ]
    finally:
        other.close()
        await db.dispose()


async def _insert(db: Database, n: int) -> None:
    async with db.transaction() as session:
        await (await session.connection()).execute(
            text("INSERT INTO t VALUES (:n)").bindparams(n=n)
        )


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
async def test_a_connection_lost_while_idle_is_replaced_before_a_request_uses_it(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Connections are pinged at checkout only after they sat idle (db.PING_IDLE_SECONDS): one
    whose server process ended meanwhile is replaced, and the request never sees it."""
    db = Database.from_url(database_url)
    try:
        async with db.session() as session:
            own_pid = await _backend_pid(session)
        admin = await asyncpg.connect(database_url.replace("postgresql://", "postgres://", 1))
        try:
            await admin.execute("SELECT pg_terminate_backend($1)", own_pid)
        finally:
            await admin.close()
        monkeypatch.setattr(db_module, "PING_IDLE_SECONDS", 0.0)  # it has now been idle
        async with db.session() as session:
            pid = await _backend_pid(session)
        assert pid != own_pid
    finally:
        await db.dispose()


async def _backend_pid(session: AsyncSession) -> int:
    connection = await session.connection()
    return int((await connection.execute(text("SELECT pg_backend_pid()"))).scalar_one())
