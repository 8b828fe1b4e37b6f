"""GET /metrics: Prometheus text with requests, commits and the live feed; labels that never
carry an id or a text; open in demo mode, behind its token when one is set, absent in
production without one. Values are process-wide, so tests compare before and after."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import cast

import httpx
import pytest
from graphql import parse
from prometheus_client import REGISTRY
from starlette.applications import Starlette

from renraku import metrics
from renraku.app import build_app
from renraku.db import Database
from renraku.realtime.subscriptions import PATIENT_EVENTS, LiveSubscription, Socket
from renraku.runtime import Runtime, build_runtime
from tests.conftest import ORIGIN, make_settings
from tests.realtime.test_fanout import EVENTS, PATIENT, post, tokens
from tests.support.databases import one_database
from tests.support.graphql import GraphQLClient
from tests.support.live import receive, registered, serving, subscribe, subscriber
from tests.support.metrics import scrape, value
from tests.teams.helpers import patient_id, patient_pk


async def test_requests_and_commits_are_counted_by_route(gql: GraphQLClient) -> None:
    before = await scrape(gql.http)
    nurse = await gql.login("nurse.sato")
    answer = await nurse.execute("{ me { displayName } }")
    assert "errors" not in answer
    await gql.http.get("/uploads/VXBsb2FkOjEyMzQ1/thumbnail")
    await gql.http.get("/no-such-page/伊藤-ハル")
    after = await scrape(gql.http)

    graphql_ok = {"method": "POST", "route": "/graphql", "status": "200"}
    total = "renraku_http_requests_total"
    assert value(after, total, **graphql_ok) - value(before, total, **graphql_ok) == 2
    assert value(after, "renraku_http_request_seconds_count", method="POST", route="/graphql") > 0
    # Signing in committed a session: the commit histogram moved.
    assert value(after, "renraku_db_commit_seconds_count") > value(
        before, "renraku_db_commit_seconds_count"
    )
    routes = {dict(labels).get("route") for (name, labels) in after if name == total}
    assert "/uploads/{id}/thumbnail" in routes
    assert "unmatched" in routes
    text = (await gql.http.get("/metrics")).text
    assert "VXBsb2FkOjEyMzQ1" not in text and "伊藤" not in text and "no-such-page" not in text
    assert "_created" not in text


async def test_the_live_feed_is_counted(
    gql: GraphQLClient, runtime: Runtime, app: Starlette
) -> None:
    pid = await patient_id(runtime, PATIENT)
    doctor = await gql.login("dr.suzuki")
    [nurse] = await tokens(gql, "nurse.sato")
    before = await scrape(gql.http)
    async with serving(app) as url, subscriber(url, nurse) as ws:
        async with registered(1):
            await subscribe(ws, "s", EVENTS, {"p": pid})
        during = await scrape(gql.http)
        await post(doctor, pid, 1)
        frame = await receive(ws)
        assert frame["payload"]["data"]["patientEvents"]["kind"] == "POST_CREATED"
        delivered = await scrape(gql.http)
    after = await scrape(gql.http)

    subs = "renraku_feed_subscriptions"
    assert value(during, subs) == value(before, subs) + 1
    assert value(after, subs) == value(before, subs)
    for name in (
        "renraku_feed_events_committed_total",
        "renraku_feed_deliveries_total",
        "renraku_feed_commit_to_send_seconds_count",
    ):
        assert value(delivered, name) >= value(before, name) + 1, name


def live_subscriptions() -> float:
    return REGISTRY.get_sample_value("renraku_feed_subscriptions") or 0.0


async def test_a_subscription_ended_before_the_hub_took_it_is_neither_kept_nor_counted(
    app: Starlette, runtime: Runtime
) -> None:
    hub = app.state.hub
    pid = await patient_pk(runtime, PATIENT)

    def subscription() -> LiveSubscription:
        return LiveSubscription(
            socket=cast(Socket, object()),  # never written to here
            sub_id="s",
            field_name=PATIENT_EVENTS,
            patient_id=pid,
            document=parse(EVENTS),
            operation_name=None,
            variables={},
            key="k",
        )

    try:
        before = live_subscriptions()
        taken = subscription()
        await hub.add(taken, after=None)
        assert live_subscriptions() == before + 1
        hub.remove(taken)
        hub.remove(taken)  # a socket's close after the subscription's own end
        gone = subscription()
        hub.remove(gone)  # the socket closed while the hub was starting
        await hub.add(gone, after=None)
        assert live_subscriptions() == before
        assert pid not in hub._by_patient
    finally:
        # One turn of the loop: the hub's tasks, created before, take their first step (a task
        # cancelled before it ever ran would leave its work never awaited); then they stop.
        await asyncio.sleep(0)
        await hub.close()


def test_a_stopping_worker_leaves_the_shared_live_gauges(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    mine = tmp_path / f"gauge_livesum_{os.getpid()}.db"
    other = tmp_path / f"gauge_livesum_{os.getpid() + 1}.db"
    mine.write_bytes(b"")
    other.write_bytes(b"")
    monkeypatch.setenv(metrics.MULTIPROCESS_DIR, str(tmp_path))
    metrics.worker_stopped()
    assert not mine.exists() and other.exists()


@pytest.fixture
async def token_app(database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    settings = make_settings(database_url, metrics_token="m" * 40)
    runtime = build_runtime(settings, Database.from_url(database_url))
    transport = httpx.ASGITransport(app=build_app(settings, runtime))
    async with httpx.AsyncClient(transport=transport, base_url=ORIGIN) as client:
        yield client
    await runtime.close()


@one_database
async def test_a_metrics_token_is_required_once_set(token_app: httpx.AsyncClient) -> None:
    assert (await token_app.get("/metrics")).status_code == 401
    wrong = await token_app.get("/metrics", headers={"Authorization": "Bearer " + "n" * 40})
    assert wrong.status_code == 401 and "renraku_" not in wrong.text
    samples = await scrape(token_app, Authorization="Bearer " + "m" * 40)
    assert any(name.startswith("renraku_http_requests") for name, _ in samples)


@one_database
async def test_production_without_a_token_serves_no_metrics(database_url: str) -> None:
    settings = make_settings(database_url, mode="production", secret_key="s" * 40)
    runtime = build_runtime(settings, Database.from_url(database_url))
    transport = httpx.ASGITransport(app=build_app(settings, runtime))
    try:
        async with httpx.AsyncClient(transport=transport, base_url=ORIGIN) as client:
            answer = await client.get("/metrics")
        assert answer.status_code == 404 and "renraku_" not in answer.text
    finally:
        await runtime.close()
