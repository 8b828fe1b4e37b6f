"""The page behind a set-up or reset link, and using it: once, unexpired, from our origin."""

from __future__ import annotations

import re
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from sqlmodel import col, update

from renraku.accounts.models import IdentityProvider, OneTimeLink
from renraku.accounts.secrets import token_hash
from renraku.runtime import Runtime
from renraku.timeutil import utcnow
from tests.accounts.helpers import ME, snapshot, user_gid, user_row
from tests.support.graphql import LOGIN, GraphQLClient, error_codes

ISSUE = "mutation($userId: ID!) { issuePasswordResetLink(userId: $userId) { url } }"
NEW_PASSWORD = "a new password for sato"


async def _reset_token(gql: GraphQLClient, runtime: Runtime, username: str) -> str:
    manager = await gql.login("manager.gamagori")
    result = await manager.execute(ISSUE, {"userId": await user_gid(runtime.db, username)})
    url: str = result["data"]["issuePasswordResetLink"]["url"]
    return parse_qs(urlsplit(url).query)["token"][0]


async def _use(http: httpx.AsyncClient, runtime: Runtime, body: object) -> httpx.Response:
    return await http.post(
        "/auth/link", json=body, headers={"Origin": runtime.settings.public_origin}
    )


async def _set_password(http: httpx.AsyncClient, runtime: Runtime, token: str) -> int:
    return (await _use(http, runtime, {"token": token, "password": NEW_PASSWORD})).status_code


async def test_the_page_is_self_contained_and_offers_a_password_form(
    gql: GraphQLClient, http: httpx.AsyncClient, runtime: Runtime
) -> None:
    token = await _reset_token(gql, runtime, "nurse.sato")
    page = await http.get("/auth/link", params={"token": token})
    assert page.status_code == 200
    html = page.text
    assert "nurse.sato" in html and 'type="password"' in html
    assert html.index("パスワードの設定") < html.index("Set your password")  # Japanese first
    # No external assets: no remote scripts, styles, images or fonts; the script runs by nonce.
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html)
    assert "<link" not in html and "@import" not in html
    policy = page.headers["content-security-policy"]
    assert "default-src 'none'" in policy and "'unsafe-inline'" not in policy
    assert page.headers["referrer-policy"] == "no-referrer"
    assert page.headers["cache-control"] == "no-store"
    assert "/auth/oidc/" not in html  # no identity provider for this municipality yet
    # Looking at the page does not use the link.
    assert await _set_password(http, runtime, token) == 200


async def test_the_page_offers_the_municipality_identity_provider(
    gql: GraphQLClient, http: httpx.AsyncClient, runtime: Runtime
) -> None:
    async with runtime.db.transaction() as session:
        session.add(
            IdentityProvider(
                key="gamagori-idp",
                name="蒲郡市職員ID",
                municipality_code="232149",
                issuer="https://idp.example.jp",
                client_id="renraku",
            )
        )
    token = await _reset_token(gql, runtime, "nurse.sato")
    html = (await http.get("/auth/link", params={"token": token})).text
    assert f'href="/auth/oidc/gamagori-idp/login?link={token}"' in html
    assert "蒲郡市職員ID でサインイン" in html and "Sign in with 蒲郡市職員ID" in html
    # A user of another municipality is not offered it.
    operator = await gql.login("operator")
    result = await operator.execute(ISSUE, {"userId": await user_gid(runtime.db, "manager.nishio")})
    other = parse_qs(urlsplit(result["data"]["issuePasswordResetLink"]["url"]).query)["token"][0]
    assert "/auth/oidc/" not in (await http.get("/auth/link", params={"token": other})).text


async def test_using_the_link_sets_the_password_and_ends_other_sessions(
    gql: GraphQLClient, http: httpx.AsyncClient, runtime: Runtime, demo: dict[str, object]
) -> None:
    old_session = await gql.login("nurse.sato")
    token = await _reset_token(gql, runtime, "nurse.sato")
    response = await _use(http, runtime, {"token": token, "password": NEW_PASSWORD})
    assert response.status_code == 200
    assert response.json() == {"ok": True, "user": {"username": "nurse.sato"}}
    assert error_codes(await old_session.execute(ME)) == ["UNAUTHENTICATED"]
    old = {"username": "nurse.sato", "password": "renraku-demo-2026"}
    assert error_codes(await gql.execute(LOGIN, old)) == ["UNAUTHENTICATED"]
    signed_in = await gql.login("nurse.sato", NEW_PASSWORD)
    assert "errors" not in await signed_in.execute(ME)
    # The account is a real one now: it works in production too.
    assert (await user_row(runtime.db, "nurse.sato")).is_demo is False


async def test_a_link_works_once(
    gql: GraphQLClient, http: httpx.AsyncClient, runtime: Runtime
) -> None:
    token = await _reset_token(gql, runtime, "nurse.sato")
    assert await _set_password(http, runtime, token) == 200
    before = await snapshot(runtime.db)
    again = await _use(http, runtime, {"token": token, "password": "yet another password"})
    assert again.status_code == 404 and again.json()["error"]["code"] == "NOT_FOUND"
    assert await snapshot(runtime.db) == before
    page = await http.get("/auth/link", params={"token": token})
    assert page.status_code == 404 and 'type="password"' not in page.text


async def test_an_expired_link_is_refused(
    gql: GraphQLClient, http: httpx.AsyncClient, runtime: Runtime
) -> None:
    token = await _reset_token(gql, runtime, "nurse.sato")
    async with runtime.db.transaction() as session:
        await session.exec(
            update(OneTimeLink)
            .where(col(OneTimeLink.token_hash) == token_hash(token))
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
    assert (await http.get("/auth/link", params={"token": token})).status_code == 404
    response = await _use(http, runtime, {"token": token, "password": NEW_PASSWORD})
    assert response.status_code == 404
    assert (await user_row(runtime.db, "nurse.sato")).is_demo is True  # password untouched


async def test_a_newer_link_replaces_an_older_one(
    gql: GraphQLClient, http: httpx.AsyncClient, runtime: Runtime
) -> None:
    first = await _reset_token(gql, runtime, "nurse.sato")
    second = await _reset_token(gql, runtime, "nurse.sato")
    assert await _set_password(http, runtime, first) == 404
    assert await _set_password(http, runtime, second) == 200


@pytest.mark.parametrize("token", ["", "nonsense", "x" * 1000, "<script>alert(1)</script>"])
async def test_unknown_tokens_get_the_same_plain_refusal(
    http: httpx.AsyncClient, runtime: Runtime, token: str
) -> None:
    page = await http.get("/auth/link", params={"token": token})
    assert page.status_code == 404
    assert "<script>alert" not in page.text
    response = await _use(http, runtime, {"token": token, "password": NEW_PASSWORD})
    assert response.status_code == 404 and response.json()["error"]["code"] == "NOT_FOUND"


@pytest.mark.parametrize("origin", [None, "https://evil.example"])
async def test_using_a_link_from_elsewhere_is_refused(
    gql: GraphQLClient, http: httpx.AsyncClient, runtime: Runtime, origin: str | None
) -> None:
    token = await _reset_token(gql, runtime, "nurse.sato")
    before = await snapshot(runtime.db)
    headers = {"Origin": origin} if origin else {}
    body = {"token": token, "password": NEW_PASSWORD}
    response = await http.post("/auth/link", json=body, headers=headers)
    assert response.status_code == 403 and response.json()["error"]["code"] == "FORBIDDEN"
    assert await snapshot(runtime.db) == before
    assert (await _use(http, runtime, body)).status_code == 200  # the link is still good


@pytest.mark.parametrize(
    ("password", "field"),
    [("short", "password"), ("x" * 300, "password")],
    ids=["too-short", "too-long"],
)
async def test_an_unacceptable_password_keeps_the_link(
    gql: GraphQLClient, http: httpx.AsyncClient, runtime: Runtime, password: str, field: str
) -> None:
    token = await _reset_token(gql, runtime, "nurse.sato")
    before = await snapshot(runtime.db)
    response = await _use(http, runtime, {"token": token, "password": password})
    assert response.status_code == 400
    assert response.json()["error"] == {
        "message": response.json()["error"]["message"],
        "code": "BAD_USER_INPUT",
        "field": field,
    }
    assert await snapshot(runtime.db) == before
    assert await _set_password(http, runtime, token) == 200


@pytest.mark.parametrize(
    "content",
    [
        b"not json",
        b"[]",
        b'{"token": 5, "password": null}',
        b"[" * 2000 + b"]" * 2000,
        b'{"token": "' + b"t" * 5000 + b'", "password": "x"}',
        b"\xff\xfe",
    ],
    ids=["not-json", "array", "wrong-types", "deep", "oversized", "not-utf8"],
)
async def test_malformed_bodies_are_bad_input(
    http: httpx.AsyncClient, runtime: Runtime, content: bytes
) -> None:
    before = await snapshot(runtime.db)
    response = await http.post(
        "/auth/link",
        content=content,
        headers={"Origin": runtime.settings.public_origin, "Content-Type": "application/json"},
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "BAD_USER_INPUT"
    assert await snapshot(runtime.db) == before
