"""Authentication over HTTP: resolve the actor of a request, and the /auth routes for browsers.

Browsers hold an opaque session cookie (HttpOnly, SameSite=Lax); API clients send a bearer token.
Cookie-authenticated requests that change anything must come from our own origin.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import HTTPConnection, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from renraku.access.actor import Actor
from renraku.accounts import actions, service
from renraku.accounts.models import User
from renraku.errors import Forbidden, RenrakuError, Unauthenticated
from renraku.runtime import Runtime
from renraku.settings import Settings

MAX_LOGIN_BODY = 4096


def runtime_of(conn: HTTPConnection) -> Runtime:
    runtime: Runtime = conn.app.state.runtime
    return runtime


def client_address(conn: HTTPConnection) -> str:
    return conn.client.host if conn.client else "unknown"


def bearer_token(conn: HTTPConnection) -> str | None:
    header = conn.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return None


def origin_allowed(conn: HTTPConnection, runtime: Runtime) -> bool:
    origin = conn.headers.get("origin")
    return origin is not None and origin.rstrip("/") in runtime.settings.trusted_origins()


async def resolve_actor(conn: HTTPConnection, *, token: str | None = None) -> Actor | None:
    """The actor behind a bearer token or the session cookie; None when signed out.

    Raises Forbidden for a cookie-authenticated request whose Origin is not ours.
    """
    runtime = runtime_of(conn)
    token = token or bearer_token(conn)
    if token is None:
        token = conn.cookies.get(runtime.settings.session_cookie_name)
        if token is None:
            return None
        needs_origin = conn.scope["type"] == "websocket" or conn.scope.get("method") not in (
            "GET",
            "HEAD",
        )
        if needs_origin and not origin_allowed(conn, runtime):
            raise Forbidden("This request must come from the Renraku web app.")
    async with runtime.db.lookup() as session:
        found = await service.find_live_session(session, token, runtime.settings)
    if found is None:
        return None
    await actions.do_touch_session(runtime, found.session_id, found.last_seen_at)
    return found.actor


def user_json(user: User) -> dict[str, Any]:
    return {
        "username": user.username,
        "displayName": user.display_name,
        "kind": user.kind,
        "profession": user.profession,
        "municipalityCode": user.municipality_code,
    }


def set_session_cookie(response: Response, settings: Settings, token: str) -> None:
    """Hand the browser its opaque session token (password and OIDC sign-in alike)."""
    response.set_cookie(
        settings.session_cookie_name,
        token,
        max_age=settings.session_absolute_hours * 3600,
        path="/",
        secure=settings.secure_cookies,
        httponly=True,
        samesite="lax",
    )


def error_response(error: RenrakuError, status: int) -> JSONResponse:
    return JSONResponse({"error": {"message": str(error), **error.extensions}}, status_code=status)


async def read_json_object(request: Request, *, max_bytes: int = MAX_LOGIN_BODY) -> dict[str, Any]:
    """The request's small JSON object body; ValueError (or RecursionError) when it is not one."""
    body = await request.body()
    if len(body) > max_bytes:
        raise ValueError
    data = json.loads(body or b"null")
    if not isinstance(data, dict):
        raise ValueError
    return data


async def login(request: Request) -> Response:
    runtime = runtime_of(request)
    if not origin_allowed(request, runtime):
        return error_response(Forbidden("Sign in from the Renraku web app."), 403)
    try:
        data = await read_json_object(request)
        username, password, otp = data.get("username"), data.get("password"), data.get("otp")
        if not isinstance(username, str) or not isinstance(password, str):
            raise ValueError
        if otp is not None and not isinstance(otp, str):
            raise ValueError
    except (ValueError, UnicodeDecodeError, RecursionError):  # deeply nested JSON
        return JSONResponse(
            {
                "error": {
                    "message": "Send JSON with username and password.",
                    "code": "BAD_USER_INPUT",
                }
            },
            status_code=400,
        )
    try:
        issued = await actions.check_login(
            runtime,
            username=username,
            password=password,
            otp=otp,
            address=client_address(request),
            kind="cookie",
        )
    except RenrakuError as error:
        status = {"RATE_LIMITED": 429, "BAD_USER_INPUT": 400}.get(error.code, 401)
        response = error_response(error, status)
        if error.code == "RATE_LIMITED":
            response.headers["Retry-After"] = str(error.extensions.get("retryAfter", 1))
        return response
    response = JSONResponse({"user": user_json(issued.user)})
    set_session_cookie(response, runtime.settings, issued.token)
    return response


async def logout(request: Request) -> Response:
    runtime = runtime_of(request)
    try:
        actor = await resolve_actor(request)
    except Forbidden as error:
        return error_response(error, 403)
    if actor is not None:
        await actions.check_logout(runtime, actor=actor)
    response = JSONResponse({"ok": True})
    response.delete_cookie(
        runtime.settings.session_cookie_name,
        path="/",
        secure=runtime.settings.secure_cookies,
        httponly=True,
        samesite="lax",
    )
    return response


async def whoami(request: Request) -> Response:
    try:
        actor = await resolve_actor(request)
    except Forbidden as error:
        return error_response(error, 403)
    if actor is None:
        return error_response(Unauthenticated(), 401)
    async with runtime_of(request).db.session() as session:
        user = await service.get_user(session, actor.user_id)
    assert user is not None
    return JSONResponse({"user": user_json(user)})


routes = [
    Route("/auth/login", login, methods=["POST"]),
    Route("/auth/logout", logout, methods=["POST"]),
    Route("/auth/me", whoami, methods=["GET"]),
]
