"""Sign-in with a password: wrong credentials, the slow-down, session lifetimes, demo accounts."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlmodel import col, update

from renraku.accounts import secrets
from renraku.accounts.models import AuthSession, User
from renraku.runtime import Runtime
from renraku.timeutil import utcnow
from tests.accounts.helpers import (
    ME,
    age_failures,
    count,
    serve,
    session_row,
    snapshot,
    user_row,
)
from tests.support.databases import one_database
from tests.support.graphql import LOGIN, GraphQLClient, error_codes

LOGOUT = "mutation { logout }"


async def _login(gql: GraphQLClient, username: str, password: str) -> dict[str, Any]:
    return await gql.execute(LOGIN, {"username": username, "password": password})


async def test_wrong_password_is_unauthenticated_and_changes_nothing(
    gql: GraphQLClient, runtime: Runtime
) -> None:
    before = await snapshot(runtime.db)
    result = await _login(gql, "nurse.sato", "not-the-password")
    assert error_codes(result) == ["UNAUTHENTICATED"]
    assert result["data"] is None
    assert await snapshot(runtime.db) == before


class CountingHasher:
    """Counts argon2 verifications; everything else goes to the real hasher."""

    def __init__(self, real: Any) -> None:
        self.real = real
        self.verified = 0

    def verify(self, password_hash: str, password: str) -> bool:
        self.verified += 1
        return bool(self.real.verify(password_hash, password))

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)


async def test_unknown_user_takes_the_same_path_as_a_wrong_password(
    gql: GraphQLClient, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    hasher = CountingHasher(secrets._hasher)
    monkeypatch.setattr(secrets, "_hasher", hasher)
    known = await _login(gql, "nurse.sato", "not-the-password")
    after_known = hasher.verified
    unknown = await _login(gql, "nobody.at.all", "not-the-password")
    assert after_known == 1 and hasher.verified == 2  # the full argon2 work, user or no user
    assert known["errors"][0]["message"] == unknown["errors"][0]["message"]
    assert error_codes(unknown) == ["UNAUTHENTICATED"]
    failures, _last = await runtime.throttle.store.get("u:nobody.at.all")
    assert failures == 1  # and it counts towards the slow-down like any failure


@one_database
async def test_oversized_credentials_are_refused_without_hashing(gql: GraphQLClient) -> None:
    result = await _login(gql, "nurse.sato", "x" * 100_000)
    assert error_codes(result) == ["UNAUTHENTICATED"]
    result = await _login(gql, "u" * 5000, "whatever")
    assert error_codes(result) == ["UNAUTHENTICATED"]


async def _fail(gql: GraphQLClient, username: str, times: int) -> None:
    for _ in range(times):
        assert error_codes(await _login(gql, username, "wrong-password")) == ["UNAUTHENTICATED"]


async def test_repeated_failures_are_rate_limited_with_retry_after(
    gql: GraphQLClient, runtime: Runtime, demo: dict[str, Any]
) -> None:
    free = runtime.settings.login_free_failures
    await _fail(gql, "nurse.sato", free)
    limited = await _login(gql, "nurse.sato", demo["demo"]["password"])
    assert error_codes(limited) == ["RATE_LIMITED"]  # even the right password must wait
    assert limited["errors"][0]["extensions"]["retryAfter"] >= 1
    age_failures(runtime, limited["errors"][0]["extensions"]["retryAfter"])
    assert "errors" not in await _login(gql, "nurse.sato", demo["demo"]["password"])


async def test_browser_sign_in_says_when_to_retry(
    http: httpx.AsyncClient, runtime: Runtime
) -> None:
    headers = {"Origin": runtime.settings.public_origin}
    wrong = {"username": "nurse.sato", "password": "wrong-password"}
    for _ in range(runtime.settings.login_free_failures):
        assert (await http.post("/auth/login", json=wrong, headers=headers)).status_code == 401
    response = await http.post("/auth/login", json=wrong, headers=headers)
    assert response.status_code == 429
    assert response.json()["error"]["code"] == "RATE_LIMITED"
    assert int(response.headers["Retry-After"]) >= 1


async def test_failures_from_one_address_do_not_block_another(
    database_url: str, demo: dict[str, Any]
) -> None:
    async with serve(database_url) as served:
        here = GraphQLClient(served.client)
        await _fail(here, "nurse.sato", served.runtime.settings.login_free_failures)
        assert error_codes(await _login(here, "nurse.sato", "wrong-password")) == ["RATE_LIMITED"]
        async with served.client_at("192.0.2.7") as elsewhere:
            result = await _login(GraphQLClient(elsewhere), "nurse.sato", demo["demo"]["password"])
    assert "errors" not in result, result


async def test_there_is_never_a_permanent_lockout(
    gql: GraphQLClient, runtime: Runtime, demo: dict[str, Any]
) -> None:
    for _ in range(20):  # far past the point where the delay reaches its cap
        age_failures(runtime, runtime.settings.login_max_delay_seconds)
        assert error_codes(await _login(gql, "nurse.sato", "wrong")) == ["UNAUTHENTICATED"]
    limited = await _login(gql, "nurse.sato", "wrong-password")
    assert error_codes(limited) == ["RATE_LIMITED"]
    assert (
        limited["errors"][0]["extensions"]["retryAfter"] <= runtime.settings.login_max_delay_seconds
    )
    age_failures(runtime, runtime.settings.login_max_delay_seconds)
    assert "errors" not in await _login(gql, "nurse.sato", demo["demo"]["password"])


async def _age_session(runtime: Runtime, token: str, **values: Any) -> None:
    auth = await session_row(runtime.db, token)
    async with runtime.db.transaction() as session:
        await session.exec(
            update(AuthSession).where(col(AuthSession.id) == auth.id).values(**values)
        )


@pytest.mark.parametrize(
    "aged",
    [
        pytest.param(lambda s: {"expires_at": utcnow() - timedelta(seconds=1)}, id="absolute"),
        pytest.param(
            lambda s: {"last_seen_at": utcnow() - timedelta(minutes=s.session_idle_minutes + 1)},
            id="idle",
        ),
        pytest.param(lambda s: {"revoked_at": utcnow()}, id="revoked"),
    ],
)
async def test_expired_and_revoked_sessions_are_signed_out(
    gql: GraphQLClient, runtime: Runtime, aged: Any
) -> None:
    client = await gql.login("nurse.sato")
    assert client.token is not None
    assert "errors" not in await client.execute(ME)
    await _age_session(runtime, client.token, **aged(runtime.settings))
    assert error_codes(await client.execute(ME)) == ["UNAUTHENTICATED"]


async def test_a_session_seen_recently_stays_signed_in(
    gql: GraphQLClient, runtime: Runtime
) -> None:
    client = await gql.login("nurse.sato")
    assert client.token is not None
    idle = timedelta(minutes=runtime.settings.session_idle_minutes - 5)
    await _age_session(runtime, client.token, last_seen_at=utcnow() - idle)
    assert "errors" not in await client.execute(ME)
    # Being seen moved the idle clock forward.
    assert utcnow() - (await session_row(runtime.db, client.token)).last_seen_at < timedelta(
        minutes=1
    )


async def test_logout_revokes_the_session(gql: GraphQLClient, runtime: Runtime) -> None:
    client = await gql.login("nurse.sato")
    other = await gql.login("nurse.sato")
    assert client.token is not None
    assert (await client.execute(LOGOUT))["data"] == {"logout": True}
    assert (await session_row(runtime.db, client.token)).revoked_at is not None
    assert error_codes(await client.execute(ME)) == ["UNAUTHENTICATED"]
    assert "errors" not in await other.execute(ME)  # only that session ended


@one_database
async def test_logout_needs_a_session(gql: GraphQLClient) -> None:
    assert error_codes(await gql.execute(LOGOUT)) == ["UNAUTHENTICATED"]


async def test_demo_accounts_are_refused_in_production(
    database_url: str, gql: GraphQLClient, demo: dict[str, Any]
) -> None:
    demo_token = (await gql.login("nurse.sato")).token
    async with serve(database_url, mode="production", secret_key="x" * 40) as served:
        production = GraphQLClient(served.client)
        before = await count(served.runtime.db, AuthSession)
        result = await _login(production, "nurse.sato", demo["demo"]["password"])
        assert error_codes(result) == ["UNAUTHENTICATED"]
        assert await count(served.runtime.db, AuthSession) == before
        # A session opened while the server ran in demo mode does not carry over.
        assert error_codes(await production.execute(ME, token=demo_token)) == ["UNAUTHENTICATED"]
        # The same account, no longer a demo account, may sign in.
        user = await user_row(served.runtime.db, "nurse.sato")
        async with served.runtime.db.transaction() as session:
            await session.exec(update(User).where(col(User.id) == user.id).values(is_demo=False))
        assert "errors" not in await _login(production, "nurse.sato", demo["demo"]["password"])
