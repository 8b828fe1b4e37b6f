"""The real server on loopback: `renraku demo` from an empty folder, and `renraku serve`."""

from __future__ import annotations

import subprocess
from pathlib import Path

import httpx

from tests.support.graphql import DEMO
from tests.support.server import RENRAKU, base_env, free_port, running


def test_demo_from_an_empty_folder_serves_and_prints_accounts(tmp_path: Path) -> None:
    port = free_port()
    with running(["demo"], cwd=tmp_path, env=base_env(), port=port) as server:
        assert (tmp_path / "var" / "renraku.db").exists()
        printed = server.log_text()
        for account in DEMO["accounts"]:
            assert account["username"] in printed
        # Municipalities by name, and no library's set-up chatter (Alembic's, Casbin's).
        for municipality in DEMO["municipalities"]:
            assert f"In {municipality['name']} " in printed
            assert municipality["code"] not in printed
        assert '"logger": "alembic' not in printed and '"logger": "casbin' not in printed
        token = server.login("nurse.sato")
        response = httpx.post(
            f"http://127.0.0.1:{port}/graphql",
            json={"query": "{ patients { edges { node { displayName } } } }"},
            headers={"Authorization": f"Bearer {token}"},
        )
        names = {e["node"]["displayName"] for e in response.json()["data"]["patients"]["edges"]}
        expected = {p["display_name"] for p in DEMO["patients"] if "nurse.sato" in p["team"]}
        assert names == expected
        home = httpx.get(f"http://127.0.0.1:{port}/")
        assert home.status_code == 200 and "Renraku" in home.text


def test_serve_on_each_database(tmp_path: Path, database_url: str) -> None:
    port = free_port()
    env = base_env(DATABASE_URL=database_url)
    with running(["serve"], cwd=tmp_path, env=env, port=port) as server:
        assert httpx.get(f"{server.url}/readyz").json() == {"status": "ready"}
        assert server.login("cm.tanaka")


def test_serve_refuses_several_workers_without_a_broker(tmp_path: Path) -> None:
    result = subprocess.run(
        [*RENRAKU, "serve", "--workers", "2"],
        cwd=tmp_path,
        env=base_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "BROKER_URL" in result.stderr


def test_seed_demo_refuses_production(tmp_path: Path) -> None:
    env = base_env(RENRAKU_MODE="production", RENRAKU_SECRET_KEY="s" * 40)
    result = subprocess.run(
        [*RENRAKU, "seed", "demo"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert not (tmp_path / "var").exists()
