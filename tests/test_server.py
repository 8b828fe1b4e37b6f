"""The real server on loopback: `renraku demo` from an empty folder, and `renraku serve`."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from tests.support.graphql import DEMO, DEMO_PASSWORD

RENRAKU = [sys.executable, "-m", "renraku.cli"]
ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def running(args: list[str], *, cwd: Path, env: dict[str, str], port: int) -> Iterator[Any]:
    log = cwd / "server.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [*RENRAKU, *args, "--port", str(port)], cwd=cwd, env=env, stdout=out, stderr=out
        )
        try:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                assert process.poll() is None, log.read_text()
                try:
                    if httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200:
                        break
                except httpx.TransportError:
                    time.sleep(0.3)
            else:
                raise AssertionError("server did not start:\n" + log.read_text())
            yield log
        finally:
            process.send_signal(signal.SIGINT)
            process.wait(timeout=30)


def base_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RENRAKU_", "DATABASE_URL"))}
    env["PYTHONPATH"] = str(ROOT / "backend")
    env.update(extra)
    return env


def login(port: int, username: str) -> str:
    response = httpx.post(
        f"http://127.0.0.1:{port}/graphql",
        json={
            "query": "mutation($u: String!, $p: String!) {"
            " login(username: $u, password: $p) { token } }",
            "variables": {"u": username, "p": DEMO_PASSWORD},
        },
    )
    token: str = response.json()["data"]["login"]["token"]
    return token


def test_demo_from_an_empty_folder_serves_and_prints_accounts(tmp_path: Path) -> None:
    port = free_port()
    with running(["demo"], cwd=tmp_path, env=base_env(), port=port) as log:
        assert (tmp_path / "var" / "renraku.db").exists()
        printed = log.read_text()
        for account in DEMO["accounts"]:
            assert account["username"] in printed
        token = login(port, "nurse.sato")
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
    with running(["serve"], cwd=tmp_path, env=env, port=port):
        assert httpx.get(f"http://127.0.0.1:{port}/readyz").json() == {"status": "ready"}
        assert login(port, "cm.tanaka")


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
