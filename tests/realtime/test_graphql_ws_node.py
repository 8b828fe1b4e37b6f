"""The Node `graphql-ws` client, as the PWA uses it, against the real server: a post arrives
live; after a disconnect, a reconnect with the last cursor brings exactly what was missed."""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.support.graphql import GraphQLClient
from tests.support.graphql_ws import (
    MAX_PROBES,
    PATIENT_EVENTS,
    PROBE_SECONDS,
    WAIT_SECONDS,
    create_post,
)
from tests.support.server import Server, patient_ids, serving

CLIENTS = Path(__file__).resolve().parents[1] / "js"
MISSED = 50


class NodeClient:
    """tests/js/subscribe.mjs in a subprocess: one JSON object per line for each thing it saw."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process

    async def line(self, *, within: float = WAIT_SECONDS) -> dict[str, Any]:
        assert self.process.stdout is not None
        raw = await asyncio.wait_for(self.process.stdout.readline(), within)
        assert raw, f"the Node client ended: {await self._stderr()}"
        message: dict[str, Any] = json.loads(raw)
        return message

    async def next_event(self, *, within: float = WAIT_SECONDS) -> dict[str, Any]:
        message = await self.line(within=within)
        assert "next" in message, message
        assert "errors" not in message["next"], message
        event: dict[str, Any] = message["next"]["data"]["patientEvents"]
        return event

    async def stop(self) -> int:
        """Close its standard input: it disposes of the client (closing the socket) and exits."""
        assert self.process.stdin is not None
        self.process.stdin.close()
        return await asyncio.wait_for(self.process.wait(), WAIT_SECONDS)

    async def _stderr(self) -> str:
        assert self.process.stderr is not None
        with contextlib.suppress(TimeoutError):
            return (await asyncio.wait_for(self.process.stderr.read(), 5)).decode()
        return ""


@asynccontextmanager
async def node_client(
    server: Server, token: str, variables: dict[str, Any]
) -> AsyncIterator[NodeClient]:
    node = shutil.which("node")
    assert node, "Node.js is needed (the Makefile's test set-up installs tests/js)"
    assert (CLIENTS / "node_modules" / "graphql-ws").is_dir(), "run `npm ci` in tests/js"
    config = {"url": server.ws_url, "token": token, "query": PATIENT_EVENTS, "variables": variables}
    process = await asyncio.create_subprocess_exec(
        node,
        str(CLIENTS / "subscribe.mjs"),
        json.dumps(config),
        cwd=CLIENTS,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    client = NodeClient(process)
    try:
        assert await client.line() == {"connected": True}
        yield client
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def go_live(client: NodeClient, probe: Any) -> None:
    """Post until the subscription delivers (it is live-only), then read past one more post."""
    for _ in range(MAX_PROBES):
        await probe()
        with contextlib.suppress(TimeoutError):
            await client.next_event(within=PROBE_SECONDS)
            break
    else:
        raise AssertionError("the subscription never went live")
    marker = await probe()
    while (await client.next_event())["post"]["id"] != marker:
        pass


@pytest.fixture
async def server(database_url: str, tmp_path: Path) -> AsyncIterator[Server]:
    with serving(database_url, cwd=tmp_path) as running:
        yield running


async def test_a_graphql_ws_client_receives_a_post_then_exactly_what_it_missed(
    server: Server,
) -> None:
    async with server.client() as http:
        anonymous = GraphQLClient(http)
        nurse = await anonymous.login("nurse.sato")
        doctor = await anonymous.login("dr.suzuki")
        patient = (await patient_ids(nurse))["pt-ito-haru"]
        assert nurse.token

        async def probe() -> str:
            return await create_post(doctor, patient, "定期訪問の予定を確認しました。")

        async with node_client(server, nurse.token, {"patientId": patient}) as client:
            await go_live(client, probe)
            first = await create_post(doctor, patient, "血圧 128/76、体温 36.5。変わりなし。")
            event = await client.next_event()
            assert (event["kind"], event["patientId"], event["post"]["id"]) == (
                "POST_CREATED",
                patient,
                first,
            )
            assert await client.stop() == 0

        missed = [await create_post(doctor, patient, f"訪問記録 {n}") for n in range(MISSED)]

        resume = {"patientId": patient, "after": event["cursor"]}
        async with node_client(server, nurse.token, resume) as client:
            replayed = [await client.next_event() for _ in range(MISSED)]
            assert [e["post"]["id"] for e in replayed] == missed
            assert {e["kind"] for e in replayed} == {"POST_CREATED"}
            assert len({e["cursor"] for e in replayed}) == MISSED
            # Then live, with nothing repeated in between.
            live = await create_post(doctor, patient, "夕方に再訪します。")
            assert (await client.next_event())["post"]["id"] == live
            last = await create_post(doctor, patient, "再訪しました。")
            assert (await client.next_event())["post"]["id"] == last
            assert await client.stop() == 0
