"""OpenID Connect sign-in through a municipality's identity provider (authlib, joserfc).

An identity is the pair (issuer, subject) and nothing else. It signs in the user it is linked to,
and it becomes linked only through that user's own one-time set-up or reset link, opened with a
provider of the user's municipality. E-mail addresses and names from the provider are never
matched against accounts: a provider can assert any address it likes.
"""

from __future__ import annotations

import contextlib
import ipaddress
import re
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx2
from authlib.integrations.starlette_client import OAuth, OAuthError
from joserfc.errors import JoseError
from sqlalchemy.exc import IntegrityError
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from renraku.accounts.actions import IssuedSession, access_link, do_create_session
from renraku.accounts.models import (
    IdentityProvider,
    Municipality,
    OidcIdentity,
    OneTimeLink,
    User,
)
from renraku.audit import chain, changes
from renraku.errors import BadInput, Forbidden, NotFound
from renraku.runtime import Runtime
from renraku.text import clean_text, visible_length
from renraku.timeutil import utcnow

SCOPE = "openid"
# Clock skew tolerated on the ID token's exp and iat.
LEEWAY_SECONDS = 60
# How long a provider's discovery document and keys are trusted before being read again.
CLIENT_TTL_SECONDS = 3600
HTTP_TIMEOUT_SECONDS = 10
KEY_PATTERN = re.compile(r"[a-z0-9][a-z0-9-]{0,79}")
MAX_SUBJECT_LENGTH = 255

NOT_LINKED = (
    "This identity is not linked to a Renraku account; open your invitation link. "
    "このIDはRenrakuのアカウントに結び付けられていません。招待リンクを開いてください。"
)
LINK_NOT_VALID = (
    "This invitation link is not valid: it was used already or has expired. Ask for a new one. "
    "この招待リンクは使用済みか期限切れです。新しいリンクを依頼してください。"
)
OTHER_MUNICIPALITY = (
    "This invitation is for an account that cannot sign in through this identity provider. "
    "この招待のアカウントは、このIDプロバイダーではサインインできません。"
)
ACCOUNT_NOT_ACTIVE = "This account is not active. このアカウントは無効です。"

# What a provider (or someone posing as its callback) can make the exchange fail with: bad state,
# an error answer, an unreachable or malformed endpoint, a token that does not validate.
PROVIDER_ERRORS: tuple[type[Exception], ...] = (
    OAuthError,
    JoseError,
    httpx2.HTTPError,
    ValueError,
    KeyError,
    TypeError,
    RuntimeError,
)


def discovery_url(issuer: str) -> str:
    return issuer.rstrip("/") + "/.well-known/openid-configuration"


def callback_path(key: str) -> str:
    return f"/auth/oidc/{key}/callback"


def id_token_claims_options(provider: IdentityProvider) -> dict[str, dict[str, Any]]:
    """What an ID token must say: this issuer, this client as audience, an expiry and a nonce.

    authlib checks the nonce against the one it sent and exp against the clock; it checks aud only
    indirectly (through azp), so it is pinned here.
    """
    return {
        "iss": {"essential": True, "value": provider.issuer},
        "aud": {"essential": True, "value": provider.client_id},
        "exp": {"essential": True},
        "iat": {"essential": True},
        "sub": {"essential": True},
        "nonce": {"essential": True},
    }


def subject_of(token: dict[str, Any]) -> str | None:
    """The validated subject of an authlib token answer, or None when it carried no ID token."""
    claims = token.get("userinfo")
    if not isinstance(claims, dict):
        return None
    subject = claims.get("sub")
    if not isinstance(subject, str) or not 0 < len(subject) <= MAX_SUBJECT_LENGTH:
        return None
    return subject


@dataclass
class _CachedClient:
    config: tuple[str, str, str]
    created: float
    client: Any


@dataclass
class OidcClients:
    """authlib clients per provider key, rebuilt when the provider's row changes or goes stale."""

    _cache: dict[str, _CachedClient] = field(default_factory=dict)

    def client(self, provider: IdentityProvider) -> Any:
        config = (provider.issuer, provider.client_id, provider.client_secret)
        cached = self._cache.get(provider.key)
        now = time.monotonic()
        if cached and cached.config == config and now - cached.created < CLIENT_TTL_SECONDS:
            return cached.client
        client = OAuth().register(
            name=provider.key,
            client_id=provider.client_id,
            client_secret=provider.client_secret or None,
            server_metadata_url=discovery_url(provider.issuer),
            client_kwargs={
                "scope": SCOPE,
                "code_challenge_method": "S256",
                "timeout": HTTP_TIMEOUT_SECONDS,
            },
        )
        self._cache[provider.key] = _CachedClient(config, now, client)
        return client


async def validate_discovery(client: Any, provider: IdentityProvider) -> None:
    """Read the discovery document; it must name the configured issuer (OIDC Discovery 4.3)."""
    metadata = await client.load_server_metadata()
    if metadata.get("issuer") != provider.issuer:
        raise ValueError("the discovery document names another issuer")


async def get_provider(session: AsyncSession, key: str) -> IdentityProvider | None:
    if not KEY_PATTERN.fullmatch(key):
        return None
    return (await session.exec(select(IdentityProvider).where(IdentityProvider.key == key))).first()


async def access_link_for_provider(
    session: AsyncSession, *, provider: IdentityProvider, token: str
) -> tuple[OneTimeLink, User]:
    """The usable link behind `token`, if its user belongs to the provider's municipality.

    Raises NotFound for a link that is unknown, used or expired, and Forbidden for a user of
    another municipality or none (operators).
    """
    link, user = await access_link(session, token)
    if user.municipality_code is None or user.municipality_code != provider.municipality_code:
        raise Forbidden(OTHER_MUNICIPALITY)
    return link, user


def _may_sign_in(user: User, runtime: Runtime) -> bool:
    return user.active and not (user.is_demo and runtime.settings.is_production)


async def check_sign_in(
    runtime: Runtime, *, provider: IdentityProvider, subject: str, link_token: str | None
) -> IssuedSession:
    """Sign in the user linked to (issuer, subject), or link it through `link_token` first.

    Raises Forbidden, naming what to do, when the identity is linked to nobody and no usable link
    came with it; nothing is stored then.
    """
    try:
        async with runtime.db.transaction() as session:
            identity = (
                await session.exec(
                    select(OidcIdentity).where(
                        OidcIdentity.issuer == provider.issuer, OidcIdentity.subject == subject
                    )
                )
            ).first()
            if identity is not None:
                user = await session.get(User, identity.user_id)
                if user is None or not _may_sign_in(user, runtime):
                    raise Forbidden(ACCOUNT_NOT_ACTIVE)
                return await do_create_session(
                    session, runtime, user=user, kind="cookie", method="oidc"
                )
            if link_token is None:
                raise Forbidden(NOT_LINKED)
            try:
                link, user = await access_link_for_provider(
                    session, provider=provider, token=link_token
                )
            except NotFound:
                raise Forbidden(LINK_NOT_VALID) from None
            if not _may_sign_in(user, runtime):
                raise Forbidden(ACCOUNT_NOT_ACTIVE)
            await do_link_identity(
                session, provider=provider, subject=subject, link=link, user=user
            )
            return await do_create_session(
                session, runtime, user=user, kind="cookie", method="oidc"
            )
    except IntegrityError:
        # The same identity was linked by a concurrent callback; this one links nothing.
        raise Forbidden(LINK_NOT_VALID) from None


async def do_link_identity(
    session: AsyncSession,
    *,
    provider: IdentityProvider,
    subject: str,
    link: OneTimeLink,
    user: User,
) -> OidcIdentity:
    """Link (issuer, subject) to the link's user and use the link up."""
    assert user.id is not None and link.id is not None
    identity = OidcIdentity(issuer=provider.issuer, subject=subject, user_id=user.id)
    link.used_at = utcnow()
    session.add(identity)
    session.add(link)
    await session.flush()
    assert identity.id is not None
    await chain.append(
        session,
        actor_id=user.id,
        actor_kind=user.kind,
        action="accounts.oidc_linked",
        object_type="user",
        object_ids=[user.id],
        detail={"provider": provider.key, "identity": identity.id, "link": link.id},
    )
    return identity


def _issuer_problem(issuer: str, *, production: bool) -> str | None:
    parts = urlsplit(issuer)
    if parts.query or parts.fragment or not parts.hostname or len(issuer) > 400:
        return "The issuer must be a plain https:// URL."
    if parts.scheme == "https":
        return None
    loopback = parts.hostname == "localhost"
    with contextlib.suppress(ValueError):  # a host name, not an address
        loopback = loopback or ipaddress.ip_address(parts.hostname).is_loopback
    if parts.scheme == "http" and loopback and not production:
        return None
    return "The issuer must be an https:// URL (plain http only on loopback, outside production)."


async def check_add_identity_provider(
    runtime: Runtime,
    *,
    key: str,
    name: str,
    municipality_code: str,
    issuer: str,
    client_id: str,
    client_secret: str,
) -> IdentityProvider:
    """Register a municipality's provider; run by an operator from the command line."""
    if not KEY_PATTERN.fullmatch(key):
        raise BadInput("The key is lower-case letters, digits and '-', up to 80.", field="key")
    # Shown on the sign-in page, so cleaned like any name people read.
    name = clean_text(name, multiline=False)
    if not visible_length(name) or len(name) > 200:
        raise BadInput("The name is 1 to 200 characters.", field="name")
    problem = _issuer_problem(issuer, production=runtime.settings.is_production)
    if problem:
        raise BadInput(problem, field="issuer")
    if not client_id or len(client_id) > 200:
        raise BadInput("The client id is 1 to 200 characters.", field="client_id")
    if len(client_secret) > 400:
        raise BadInput("The client secret is at most 400 characters.", field="client_secret")
    async with runtime.db.transaction() as session:
        if await session.get(Municipality, municipality_code) is None:
            raise BadInput("No municipality has this code.", field="municipality")
        if await get_provider(session, key) is not None:
            raise BadInput("A provider with this key exists already.", field="key")
        provider = IdentityProvider(
            key=key,
            name=name,
            municipality_code=municipality_code,
            issuer=issuer,
            client_id=client_id,
            client_secret=client_secret,
        )
        await do_add_identity_provider(session, provider)
    return provider


async def do_add_identity_provider(session: AsyncSession, provider: IdentityProvider) -> None:
    session.add(provider)
    await session.flush()
    assert provider.id is not None
    await changes.record(
        session,
        actor=None,
        action="accounts.idp_added",
        object_type="identity_provider",
        object_ids=[provider.id],
        detail={
            "key": provider.key,
            "municipality": provider.municipality_code,
            "issuer": provider.issuer,
        },
    )
