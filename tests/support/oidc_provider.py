"""A small but real OpenID provider for tests, signing with joserfc.

It serves discovery, its JWKS, an /authorize that approves the configured user at once (there is
no login form: the person has "already signed in" at the provider), and a /token endpoint that
checks the code, the client's credentials, the PKCE verifier against the stored S256 challenge and
the redirect_uri. `serve()` runs it under uvicorn on 127.0.0.1 in a thread of its own, so the app
under test reaches it over real HTTP. `misbehave` makes the ID tokens it issues wrong in one way.

Below the provider: `Flow`, which walks a browser through Renraku's login, the provider and the
callback, and helpers that read what Renraku stored.
"""

from __future__ import annotations

import base64
import enum
import hashlib
import secrets
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlencode

import httpx
import uvicorn
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey
from sqlalchemy import func
from sqlmodel import col, select
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from renraku.accounts import oidc
from renraku.accounts.actions import do_issue_link
from renraku.accounts.models import (
    AuthSession,
    IdentityProvider,
    OidcIdentity,
    OneTimeLink,
    User,
)
from renraku.audit.models import AuditRecord
from renraku.runtime import Runtime

KEY_ID = "test-signing-key"
CODE_LIFETIME_SECONDS = 60
ID_TOKEN_LIFETIME_SECONDS = 300


class Misbehaviour(enum.Enum):
    WRONG_ISSUER = "wrong_issuer"
    WRONG_AUDIENCE = "wrong_audience"
    EXPIRED = "expired"
    WRONG_NONCE = "wrong_nonce"
    MISSING_NONCE = "missing_nonce"
    BAD_SIGNATURE = "bad_signature"


@dataclass
class ProviderUser:
    subject: str
    email: str


@dataclass
class RegisteredClient:
    secret: str
    redirect_uris: set[str]


@dataclass(frozen=True)
class _Grant:
    client_id: str
    redirect_uri: str
    nonce: str | None
    code_challenge: str
    user: ProviderUser
    expires_at: float


def s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def _rsa_key() -> RSAKey:
    return RSAKey.generate_key(
        2048, parameters={"kid": KEY_ID, "use": "sig", "alg": "RS256"}, private=True
    )


@dataclass
class OidcProvider:
    key: RSAKey = field(default_factory=_rsa_key)
    # Same kid, different key: what a forger without the provider's key would sign with.
    impostor_key: RSAKey = field(default_factory=_rsa_key)
    issuer: str = ""
    clients: dict[str, RegisteredClient] = field(default_factory=dict)
    user: ProviderUser = field(default_factory=lambda: ProviderUser("subject-0001", "a@example.jp"))
    misbehave: Misbehaviour | None = None
    authorize_requests: list[dict[str, str]] = field(default_factory=list)
    token_requests: list[dict[str, str]] = field(default_factory=list)
    _grants: dict[str, _Grant] = field(default_factory=dict)

    def reset(self) -> None:
        self.clients.clear()
        self.user = ProviderUser("subject-0001", "a@example.jp")
        self.misbehave = None
        self.authorize_requests.clear()
        self.token_requests.clear()
        self._grants.clear()

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/.well-known/openid-configuration", self.discovery),
                Route("/jwks", self.jwks),
                Route("/authorize", self.authorize),
                Route("/token", self.token, methods=["POST"]),
            ]
        )

    async def discovery(self, _request: Request) -> Response:
        return JSONResponse(
            {
                "issuer": self.issuer,
                "authorization_endpoint": f"{self.issuer}/authorize",
                "token_endpoint": f"{self.issuer}/token",
                "jwks_uri": f"{self.issuer}/jwks",
                "response_types_supported": ["code"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "code_challenge_methods_supported": ["S256"],
                "token_endpoint_auth_methods_supported": [
                    "client_secret_basic",
                    "client_secret_post",
                ],
                "scopes_supported": ["openid", "email"],
            }
        )

    async def jwks(self, _request: Request) -> Response:
        return JSONResponse(KeySet([self.key]).as_dict(private=False))

    async def authorize(self, request: Request) -> Response:
        params = dict(request.query_params)
        self.authorize_requests.append(params)
        client = self.clients.get(params.get("client_id", ""))
        redirect_uri = params.get("redirect_uri", "")
        if client is None or redirect_uri not in client.redirect_uris:
            # Never redirect to an unregistered address (RFC 6749 4.1.2.1).
            return PlainTextResponse("unknown client or redirect_uri", status_code=400)
        state = params.get("state", "")
        problems = (
            params.get("response_type") != "code"
            or "openid" not in params.get("scope", "").split()
            or params.get("code_challenge_method") != "S256"
            or not params.get("code_challenge")
        )
        if problems:
            return RedirectResponse(
                f"{redirect_uri}?{urlencode({'error': 'invalid_request', 'state': state})}"
            )
        code = secrets.token_urlsafe(24)
        self._grants[code] = _Grant(
            client_id=params["client_id"],
            redirect_uri=redirect_uri,
            nonce=params.get("nonce"),
            code_challenge=params["code_challenge"],
            user=self.user,
            expires_at=time.time() + CODE_LIFETIME_SECONDS,
        )
        return RedirectResponse(f"{redirect_uri}?{urlencode({'code': code, 'state': state})}")

    def _client_id_of(self, request: Request, form: dict[str, str]) -> str | None:
        """The authenticated client (client_secret_basic or client_secret_post), or None."""
        scheme, _, value = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "basic":
            try:
                decoded = base64.b64decode(value).decode()
            except ValueError:
                return None
            raw_id, _, raw_secret = decoded.partition(":")
            client_id, secret = unquote(raw_id), unquote(raw_secret)
        else:
            client_id, secret = form.get("client_id", ""), form.get("client_secret", "")
        client = self.clients.get(client_id)
        if client is None or not secrets.compare_digest(client.secret, secret):
            return None
        return client_id

    async def token(self, request: Request) -> Response:
        form = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
        self.token_requests.append(form)
        client_id = self._client_id_of(request, form)
        if client_id is None:
            return JSONResponse({"error": "invalid_client"}, status_code=401)
        grant = self._grants.pop(form.get("code", ""), None)
        valid = (
            form.get("grant_type") == "authorization_code"
            and grant is not None
            and grant.client_id == client_id
            and grant.expires_at > time.time()
            and form.get("redirect_uri") == grant.redirect_uri
            and s256(form.get("code_verifier", "")) == grant.code_challenge
        )
        if not valid or grant is None:
            return JSONResponse({"error": "invalid_grant"}, status_code=400)
        return JSONResponse(
            {
                "access_token": secrets.token_urlsafe(24),
                "token_type": "Bearer",
                "expires_in": ID_TOKEN_LIFETIME_SECONDS,
                "scope": "openid",
                "id_token": self.id_token(grant),
            },
            headers={"Cache-Control": "no-store"},
        )

    def id_token(self, grant: _Grant) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "sub": grant.user.subject,
            "aud": grant.client_id,
            "iat": now,
            "exp": now + ID_TOKEN_LIFETIME_SECONDS,
            "email": grant.user.email,
            "email_verified": True,
        }
        if grant.nonce is not None:
            claims["nonce"] = grant.nonce
        key = self.key
        match self.misbehave:
            case Misbehaviour.WRONG_ISSUER:
                claims["iss"] = self.issuer + "/elsewhere"
            case Misbehaviour.WRONG_AUDIENCE:
                # azp naming the client must not make up for an audience that does not.
                claims["aud"] = ["another-client"]
                claims["azp"] = grant.client_id
            case Misbehaviour.EXPIRED:
                claims["iat"] = now - 2 * 3600
                claims["exp"] = now - 3600
            case Misbehaviour.WRONG_NONCE:
                claims["nonce"] = "not-the-nonce-that-was-sent"
            case Misbehaviour.MISSING_NONCE:
                claims.pop("nonce", None)
            case Misbehaviour.BAD_SIGNATURE:
                key = self.impostor_key
            case None:
                pass
        return jwt.encode({"alg": "RS256", "kid": KEY_ID}, claims, key)


@contextmanager
def serve(provider: OidcProvider) -> Iterator[OidcProvider]:
    """Run `provider` on a free port of 127.0.0.1 until the block ends."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    provider.issuer = f"http://127.0.0.1:{sock.getsockname()[1]}"
    config = uvicorn.Config(
        provider.app(), lifespan="off", ws="none", log_level="warning", access_log=False
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="oidc-provider", daemon=True
    )
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test OpenID provider did not start")
        time.sleep(0.01)
    try:
        yield provider
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()


# Driving Renraku's side of a sign-in, as a browser would, and reading what it stored.

RENRAKU_ORIGIN = "https://renraku.test"


def new_browser(app: Starlette) -> httpx.AsyncClient:
    """A browser of its own (its own cookie jar) talking to the app in process."""
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
    return httpx.AsyncClient(transport=transport, base_url=RENRAKU_ORIGIN)


async def add_provider(
    runtime: Runtime, provider: OidcProvider, *, key: str, municipality: str
) -> IdentityProvider:
    idp = await oidc.check_add_identity_provider(
        runtime,
        key=key,
        name=f"{key} ID",
        municipality_code=municipality,
        issuer=provider.issuer,
        client_id=f"renraku-{key}",
        client_secret=f"secret-{key}",
    )
    provider.clients[idp.client_id] = RegisteredClient(
        secret=f"secret-{key}", redirect_uris={RENRAKU_ORIGIN + oidc.callback_path(key)}
    )
    return idp


@dataclass
class Flow:
    browser: httpx.AsyncClient
    provider_http: httpx.AsyncClient

    async def start(self, key: str, link: str | None = None) -> httpx.Response:
        return await self.browser.get(
            f"/auth/oidc/{key}/login", params={"link": link} if link is not None else {}
        )

    async def to_callback(self, key: str, link: str | None = None) -> httpx.URL:
        """Start at Renraku, pass the provider; the callback URL the provider sends us back to."""
        start = await self.start(key, link)
        assert start.status_code == 302, start.text
        approved = await self.provider_http.get(start.headers["location"])
        assert approved.status_code in (302, 307), approved.text
        callback = httpx.URL(approved.headers["location"])
        assert str(callback).startswith(RENRAKU_ORIGIN + oidc.callback_path(key))
        return callback

    async def sign_in(self, key: str, link: str | None = None) -> httpx.Response:
        return await self.browser.get(str(await self.to_callback(key, link)))

    async def me(self) -> str | None:
        answer = await self.browser.post(
            "/graphql", json={"query": "{ me { username } }"}, headers={"Origin": RENRAKU_ORIGIN}
        )
        body = answer.json()
        return None if body.get("errors") else body["data"]["me"]["username"]


async def user_of(runtime: Runtime, username: str) -> User:
    async with runtime.db.session() as session:
        user = (await session.exec(select(User).where(User.username == username))).one()
    return user


async def issue_link(runtime: Runtime, username: str, purpose: str = "setup") -> str:
    user = await user_of(runtime, username)
    assert user.id is not None
    async with runtime.db.transaction() as session:
        return await do_issue_link(
            session, user_id=user.id, purpose=purpose, created_by=None, hours=24
        )


async def link_directly(runtime: Runtime, issuer: str, subject: str, username: str) -> None:
    user = await user_of(runtime, username)
    assert user.id is not None
    async with runtime.db.transaction() as session:
        session.add(OidcIdentity(issuer=issuer, subject=subject, user_id=user.id))


async def stored(runtime: Runtime) -> tuple[int, int, int, int]:
    """Identities, sessions, used links and audit records: what a refused sign-in must not add."""
    async with runtime.db.session() as session:
        counts = []
        for query in (
            select(func.count()).select_from(OidcIdentity),
            select(func.count()).select_from(AuthSession),
            select(func.count())
            .select_from(OneTimeLink)
            .where(col(OneTimeLink.used_at).is_not(None)),
            select(func.count()).select_from(AuditRecord),
        ):
            counts.append((await session.exec(query)).one())
    return counts[0], counts[1], counts[2], counts[3]


async def identities(runtime: Runtime) -> list[tuple[str, str, str]]:
    async with runtime.db.session() as session:
        rows = await session.exec(
            select(OidcIdentity.issuer, OidcIdentity.subject, User.username).join(
                User, col(User.id) == OidcIdentity.user_id
            )
        )
        return [(issuer, subject, username) for issuer, subject, username in rows.all()]
