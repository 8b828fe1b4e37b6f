"""Staff import through its two doors: the `importStaff` mutation and `renraku import staff`."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import col, select

from renraku.accounts.models import OneTimeLink, User
from renraku.accounts.staff_csv import COLUMNS
from renraku.cli import main
from renraku.runtime import Runtime
from tests.accounts.test_staff_import import (
    GAMAGORI,
    SAMPLE,
    csv_bytes,
    last_audit,
    person,
    snapshot,
    token_of,
)
from tests.support.graphql import GraphQLClient, error_codes

NISHIO = "232131"
IMPORT = """
mutation($csv: String!) {
  importStaff(csv: $csv) {
    created updated unchanged rejected
    rows { line status username column reason setupLink }
  }
}
"""


async def user_row(runtime: Runtime, username: str) -> User:
    async with runtime.db.session() as session:
        return (await session.exec(select(User).where(User.username == username))).one()


async def test_manager_imports_into_their_own_municipality(
    runtime: Runtime, gql: GraphQLClient
) -> None:
    manager = await gql.login("manager.gamagori")
    result = await manager.execute(IMPORT, {"csv": SAMPLE.read_text(encoding="utf-8")})
    assert "errors" not in result, result
    report = result["data"]["importStaff"]
    counts = {key: report[key] for key in ("created", "updated", "unchanged", "rejected")}
    assert counts == {"created": 4, "updated": 0, "unchanged": 0, "rejected": 0}
    assert {r["status"] for r in report["rows"]} == {"CREATED"}
    token_of(report["rows"][0]["setupLink"])
    manager_id = (await user_row(runtime, "manager.gamagori")).id
    assert (await user_row(runtime, "dr.kondo")).municipality_code == GAMAGORI
    record = await last_audit(runtime)
    assert record.action == "accounts.staff_imported"
    assert (record.actor_id, record.actor_kind) == (manager_id, "municipality")
    async with runtime.db.session() as session:
        query = select(OneTimeLink).order_by(col(OneTimeLink.id).desc()).limit(4)
        assert {link.created_by for link in (await session.exec(query)).all()} == {manager_id}


async def test_another_municipalitys_manager_cannot_touch_this_one(
    runtime: Runtime, gql: GraphQLClient
) -> None:
    before = await snapshot(runtime)
    manager = await gql.login("manager.nishio")
    text = csv_bytes(
        person("nishio.new", organisation_key="gamagori-clinic"),
        person("dr.suzuki", organisation_key="nishio-east-clinic"),
        person("nishio.nurse", organisation_key="nishio-east-clinic"),
    ).decode()
    report = (await manager.execute(IMPORT, {"csv": text}))["data"]["importStaff"]
    assert [(r["status"], r["column"]) for r in report["rows"]] == [
        ("REJECTED", "organisation_key"),
        ("REJECTED", "username"),
        ("CREATED", None),
    ]
    after = await snapshot(runtime)
    assert after["users"]["dr.suzuki"] == before["users"]["dr.suzuki"]
    assert after["organisations"]["gamagori-clinic"] == before["organisations"]["gamagori-clinic"]
    assert after["organisations"]["nishio-east-clinic"][2] == NISHIO
    assert (await user_row(runtime, "nishio.nurse")).municipality_code == NISHIO
    assert "nishio.new" not in after["users"]


@pytest.mark.parametrize(
    ("username", "code"),
    [
        ("planner.gamagori", "FORBIDDEN"),
        ("nurse.sato", "FORBIDDEN"),
        ("family.ito", "FORBIDDEN"),
        ("operator", "FORBIDDEN"),
        (None, "UNAUTHENTICATED"),
    ],
)
async def test_only_a_municipality_manager_may_import(
    runtime: Runtime, gql: GraphQLClient, username: str | None, code: str
) -> None:
    before = await snapshot(runtime)
    client = await gql.login(username) if username else gql
    result = await client.execute(IMPORT, {"csv": SAMPLE.read_text(encoding="utf-8")})
    assert result["data"] is None
    assert error_codes(result) == [code]
    assert await snapshot(runtime) == before


@pytest.mark.parametrize(
    ("text", "field"),
    [
        (csv_bytes(person("a.b")[:-1], header=list(COLUMNS[:-1])).decode(), "csv"),
        (csv_bytes(person("a.b")).decode() + 'x,"unclosed\r\n', "csv"),
        ("\ud800", "csv"),
        # Refused by the server's body limit before any resolver runs.
        (csv_bytes(person("a.b")).decode() + " " * 1_100_000, None),
    ],
    ids=["wrong header", "unclosed quote", "lone surrogate", "over the body limit"],
)
async def test_a_malformed_upload_is_bad_input_and_stores_nothing(
    runtime: Runtime, gql: GraphQLClient, text: str, field: str | None
) -> None:
    before = await snapshot(runtime)
    manager = await gql.login("manager.gamagori")
    # json.dumps escapes a lone surrogate as JSON allows; httpx's own encoder would refuse it.
    response = await gql.http.post(
        "/graphql",
        content=json.dumps({"query": IMPORT, "variables": {"csv": text}}),
        headers={"Authorization": f"Bearer {manager.token}", "Content-Type": "application/json"},
    )
    assert error_codes(response.json()) == ["BAD_USER_INPUT"]
    assert response.json()["errors"][0]["extensions"].get("field") == field
    assert await snapshot(runtime) == before


@pytest.fixture
def cli_env(database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """DATABASE_URL for the CLI, and the test run's logging back once main() has set its own."""
    monkeypatch.setenv("DATABASE_URL", database_url)
    root = logging.getLogger()
    monkeypatch.setattr(root, "handlers", root.handlers[:])
    monkeypatch.setattr(root, "level", root.level)
    access = logging.getLogger("uvicorn.access")
    monkeypatch.setattr(access, "disabled", access.disabled)


async def run_cli(*argv: str) -> int:
    # main() runs its own event loop, so it gets a thread of its own.
    return await asyncio.to_thread(main, ["import", "staff", *argv])


def printed_json(capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    out = capsys.readouterr().out
    result: dict[str, Any] = json.loads(out)
    return result


async def test_cli_imports_a_file_and_prints_a_json_report(
    runtime: Runtime,
    cli_env: None,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    assert await run_cli(str(SAMPLE), "--municipality", GAMAGORI, "--json") == 0
    report = printed_json(capsys)
    assert (report["file"], report["municipality"], report["created"]) == (str(SAMPLE), GAMAGORI, 4)
    assert [r["status"] for r in report["rows"]] == ["created"] * 4
    token_of(report["rows"][0]["setup_link"])
    assert (await last_audit(runtime)).actor_kind == "system"

    assert await run_cli(str(SAMPLE), "--municipality", GAMAGORI) == 0
    assert "0 created, 0 updated, 4 unchanged, 0 rejected." in capsys.readouterr().out

    mixed = tmp_path / "mixed.csv"
    mixed.write_bytes(csv_bytes(person("cli.one"), person("cli.two", profession="surgeon")))
    assert await run_cli(str(mixed), "--municipality", GAMAGORI, "--json") == 0
    rows = printed_json(capsys)["rows"]
    assert [(r["status"], r["column"]) for r in rows] == [
        ("created", None),
        ("rejected", "profession"),
    ]


async def test_cli_usage_errors_exit_2_and_store_nothing(
    runtime: Runtime,
    cli_env: None,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    before = await snapshot(runtime)
    malformed = tmp_path / "malformed.csv"
    malformed.write_bytes(b"name,email\r\n")
    oversized = tmp_path / "oversized.csv"
    oversized.write_bytes(SAMPLE.read_bytes() + b" " * 2_000_000)
    cases = {
        "no municipality with that code": (str(SAMPLE), "--municipality", "011002"),
        "not a municipality code": (str(SAMPLE), "--municipality", "2321"),
        "missing file": (str(tmp_path / "absent.csv"), "--municipality", GAMAGORI),
        "a folder": (str(tmp_path), "--municipality", GAMAGORI),
        "malformed file": (str(malformed), "--municipality", GAMAGORI, "--json"),
        "oversized file": (str(oversized), "--municipality", GAMAGORI),
    }
    for case, argv in cases.items():
        assert await run_cli(*argv) == 2, case
        captured = capsys.readouterr()
        assert captured.out == "", case
        assert captured.err.strip(), case
    with pytest.raises(SystemExit) as usage:
        await run_cli(str(SAMPLE))
    assert usage.value.code == 2
    assert await snapshot(runtime) == before
