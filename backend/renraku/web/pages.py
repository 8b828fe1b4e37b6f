"""Health probes, metrics and the plain pages served until (and beside) the PWA."""

from __future__ import annotations

import hmac
from html import escape

from sqlalchemy import text
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response

from renraku import metrics as service_metrics
from renraku.accounts.http import bearer_token, runtime_of
from renraku.geo import ATTRIBUTION_EN, ATTRIBUTION_JA


async def healthz(_request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    try:
        async with runtime_of(request).db.session() as session:
            await (await session.connection()).execute(text("SELECT 1"))
    except Exception:
        return JSONResponse({"status": "unavailable"}, status_code=503)
    return JSONResponse({"status": "ready"})


async def metrics(request: Request) -> Response:
    """Prometheus metrics: with RENRAKU_METRICS_TOKEN set, for its bearer only; without it, open
    in demo mode and absent in production."""
    settings = runtime_of(request).settings
    if settings.metrics_token:
        given = bearer_token(request) or ""
        if not hmac.compare_digest(given.encode(), settings.metrics_token.encode()):
            return Response("Send the metrics token as a bearer token.\n", status_code=401)
    elif settings.is_production:
        return Response("Not found.\n", status_code=404)
    return Response(service_metrics.exposition(), media_type=service_metrics.CONTENT_TYPE)


def _page(title: str, body: str) -> HTMLResponse:
    return HTMLResponse(
        f"""<!doctype html><html lang="ja"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(title)}</title></head>
<body style="font-family:sans-serif;max-width:40rem;margin:2rem auto;padding:0 1rem">
{body}</body></html>"""
    )


async def home(_request: Request) -> Response:
    return _page(
        "Renraku 連絡帳",
        "<h1>Renraku 連絡帳</h1>"
        "<p>在宅医療・介護のケアチームのための情報共有サービス。"
        "Care-team information sharing for home medical and elderly care.</p>"
        '<p>API: <a href="/graphql">/graphql</a> · <a href="/about">About / 出典</a></p>',
    )


async def about(_request: Request) -> Response:
    return _page(
        "About Renraku",
        "<h1>About Renraku</h1>"
        "<p>Municipal boundaries and codes / 市区町村の境界とコード:</p>"
        f"<p>{escape(ATTRIBUTION_JA)}</p><p>{escape(ATTRIBUTION_EN)}</p>",
    )
