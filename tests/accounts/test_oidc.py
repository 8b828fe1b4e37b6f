"""OIDC sign-in end to end: the app (in process) and a real OpenID provider on loopback, with
authlib talking to the provider over HTTP. Redirects are followed by hand, as a browser would."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from sqlmodel import col, select, update
from starlette.applications import Starlette

from renraku.accounts import oidc
from renraku.accounts.models import AuthSession, IdentityProvider, OneTimeLink, User
from renraku.accounts.secrets import token_hash
from renraku.audit.models import AuditRecord
from renraku.runtime import Runtime
from renraku.settings import Settings
from renraku.timeutil import utcnow
from tests.conftest import make_settings
from tests.support.databases import one_database
from tests.support.oidc_provider import (
    RENRAKU_ORIGIN,
    Flow,
    Misbehaviour,
    OidcProvider,
    ProviderUser,
    add_provider,
    identities,
    issue_link,
    link_directly,
    new_browser,
    s256,
    serve,
    stored,
)

GAMAGORI = "232149"
NISHIO = "232131"


@pytest.fixture(scope="session")
def provider_server() -> Iterator[OidcProvider]:
    with serve(OidcProvider()) as provider:
        yield provider


@pytest.fixture
def provider(provider_server: OidcProvider) -> OidcProvider:
    provider_server.reset()
    return provider_server


@pytest.fixture
def settings(database_url: str) -> Settings:
    # https, so the Secure session cookies are exercised.
    return make_settings(database_url, public_origin=RENRAKU_ORIGIN)


@pytest.fixture
async def browser(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    async with new_browser(app) as client:
        yield client


@pytest.fixture
async def provider_http() -> AsyncIterator[httpx.AsyncClient]:
    """The browser's requests to the provider: real HTTP to loopback."""
    async with httpx.AsyncClient(trust_env=False) as client:
        yield client


@pytest.fixture
async def gamagori(runtime: Runtime, provider: OidcProvider) -> IdentityProvider:
    return await add_provider(runtime, provider, key="gamagori", municipality=GAMAGORI)


@pytest.fixture
def flow(browser: httpx.AsyncClient, provider_http: httpx.AsyncClient) -> Flow:
    return Flow(browser, provider_http)


async def test_linked_identity_signs_in_with_pkce_and_the_cookie_answers_me(
    runtime: Runtime, provider: OidcProvider, gamagori: IdentityProvider, flow: Flow
) -> None:
    provider.user = ProviderUser("sato-at-gamagori", "sato@example.jp")
    await link_directly(runtime, provider.issuer, "sato-at-gamagori", "nurse.sato")

    answer = await flow.sign_in("gamagori")

    assert answer.status_code == 303 and answer.headers["location"] == "/"
    cookie = answer.headers["set-cookie"].lower()
    assert "__host-renraku_session=" in cookie
    assert "secure" in cookie and "httponly" in cookie and "samesite=lax" in cookie
    assert flow.browser.cookies.get("renraku_oidc") is None  # redirect state is gone
    assert await flow.me() == "nurse.sato"
    asked = provider.authorize_requests[-1]
    assert asked["code_challenge_method"] == "S256" and asked["nonce"]
    assert s256(provider.token_requests[-1]["code_verifier"]) == asked["code_challenge"]
    async with runtime.db.session() as session:
        auth = (
            await session.exec(select(AuthSession).order_by(col(AuthSession.id).desc()))
        ).first()
    assert auth is not None and auth.method == "oidc" and auth.kind == "cookie"


async def test_unlinked_identity_is_refused_and_nothing_is_linked(
    runtime: Runtime, provider: OidcProvider, gamagori: IdentityProvider, flow: Flow
) -> None:
    provider.user = ProviderUser("stranger", "stranger@example.jp")
    before = await stored(runtime)

    answer = await flow.sign_in("gamagori")

    assert answer.status_code == 403
    assert "not linked to a Renraku account; open your invitation link" in answer.text
    assert await stored(runtime) == before
    assert await flow.me() is None


async def test_link_token_links_the_identity_to_that_user_once(
    app: Starlette,
    runtime: Runtime,
    provider: OidcProvider,
    gamagori: IdentityProvider,
    flow: Flow,
) -> None:
    link = await issue_link(runtime, "nurse.sato")
    provider.user = ProviderUser("new-sato", "someone@example.jp")

    answer = await flow.sign_in("gamagori", link=link)

    assert answer.status_code == 303
    assert await flow.me() == "nurse.sato"
    assert await identities(runtime) == [(provider.issuer, "new-sato", "nurse.sato")]
    async with runtime.db.session() as session:
        audit = (
            await session.exec(select(AuditRecord).order_by(col(AuditRecord.id).desc()))
        ).first()
    assert audit is not None and audit.action == "accounts.oidc_linked"

    # The link is used up: another identity cannot ride it.
    async with new_browser(app) as browser:
        other = Flow(browser, flow.provider_http)
        provider.user = ProviderUser("intruder", "intruder@example.jp")
        before = await stored(runtime)
        refused = await other.start("gamagori", link=link)
        assert refused.status_code == 404 and "not valid" in refused.text
        assert await stored(runtime) == before

        # The linked identity now signs in without any link.
        provider.user = ProviderUser("new-sato", "someone@example.jp")
        again = await other.sign_in("gamagori")
        assert again.status_code == 303 and await other.me() == "nurse.sato"


async def test_same_email_as_an_existing_user_neither_signs_in_nor_links(
    runtime: Runtime, provider: OidcProvider, gamagori: IdentityProvider, flow: Flow
) -> None:
    async with runtime.db.transaction() as session:
        await session.exec(
            update(User).where(col(User.username) == "dr.suzuki").values(email="suzuki@example.jp")
        )
    provider.user = ProviderUser("lookalike", "suzuki@example.jp")
    before = await stored(runtime)

    answer = await flow.sign_in("gamagori")

    assert answer.status_code == 403
    assert await stored(runtime) == before
    assert await flow.me() is None

    # With someone else's link, the link decides who it is, never the address.
    link = await issue_link(runtime, "nurse.sato")
    linked = await flow.sign_in("gamagori", link=link)
    assert linked.status_code == 303 and await flow.me() == "nurse.sato"
    assert await identities(runtime) == [(provider.issuer, "lookalike", "nurse.sato")]


@pytest.mark.parametrize("misbehaviour", list(Misbehaviour))
async def test_a_bad_id_token_is_refused_with_nothing_stored(
    runtime: Runtime,
    provider: OidcProvider,
    gamagori: IdentityProvider,
    flow: Flow,
    misbehaviour: Misbehaviour,
) -> None:
    link = await issue_link(runtime, "nurse.sato")
    await link_directly(runtime, provider.issuer, "already-linked", "dr.suzuki")
    before = await stored(runtime)
    provider.misbehave = misbehaviour

    for subject, carried_link in (("new-sato", link), ("already-linked", None)):
        provider.user = ProviderUser(subject, "x@example.jp")
        answer = await flow.sign_in("gamagori", link=carried_link)
        assert answer.status_code == 400, (subject, answer.text)
        assert "did not complete" in answer.text

    assert await stored(runtime) == before
    assert await flow.me() is None
    assert len(provider.token_requests) == 2  # each got as far as the token


async def test_state_that_does_not_match_the_browser_is_refused(
    app: Starlette,
    runtime: Runtime,
    provider: OidcProvider,
    gamagori: IdentityProvider,
    flow: Flow,
) -> None:
    await link_directly(runtime, provider.issuer, "subject-0001", "nurse.sato")
    before = await stored(runtime)

    callback = await flow.to_callback("gamagori")
    forged = await flow.browser.get(str(callback.copy_set_param("state", "attacker-state")))
    assert forged.status_code == 400

    # A callback delivered to a browser that never started the sign-in (login CSRF).
    callback = await flow.to_callback("gamagori")
    async with new_browser(app) as victim:
        planted = await victim.get(str(callback))
    assert planted.status_code == 400

    # The genuine browser may finish its own sign-in, but only once.
    assert (await flow.browser.get(str(callback))).status_code == 303
    assert (await flow.browser.get(str(callback))).status_code == 400
    after = await stored(runtime)
    assert after[0] == before[0] and after[1] == before[1] + 1


async def test_provider_error_answer_is_refused(
    runtime: Runtime, gamagori: IdentityProvider, flow: Flow
) -> None:
    start = await flow.start("gamagori")
    state = httpx.URL(start.headers["location"]).params["state"]
    before = await stored(runtime)
    answer = await flow.browser.get(
        oidc.callback_path("gamagori"), params={"error": "access_denied", "state": state}
    )
    assert answer.status_code == 400
    assert await stored(runtime) == before


@one_database
@pytest.mark.parametrize("key", ["nowhere", "Gamagori", "x" * 200, "gamagori%2F..%2F"])
async def test_unknown_provider_is_not_found(
    gamagori: IdentityProvider, flow: Flow, key: str
) -> None:
    assert (await flow.browser.get(f"/auth/oidc/{key}/login")).status_code == 404
    callback = await flow.browser.get(f"/auth/oidc/{key}/callback?code=c&state=s")
    assert callback.status_code == 404


@pytest.mark.parametrize("link", ["", "garbage", "x" * 5000])
async def test_a_malformed_link_is_refused_before_the_provider(
    gamagori: IdentityProvider, provider: OidcProvider, flow: Flow, link: str
) -> None:
    answer = await flow.start("gamagori", link=link)
    assert answer.status_code == 404
    assert provider.authorize_requests == []


async def test_a_provider_of_another_municipality_cannot_link(
    runtime: Runtime, provider: OidcProvider, gamagori: IdentityProvider, flow: Flow
) -> None:
    await add_provider(runtime, provider, key="nishio", municipality=NISHIO)
    before = await stored(runtime)
    for username in ("dr.suzuki", "operator"):  # of Gamagori, and of no municipality
        link = await issue_link(runtime, username)
        for key in ("nishio", "gamagori") if username == "operator" else ("nishio",):
            answer = await flow.start(key, link=link)
            assert answer.status_code == 403, (username, key)
            assert "cannot sign in through this identity provider" in answer.text
    assert provider.authorize_requests == []
    assert (await stored(runtime))[:3] == before[:3]


async def test_the_link_is_checked_again_at_the_callback(
    runtime: Runtime, provider: OidcProvider, gamagori: IdentityProvider, flow: Flow
) -> None:
    """Between login and callback the link may be used, or its user may move elsewhere."""
    provider.user = ProviderUser("late", "late@example.jp")
    used = await issue_link(runtime, "nurse.sato")
    callback = await flow.to_callback("gamagori", link=used)
    async with runtime.db.transaction() as session:
        await session.exec(
            update(OneTimeLink)
            .where(col(OneTimeLink.token_hash) == token_hash(used))
            .values(used_at=utcnow())
        )
    before = await stored(runtime)
    answer = await flow.browser.get(str(callback))
    assert answer.status_code == 403 and "not valid" in answer.text
    assert await stored(runtime) == before

    moved = await issue_link(runtime, "nurse.takahashi")
    callback = await flow.to_callback("gamagori", link=moved)
    async with runtime.db.transaction() as session:
        await session.exec(
            update(User)
            .where(col(User.username) == "nurse.takahashi")
            .values(municipality_code=NISHIO)
        )
    before = await stored(runtime)
    answer = await flow.browser.get(str(callback))
    assert answer.status_code == 403
    assert await stored(runtime) == before
    assert await identities(runtime) == []


async def test_an_identity_linked_to_a_deactivated_account_is_refused(
    runtime: Runtime, provider: OidcProvider, gamagori: IdentityProvider, flow: Flow
) -> None:
    await link_directly(runtime, provider.issuer, "subject-0001", "nurse.sato")
    async with runtime.db.transaction() as session:
        await session.exec(
            update(User).where(col(User.username) == "nurse.sato").values(active=False)
        )
    before = await stored(runtime)
    answer = await flow.sign_in("gamagori")
    assert answer.status_code == 403 and "not active" in answer.text
    assert await stored(runtime) == before


async def test_a_provider_that_is_down_or_names_another_issuer_is_refused_at_login(
    runtime: Runtime, provider: OidcProvider, flow: Flow
) -> None:
    # Registered with a trailing slash: discovery answers with the issuer spelt without it.
    await oidc.check_add_identity_provider(
        runtime,
        key="mismatch",
        name="Mismatch",
        municipality_code=GAMAGORI,
        issuer=provider.issuer + "/",
        client_id="renraku-mismatch",
        client_secret="s",
    )
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        dead_port = closed.getsockname()[1]
    await oidc.check_add_identity_provider(
        runtime,
        key="down",
        name="Down",
        municipality_code=GAMAGORI,
        issuer=f"http://127.0.0.1:{dead_port}",
        client_id="renraku-down",
        client_secret="s",
    )
    for key in ("mismatch", "down"):
        answer = await flow.start(key)
        assert answer.status_code == 502, key
    assert provider.authorize_requests == []
