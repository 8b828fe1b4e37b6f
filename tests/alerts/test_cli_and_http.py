"""`renraku alerts import` and `alerts sources add` as DESIGN.md's contract says, and `POST /alerts`
with a source's credential."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import subprocess
import sys

import httpx
import pytest
from sqlmodel import select

from renraku.alerts.models import Alert, AlertSource
from renraku.alerts.sources import add_source
from renraku.alerts.xml_safety import MAX_DOCUMENT_BYTES
from renraku.cli import main
from renraku.db import Database
from renraku.runtime import Runtime
from tests.alerts.helpers import DATA, sample, state
from tests.alerts.test_parsing import BILLION_LAUGHS

CONTRACT_KEYS = ["file", "status", "reason", "alert_id", "matched_patients"]


@pytest.fixture
def cli_env(database_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.delenv("RENRAKU_MODE", raising=False)
    return database_url


def _state(database_url: str) -> tuple[int, ...]:
    async def run() -> tuple[int, ...]:
        db = Database.from_url(database_url)
        try:
            return await state(db)
        finally:
            await db.dispose()

    return asyncio.run(run())


def test_import_json_prints_one_object_per_file_and_exits_0_with_rejections(
    cli_env: str, capsys: pytest.CaptureFixture[str], tmp_path: os.PathLike[str]
) -> None:
    hostile = os.path.join(tmp_path, "laughs.xml")
    with open(hostile, "wb") as handle:
        handle.write(BILLION_LAUGHS)
    files = [
        str(DATA / "synthetic-cap12-gamagori-alert.xml"),
        str(DATA / "synthetic-cap12-gamagori-update.xml"),
        str(DATA / "synthetic-cap12-test.xml"),
        str(DATA / "synthetic-cap12-exercise.xml"),
        hostile,
        str(DATA / "synthetic-cap12-gamagori-cancel.xml"),
    ]
    assert main(["alerts", "import", "--json", *files]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [list(line) for line in lines] == [CONTRACT_KEYS] * len(files)
    assert [line["file"] for line in lines] == files
    assert [line["status"] for line in lines] == [
        "accepted",
        "updated",
        "ignored",
        "drill",
        "rejected",
        "cancelled",
    ]
    assert [line["matched_patients"] for line in lines] == [3, 4, 0, 3, 0, 0]
    rejected = lines[4]
    assert rejected["alert_id"] is None and "<!DOCTYPE lolz>" in rejected["reason"]
    assert all(isinstance(line["alert_id"], int) for line in lines if line is not rejected)


def test_import_without_json_prints_a_line_per_file(
    cli_env: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = str(DATA / "jp-jma-VXWW50-kumamoto-landslide-alert.xml")
    assert main(["alerts", "import", path]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"{path}: accepted alert ") and "土砂災害警戒情報 (4)" in out


def test_the_command_line_exit_codes(cli_env: str, tmp_path: os.PathLike[str]) -> None:
    command = [sys.executable, "-m", "renraku.cli", "alerts", "import"]
    env = {**os.environ, "DATABASE_URL": cli_env}
    usage = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    assert usage.returncode == 2 and "FILE" in usage.stderr
    missing = os.path.join(tmp_path, "missing.xml")
    done = subprocess.run(
        [*command, "--json", missing], capture_output=True, text=True, env=env, check=False
    )
    assert done.returncode == 0
    (line,) = [json.loads(x) for x in done.stdout.splitlines()]
    assert line["status"] == "rejected" and line["reason"].startswith("file: cannot be read")


def test_sources_add_prints_a_credential_and_stores_only_its_hash(
    cli_env: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["alerts", "sources", "add", "Aichi prefecture feed", "--trusted"]) == 0
    out = capsys.readouterr().out.splitlines()
    token = out[1].strip()
    assert len(token) > 40

    async def stored() -> list[AlertSource]:
        db = Database.from_url(cli_env)
        try:
            async with db.session() as session:
                return list((await session.exec(select(AlertSource))).all())
        finally:
            await db.dispose()

    (source,) = asyncio.run(stored())
    assert source.trusted and source.name == "Aichi prefecture feed"
    assert source.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert token not in json.dumps(source.model_dump(mode="json"))
    before = _state(cli_env)
    assert main(["alerts", "sources", "add", "Aichi prefecture feed"]) == 2
    assert "exists already" in capsys.readouterr().err
    assert _state(cli_env) == before


async def test_post_alerts_needs_a_source_credential(
    runtime: Runtime, http: httpx.AsyncClient
) -> None:
    body = sample("synthetic-cap12-gamagori-alert.xml")
    before = await state(runtime.db)
    for headers in (
        {},
        {"Authorization": "Bearer rka_not-a-real-credential"},
        {"Authorization": "Basic x"},
    ):
        response = await http.post("/alerts", content=body, headers=headers)
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "UNAUTHENTICATED"
    assert await state(runtime.db) == before


async def test_post_alerts_imports_as_the_source(runtime: Runtime, http: httpx.AsyncClient) -> None:
    source, token = await add_source(runtime.db, "city feed", trusted=False)
    auth = {"Authorization": f"Bearer {token}"}
    response = await http.post(
        "/alerts", content=sample("synthetic-cap12-gamagori-alert.xml"), headers=auth
    )
    assert response.status_code == 200
    answer = response.json()
    assert list(answer) == CONTRACT_KEYS[1:]
    assert (answer["status"], answer["matched_patients"]) == ("accepted", 3)
    async with runtime.db.session() as session:
        alert = await session.get(Alert, answer["alert_id"])
    assert alert is not None and alert.source_id == source.id and alert.trusted is False


async def test_post_alerts_refuses_what_is_too_large_or_hostile(
    runtime: Runtime, http: httpx.AsyncClient
) -> None:
    _source, token = await add_source(runtime.db, "city feed", trusted=True)
    auth = {"Authorization": f"Bearer {token}"}
    before = await state(runtime.db)
    big = await http.post("/alerts", content=b" " * (MAX_DOCUMENT_BYTES + 1), headers=auth)
    assert big.status_code == 413 and big.json()["status"] == "rejected"
    hostile = await http.post("/alerts", content=BILLION_LAUGHS, headers=auth)
    assert hostile.status_code == 422 and "<!DOCTYPE" in hostile.json()["reason"]
    assert await state(runtime.db) == before
