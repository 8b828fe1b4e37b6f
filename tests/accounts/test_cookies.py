"""Browser sign-in: the session cookie's attributes, the Origin rule, and no token in the body."""

from __future__ import annotations

import httpx
import pytest
from sqlmodel import col

from renraku.accounts.models import AuthSession
from tests.accounts.helpers import ME, cookie_login, count, serve, snapshot
from tests.support.graphql import DEMO_PASSWORD

HTTPS = "https://127.0.0.1:8000"
HTTP = "http://127.0.0.1:8000"


def _cookie_attributes(response: httpx.Response) -> tuple[str, str, dict[str, str]]:
    header = response.headers["set-cookie"]
    first, *rest = (part.strip() for part in header.split(";"))
    name, _, value = first.partition("=")
    attributes = {}
    for part in rest:
        key, _, val = part.partition("=")
        attributes[key.lower()] = val
    return name, value, attributes


async def test_cookie_sign_in_over_https_sets_a_host_only_secure_cookie(database_url: str) -> None:
    async with serve(database_url, base_url=HTTPS) as served:
        response = await cookie_login(served.client, "nurse.sato")
        assert response.status_code == 200
        name, value, attributes = _cookie_attributes(response)
        assert name == "__Host-renraku_session"
        assert "secure" in attributes and "httponly" in attributes
        assert attributes["samesite"].lower() == "lax"
        assert attributes["path"] == "/" and "domain" not in attributes
        # The client now holds the cookie and sends it back over https.
        me = await served.client.post("/graphql", json={"query": ME}, headers={"Origin": HTTPS})
        assert me.json()["data"]["me"]["username"] == "nurse.sato"
        assert value not in response.text


async def test_cookie_sign_in_over_plain_http_has_no_secure_flag(database_url: str) -> None:
    async with serve(database_url, base_url=HTTP) as served:
        response = await cookie_login(served.client, "nurse.sato")
        assert response.status_code == 200
        name, _value, attributes = _cookie_attributes(response)
        assert name == "renraku_session"
        assert "secure" not in attributes and "httponly" in attributes
        assert attributes["samesite"].lower() == "lax"


async def test_the_token_never_appears_in_the_sign_in_body(database_url: str) -> None:
    async with serve(database_url, base_url=HTTPS) as served:
        response = await cookie_login(served.client, "nurse.sato")
        _name, token, _attributes = _cookie_attributes(response)
        body = response.json()
        assert set(body) == {"user"} and body["user"]["username"] == "nurse.sato"
        assert token and token not in response.text
        assert "token" not in response.text.lower()


@pytest.mark.parametrize("origin", [None, "https://evil.example", "http://127.0.0.1:8000"])
async def test_cookie_graphql_from_a_foreign_or_missing_origin_is_signed_out(
    database_url: str, origin: str | None
) -> None:
    async with serve(database_url, base_url=HTTPS) as served:
        assert (await cookie_login(served.client, "nurse.sato")).status_code == 200
        headers = {"Origin": origin} if origin else {}
        response = await served.client.post("/graphql", json={"query": ME}, headers=headers)
        body = response.json()
        assert body["data"] is None
        assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


@pytest.mark.parametrize("origin", [None, "https://evil.example"])
async def test_cookie_sign_in_from_elsewhere_is_refused_and_stores_nothing(
    database_url: str, origin: str | None
) -> None:
    async with serve(database_url, base_url=HTTPS) as served:
        before = await snapshot(served.runtime.db)
        headers = {"Origin": origin} if origin else {}
        body = {"username": "nurse.sato", "password": DEMO_PASSWORD}
        response = await served.client.post("/auth/login", json=body, headers=headers)
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "FORBIDDEN"
        assert "set-cookie" not in response.headers
        assert await snapshot(served.runtime.db) == before


@pytest.mark.parametrize(
    "content",
    [
        b"not json",
        b"[1, 2]",
        b'{"username": 1, "password": []}',
        b"[" * 2000 + b"]" * 2000,
        b'{"username": "nurse.sato", "password": "' + b"x" * 5000 + b'"}',
        b"\xff\xfe",
    ],
    ids=["not-json", "array", "wrong-types", "deep", "oversized", "not-utf8"],
)
async def test_malformed_sign_in_bodies_are_bad_input(database_url: str, content: bytes) -> None:
    async with serve(database_url, base_url=HTTPS) as served:
        before = await snapshot(served.runtime.db)
        response = await served.client.post(
            "/auth/login",
            content=content,
            headers={"Origin": HTTPS, "Content-Type": "application/json"},
        )
        assert response.status_code == 400
        assert response.json()["error"]["code"] == "BAD_USER_INPUT"
        assert await snapshot(served.runtime.db) == before


async def test_cookie_logout_revokes_the_session_and_clears_the_cookie(database_url: str) -> None:
    async with serve(database_url, base_url=HTTPS) as served:
        await cookie_login(served.client, "nurse.sato")
        db = served.runtime.db
        live = col(AuthSession.revoked_at).is_(None)
        assert await count(db, AuthSession, live) >= 1
        before_live = await count(db, AuthSession, live)
        response = await served.client.post("/auth/logout", headers={"Origin": HTTPS})
        assert response.status_code == 200
        assert await count(db, AuthSession, live) == before_live - 1
        assert (await served.client.get("/auth/me")).status_code == 401
