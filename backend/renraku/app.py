"""The Starlette application factory: nothing happens at import time."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles

from renraku import jobs
from renraku.accounts import http as accounts_http
from renraku.accounts import links_http as accounts_links_http
from renraku.accounts import oidc_http as accounts_oidc_http
from renraku.logs import RequestLog
from renraku.runtime import Runtime, build_runtime
from renraku.settings import Settings, load_settings
from renraku.web import pages
from renraku.web.graphql_app import build_graphql
from renraku.web.limits import BodySizeLimit


def build_app(settings: Settings | None = None, runtime: Runtime | None = None) -> Starlette:
    settings = settings or (runtime.settings if runtime else load_settings())
    runtime = runtime or build_runtime(settings)
    graphql = build_graphql(graphiql=not settings.is_production)

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        async with jobs.running(runtime):
            yield
        await runtime.close()

    routes: list[Route | WebSocketRoute | Mount] = [
        Route("/healthz", pages.healthz),
        Route("/readyz", pages.readyz),
        Route("/about", pages.about),
        *accounts_http.routes,
        *accounts_links_http.routes,
        *accounts_oidc_http.routes,
        Route("/graphql", graphql, methods=["GET", "POST"]),
        WebSocketRoute("/graphql", graphql),
    ]
    index = settings.web_dist / "index.html"
    if index.exists():
        routes.append(Mount("/", StaticFiles(directory=settings.web_dist, html=True)))
    else:
        routes.append(Route("/", pages.home))

    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        middleware=[
            Middleware(RequestLog),
            Middleware(BodySizeLimit, max_bytes=settings.max_body_bytes),
            # Holds OIDC state, nonce and PKCE verifier for the length of a redirect only.
            Middleware(
                SessionMiddleware,
                secret_key=settings.secret_key,
                session_cookie="renraku_oidc",
                max_age=600,
                same_site="lax",
                https_only=settings.secure_cookies,
            ),
        ],
    )
    app.state.runtime = runtime
    return app
