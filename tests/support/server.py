"""The real server as a subprocess on a free loopback port: `renraku serve` (or `demo`), started
against a database the caller prepared, ready once /healthz answers, stopped with Ctrl-C."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.support.graphql import DEMO, DEMO_PASSWORD, GraphQLClient

RENRAKU = [sys.executable, "-m", "renraku.cli"]
ROOT = Path(__file__).resolve().parents[2]
# Generous for a loaded machine; only reached when the server never comes up.
START_SECONDS = 120
STOP_SECONDS = 30

LOGIN = "mutation($u: String!, $p: String!) { login(username: $u, password: $p) { token } }"
PATIENTS = "{ patients(first: 100) { edges { node { id displayName } } } }"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def base_env(**extra: str) -> dict[str, str]:
    """This process's environment without Renraku's settings, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RENRAKU_", "DATABASE_URL"))}
    env.pop("BROKER_URL", None)
    env["PYTHONPATH"] = str(ROOT / "backend")
    env.update(extra)
    return env


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def graphql_url(self) -> str:
        return f"{self.url}/graphql"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/graphql"

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")

    def login(self, username: str, password: str = DEMO_PASSWORD) -> str:
        """A bearer token for a demo account (from a synchronous test)."""
        response = httpx.post(
            self.graphql_url, json={"query": LOGIN, "variables": {"u": username, "p": password}}
        )
        body = response.json()
        assert "errors" not in body, body
        token: str = body["data"]["login"]["token"]
        return token

    def client(self) -> httpx.AsyncClient:
        """An HTTP client for this server (close it, or use it in `async with`)."""
        return httpx.AsyncClient(base_url=self.url, timeout=30)


async def user_id(client: GraphQLClient) -> str:
    """The GraphQL id of the signed-in user."""
    result = await client.execute("{ me { id } }")
    assert "errors" not in result, result
    found: str = result["data"]["me"]["id"]
    return found


async def patient_ids(client: GraphQLClient) -> dict[str, str]:
    """GraphQL ids of the demo patients the signed-in user sees, by their seed/demo.toml key."""
    result = await client.execute(PATIENTS)
    assert "errors" not in result, result
    edges = result["data"]["patients"]["edges"]
    by_name = {e["node"]["displayName"]: e["node"]["id"] for e in edges}
    return {
        p["key"]: by_name[p["display_name"]]
        for p in DEMO["patients"]
        if p["display_name"] in by_name
    }


@contextmanager
def running(
    args: list[str],
    *,
    cwd: Path,
    env: dict[str, str],
    port: int,
    command: Sequence[str] = RENRAKU,
) -> Iterator[Server]:
    """`renraku <args> --port <port>` until the block ends; its output goes to cwd/server.log.
    `command` runs another `renraku` (an installed one)."""
    log = cwd / "server.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [*command, *args, "--port", str(port)], cwd=cwd, env=env, stdout=out, stderr=out
        )
        server = Server(process, port, log)
        try:
            _wait_until_healthy(server)
            yield server
        finally:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=STOP_SECONDS)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _wait_until_healthy(server: Server) -> None:
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        assert server.process.poll() is None, server.log_text()
        try:
            if httpx.get(f"{server.url}/healthz").status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    raise AssertionError("server did not start:\n" + server.log_text())


@contextmanager
def serving(database_url: str, *, cwd: Path, workers: int = 1, **env: str) -> Iterator[Server]:
    """`renraku serve` on a migrated, demo-seeded database (tests/support/databases.py makes one).

    `env` adds or overrides settings (RENRAKU_WS_QUEUE_LIMIT=..., BROKER_URL=...). The origin
    the server answers as is its loopback address unless RENRAKU_PUBLIC_ORIGIN says otherwise.
    """
    port = free_port()
    settings = {
        "DATABASE_URL": database_url,
        "RENRAKU_PUBLIC_ORIGIN": f"http://127.0.0.1:{port}",
        # Log lines reach server.log as they are written, for tests that read it.
        "PYTHONUNBUFFERED": "1",
        **env,
    }
    args = ["serve", "--workers", str(workers)]
    with running(args, cwd=cwd, env=base_env(**settings), port=port) as server:
        yield server
