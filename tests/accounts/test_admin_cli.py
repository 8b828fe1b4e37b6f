"""`renraku admin create-operator` and `renraku admin add-municipality`, run as the CLI runs.

These tests are synchronous: the CLI runs its own event loop, as it does from a shell.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlmodel import col, select

from renraku.accounts.actions import check_use_link
from renraku.accounts.models import Municipality, Organisation, OrganisationMember, User
from renraku.audit.models import AuditRecord
from renraku.cli import main
from renraku.db import Database
from renraku.runtime import Runtime, build_runtime
from tests.accounts.helpers import count, snapshot
from tests.conftest import make_settings
from tests.support.databases import one_database

PUBLIC = "https://renraku.example.jp"
TOYOHASHI = "232017"  # in the bundled data, not in the demo world
T = TypeVar("T")


@pytest.fixture
def cli_env(database_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("RENRAKU_PUBLIC_ORIGIN", PUBLIC)
    monkeypatch.delenv("RENRAKU_MODE", raising=False)
    return database_url


def _with_runtime(database_url: str, work: Callable[[Runtime], Awaitable[T]]) -> T:
    async def run() -> T:
        runtime = build_runtime(make_settings(database_url), Database.from_url(database_url))
        try:
            return await work(runtime)
        finally:
            await runtime.close()

    return asyncio.run(run())


def _state(database_url: str) -> tuple[tuple[int, int, int, int], int, int]:
    async def work(runtime: Runtime) -> tuple[tuple[int, int, int, int], int, int]:
        db = runtime.db
        return await snapshot(db), await count(db, Municipality), await count(db, Organisation)

    return _with_runtime(database_url, work)


def _printed_token(out: str) -> str:
    url = next(word for word in out.split() if word.startswith(PUBLIC))
    parts = urlsplit(url)
    assert parts.path == "/auth/link"
    return parse_qs(parts.query)["token"][0]


def _user(database_url: str, username: str) -> User | None:
    async def work(runtime: Runtime) -> User | None:
        async with runtime.db.session() as session:
            return (await session.exec(select(User).where(User.username == username))).first()

    return _with_runtime(database_url, work)


def _last_audit(database_url: str) -> AuditRecord:
    async def work(runtime: Runtime) -> AuditRecord:
        async with runtime.db.session() as session:
            query = select(AuditRecord).order_by(col(AuditRecord.id).desc()).limit(1)
            return (await session.exec(query)).one()

    return _with_runtime(database_url, work)


def test_create_operator_prints_a_set_up_link_that_works(
    cli_env: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        ["admin", "create-operator", "--username", "Ops.Kato", "--display-name", "運用 花子"]
    )
    assert code == 0
    token = _printed_token(capsys.readouterr().out)
    user = _user(cli_env, "ops.kato")
    assert user is not None and user.kind == "operator" and user.password_hash is None
    record = _last_audit(cli_env)
    assert record.action == "admin.operator_created" and record.object_ids == [user.id]
    assert record.actor_kind == "system"

    async def use(runtime: Runtime) -> User:
        return await check_use_link(runtime, token=token, new_password="operator password 1")

    assert _with_runtime(cli_env, use).username == "ops.kato"


@pytest.mark.parametrize(
    ("argv", "exit_code"),
    [
        (["--username", "operator", "--display-name", "二人目"], 1),  # taken (demo operator)
        (["--username", "NURSE.SATO", "--display-name", "二人目"], 1),  # taken, in other case
        (["--username", "bad name!", "--display-name", "運用"], 2),
        (["--username", "ok.name", "--display-name", "   "], 2),
        (["--username", "ok.name", "--display-name", "x" * 201], 2),
    ],
    ids=["taken", "taken-other-case", "bad-username", "blank-name", "long-name"],
)
def test_create_operator_refusals_store_nothing(
    cli_env: str, capsys: pytest.CaptureFixture[str], argv: list[str], exit_code: int
) -> None:
    before = _state(cli_env)
    assert main(["admin", "create-operator", *argv]) == exit_code
    captured = capsys.readouterr()
    assert PUBLIC not in captured.out and captured.err
    assert _state(cli_env) == before


def test_add_municipality_sets_up_the_municipality_and_its_first_manager(
    cli_env: str, capsys: pytest.CaptureFixture[str]
) -> None:
    before = _state(cli_env)
    argv = ["--code", TOYOHASHI, "--manager-username", "manager.toyohashi"]
    assert main(["admin", "add-municipality", *argv, "--manager-name", "豊橋 太郎"]) == 0
    token = _printed_token(capsys.readouterr().out)

    async def check(runtime: Runtime) -> None:
        async with runtime.db.session() as session:
            municipality = await session.get(Municipality, TOYOHASHI)
            assert municipality is not None and municipality.name == "豊橋市"
            organisation = (
                await session.exec(
                    select(Organisation).where(Organisation.municipality_code == TOYOHASHI)
                )
            ).one()
            assert organisation.kind == "municipality"
            manager = (
                await session.exec(select(User).where(User.username == "manager.toyohashi"))
            ).one()
            assert manager.kind == "municipality" and manager.municipality_code == TOYOHASHI
            assert await session.get(OrganisationMember, (organisation.id, manager.id))
        await check_use_link(runtime, token=token, new_password="manager password 1")

    _with_runtime(cli_env, check)
    (sessions, links, audits, users), municipalities, organisations = before
    after = _state(cli_env)
    assert after == (
        (sessions, links + 1, audits + 2, users + 1),
        municipalities + 1,
        organisations + 1,
    )
    assert _last_audit(cli_env).action == "accounts.link_used"


def test_add_municipality_keeps_an_existing_municipality_and_its_organisation(
    cli_env: str, capsys: pytest.CaptureFixture[str]
) -> None:
    (_s, _l, audits, users), municipalities, organisations = _state(cli_env)
    argv = ["--code", "232149", "--manager-username", "manager2.gamagori", "--manager-name", "二宮"]
    assert main(["admin", "add-municipality", *argv]) == 0
    assert _printed_token(capsys.readouterr().out)
    (_s, _l, audits_after, users_after), municipalities_after, organisations_after = _state(cli_env)
    assert (municipalities_after, organisations_after) == (municipalities, organisations)
    assert (audits_after, users_after) == (audits + 1, users + 1)
    record = _last_audit(cli_env)
    assert record.action == "admin.municipality_added"
    assert record.detail["municipality"] == "232149"


@pytest.mark.parametrize(
    ("code", "exit_code", "says"),
    [
        ("232148", 2, "check digit"),  # 蒲郡市 with a wrong check digit
        ("131016", 2, "bundled data"),  # a real code (千代田区), outside the bundled data
        ("abc", 2, "check digit"),
        ("2321490", 2, "check digit"),
    ],
)
def test_add_municipality_refuses_unknown_codes(
    cli_env: str, capsys: pytest.CaptureFixture[str], code: str, exit_code: int, says: str
) -> None:
    before = _state(cli_env)
    argv = ["--code", code, "--manager-username", "manager.x", "--manager-name", "名前"]
    assert main(["admin", "add-municipality", *argv]) == exit_code
    assert says in capsys.readouterr().err
    assert _state(cli_env) == before


def test_add_municipality_with_a_taken_username_stores_nothing(
    cli_env: str, capsys: pytest.CaptureFixture[str]
) -> None:
    before = _state(cli_env)
    argv = ["--code", TOYOHASHI, "--manager-username", "manager.gamagori", "--manager-name", "x"]
    assert main(["admin", "add-municipality", *argv]) == 1
    assert "already in use" in capsys.readouterr().err
    assert _state(cli_env) == before  # not even the municipality row


@one_database
def test_admin_needs_a_subcommand(cli_env: str) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["admin"])
    assert exited.value.code == 2
