"""The Starlette application factory: nothing happens at import time."""

from __future__ import annotations

import contextlib
import gc
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Mount, Route, WebSocketRoute

from renraku import jobs, metrics
from renraku.access.enforcer import check_policy
from renraku.accounts import http as accounts_http
from renraku.accounts import links_http as accounts_links_http
from renraku.accounts import oidc_http as accounts_oidc_http
from renraku.alerts import http as alerts_http
from renraku.feed import uploads_http
from renraku.logs import RequestLog, configure_logging
from renraku.realtime.hub import FeedHub
from renraku.realtime.ws import build_endpoint
from renraku.runtime import Runtime, build_runtime
from renraku.schema import build_schema
from renraku.settings import Settings, load_settings
from renraku.web import incident_exports, pages, spa
from renraku.web.graphql_app import build_graphql
from renraku.web.limits import BodySizeLimit

GC_YOUNG_THRESHOLD = 10_000


def build_app(settings: Settings | None = None, runtime: Runtime | None = None) -> Starlette:
    settings = settings or (runtime.settings if runtime else load_settings())
    check_policy()  # a policy naming an unknown role, object or action stops the start
    runtime = runtime or build_runtime(settings)
    schema = build_schema()
    graphql = build_graphql(schema, graphiql=not settings.is_production)
    hub = FeedHub(runtime, schema._schema)

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        # What start-up allocated lives for good: keep it out of every later full collection
        # (DESIGN.md: full-collection pauses of ~300 ms under the live feed's load).
        gc.collect()
        gc.freeze()
        # A feed batch's rows live through a few hundred allocations: at the default young
        # threshold (700) they were promoted, and the older generations' growth set off full
        # collections of ~240 ms every few seconds of a burst (a third of its time). Young
        # collections every 10,000 allocations let them die young; each then takes a few ms
        # (at 20,000 up to 30 ms, which showed in the feed's p99).
        gc.set_threshold(GC_YOUNG_THRESHOLD, *gc.get_threshold()[1:])
        async with jobs.running(runtime):
            yield
        await hub.close()
        await runtime.close()
        metrics.worker_stopped()

    routes: list[Route | WebSocketRoute | Mount] = [
        Route("/healthz", pages.healthz),
        Route("/readyz", pages.readyz),
        Route("/metrics", pages.metrics),
        Route("/about", pages.about),
        *accounts_http.routes,
        *accounts_links_http.routes,
        # OIDC state, nonce and PKCE verifier ride a cookie for the length of a redirect only.
        *accounts_oidc_http.routes(settings),
        *uploads_http.routes,
        *alerts_http.routes,
        *incident_exports.routes,
        Route("/graphql", graphql, methods=["GET", "POST"]),
        # Subscriptions: our own graphql-transport-ws path with shared fan-out (realtime/ws.py).
        WebSocketRoute("/graphql", build_endpoint(hub, schema)),
    ]
    if spa.available(settings.web_dist):
        routes.extend(spa.routes(settings.web_dist))
    else:
        routes.append(Route("/", pages.home))

    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        middleware=[
            Middleware(RequestLog),
            Middleware(
                BodySizeLimit,
                max_bytes=settings.max_body_bytes,
                self_limited=[uploads_http.PATH, alerts_http.PATH],
            ),
        ],
    )
    app.state.runtime = runtime
    app.state.hub = hub
    return app


def build_served_app() -> Starlette:
    """The app as `renraku serve` runs it; worker processes start here, so logging is set up
    here too (JSON lines, no query strings)."""
    configure_logging()
    return build_app()
