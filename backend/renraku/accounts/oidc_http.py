"""The browser's side of OIDC sign-in: /auth/oidc/{key}/login and /auth/oidc/{key}/callback.

State, nonce and PKCE verifier (and a set-up link, when the sign-in started from one) live in the
short-lived `renraku_oidc` session cookie from login to callback, and are cleared at the callback.
"""

from __future__ import annotations

import logging
from html import escape
from typing import Any

from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from renraku.accounts import oidc
from renraku.accounts.http import runtime_of, set_session_cookie
from renraku.errors import Forbidden, NotFound
from renraku.settings import Settings

log = logging.getLogger("renraku.accounts.oidc")

# Where the set-up link rides from login to callback, next to authlib's state entries.
LINK_SESSION_KEY = "renraku_link"
MAX_LINK_LENGTH = 128

UNKNOWN_PROVIDER = "No such identity provider. このIDプロバイダーは登録されていません。"
NOT_COMPLETED = (
    "Sign-in through the identity provider did not complete. Start again from the sign-in page. "
    "IDプロバイダーでのサインインを完了できませんでした。サインイン画面からやり直してください。"
)
UNREACHABLE = (
    "The identity provider cannot be reached or is misconfigured. Try again later. "
    "IDプロバイダーに接続できません。しばらくしてからやり直してください。"
)


def message_page(text: str, status: int) -> HTMLResponse:
    """A plain page telling the person what happened and what to do."""
    return HTMLResponse(
        f"""<!doctype html><html lang="ja"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Renraku 連絡帳</title></head>
<body style="font-family:sans-serif;max-width:40rem;margin:2rem auto;padding:0 1rem">
<h1>Renraku 連絡帳</h1><p>{escape(text)}</p><p><a href="/">Renraku</a></p></body></html>""",
        status_code=status,
        headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"},
    )


def clients_of(request: Request) -> oidc.OidcClients:
    clients: oidc.OidcClients | None = getattr(request.app.state, "oidc_clients", None)
    if clients is None:
        clients = oidc.OidcClients()
        request.app.state.oidc_clients = clients
    return clients


async def oidc_login(request: Request) -> Response:
    runtime = runtime_of(request)
    key = request.path_params["key"]
    link = request.query_params.get("link")
    async with runtime.db.session() as session:
        provider = await oidc.get_provider(session, key)
        if provider is None:
            return message_page(UNKNOWN_PROVIDER, 404)
        if link is not None:
            # Checked here for an early answer, and again at the callback, where it counts.
            try:
                if len(link) > MAX_LINK_LENGTH:
                    raise NotFound
                await oidc.access_link_for_provider(session, provider=provider, token=link)
            except NotFound:
                return message_page(oidc.LINK_NOT_VALID, 404)
            except Forbidden as error:
                return message_page(str(error), 403)
    request.session.pop(LINK_SESSION_KEY, None)
    if link is not None:
        request.session[LINK_SESSION_KEY] = {"provider": provider.key, "token": link}
    client = clients_of(request).client(provider)
    redirect_uri = runtime.settings.public_origin + oidc.callback_path(provider.key)
    try:
        await oidc.validate_discovery(client, provider)
        response: Response = await client.authorize_redirect(request, redirect_uri)
    except oidc.PROVIDER_ERRORS as error:
        log.warning("OIDC provider %s unusable: %s", provider.key, type(error).__name__)
        return message_page(UNREACHABLE, 502)
    # This URL may carry a set-up link; the provider has no business seeing it.
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


def _carried_link(session: dict[str, Any], provider_key: str) -> str | None:
    carried = session.pop(LINK_SESSION_KEY, None)
    if not isinstance(carried, dict) or carried.get("provider") != provider_key:
        return None
    token = carried.get("token")
    return token if isinstance(token, str) else None


async def oidc_callback(request: Request) -> Response:
    runtime = runtime_of(request)
    key = request.path_params["key"]
    async with runtime.db.session() as session:
        provider = await oidc.get_provider(session, key)
    if provider is None:
        return message_page(UNKNOWN_PROVIDER, 404)
    link_token = _carried_link(request.session, provider.key)
    client = clients_of(request).client(provider)
    try:
        # Another worker may have answered the login: this one reads discovery for itself.
        await oidc.validate_discovery(client, provider)
        token = await client.authorize_access_token(
            request,
            claims_options=oidc.id_token_claims_options(provider),
            leeway=oidc.LEEWAY_SECONDS,
        )
        subject = oidc.subject_of(token)
        if subject is None:
            raise ValueError("no ID token in the token answer")
    except oidc.PROVIDER_ERRORS as error:
        log.info("OIDC sign-in through %s refused: %s", provider.key, type(error).__name__)
        request.session.clear()
        return message_page(NOT_COMPLETED, 400)
    request.session.clear()
    try:
        issued = await oidc.check_sign_in(
            runtime, provider=provider, subject=subject, link_token=link_token
        )
    except Forbidden as error:
        log.info("OIDC identity from %s not signed in: %s", provider.key, error)
        return message_page(str(error), 403)
    response = RedirectResponse("/", status_code=303)
    set_session_cookie(response, runtime.settings, issued.token)
    return response


def routes(settings: Settings) -> list[Route]:
    """The two routes, each behind the `renraku_oidc` session cookie's middleware: no other
    request (nor any WebSocket message) pays for reading or writing that cookie."""
    session = [
        Middleware(
            SessionMiddleware,
            secret_key=settings.secret_key,
            session_cookie="renraku_oidc",
            max_age=600,
            same_site="lax",
            https_only=settings.secure_cookies,
        )
    ]
    return [
        Route("/auth/oidc/{key}/login", oidc_login, methods=["GET"], middleware=session),
        Route("/auth/oidc/{key}/callback", oidc_callback, methods=["GET"], middleware=session),
    ]
