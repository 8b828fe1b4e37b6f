"""Alert sources over HTTP: a revoked credential stops working at once, and each source may send
`alerts_per_minute` documents a minute to POST /alerts."""

from __future__ import annotations

from types import SimpleNamespace

import httpx
import pytest

from renraku import throttle
from renraku.alerts.sources import add_source, revoke_source
from renraku.runtime import Runtime
from renraku.settings import load_settings
from tests.alerts.helpers import sample, state

DOCUMENT = "synthetic-cap12-test.xml"


async def test_a_revoked_credential_stops_working_at_once(
    runtime: Runtime, http: httpx.AsyncClient
) -> None:
    _source, token = await add_source(runtime.db, "city feed", trusted=True)
    auth = {"Authorization": f"Bearer {token}"}
    first = await http.post("/alerts", content=sample(DOCUMENT), headers=auth)
    assert first.status_code == 200
    # Revoked while the server runs: the next request already finds it so.
    await revoke_source(runtime.db, "city feed")
    before = await state(runtime.db)
    refused = await http.post(
        "/alerts", content=sample("synthetic-cap12-gamagori-alert.xml"), headers=auth
    )
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == "UNAUTHENTICATED"
    assert await state(runtime.db) == before


async def test_the_61st_document_in_a_minute_is_refused(
    runtime: Runtime, http: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert runtime.settings.alerts_per_minute == 60
    # The throttle's clock held one second into a minute: the test never straddles two.
    now = 1_800_000_000 // 60 * 60 + 1.0
    monkeypatch.setattr(throttle, "time", SimpleNamespace(time=lambda: now))
    _source, token = await add_source(runtime.db, "busy feed", trusted=False)
    _other, other_token = await add_source(runtime.db, "quiet feed", trusted=False)
    auth = {"Authorization": f"Bearer {token}"}
    body = sample(DOCUMENT)
    for _ in range(60):
        response = await http.post("/alerts", content=body, headers=auth)
        assert response.status_code == 200
    before = await state(runtime.db)
    refused = await http.post(
        "/alerts", content=sample("synthetic-cap12-gamagori-alert.xml"), headers=auth
    )
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "RATE_LIMITED"
    assert refused.headers["Retry-After"] == "59"
    assert await state(runtime.db) == before
    # Another source has its own count.
    other = await http.post(
        "/alerts", content=body, headers={"Authorization": f"Bearer {other_token}"}
    )
    assert other.status_code == 200


def test_the_limit_is_a_setting() -> None:
    assert load_settings({"RENRAKU_ALERTS_PER_MINUTE": "5"}).alerts_per_minute == 5
    assert load_settings({}).alerts_per_minute == 60
