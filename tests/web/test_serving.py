"""The server's side of the phone app: its build at /, under a strict Content-Security-Policy,
with client routes answered by index.html; the plain page when there is no build."""

from __future__ import annotations

import dataclasses
import gzip
import re
import struct
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from renraku.app import build_app
from renraku.runtime import Runtime
from tests.support.databases import one_database

ORIGIN = "http://127.0.0.1:8000"
# The bar: the first screen ships at most this much gzipped JavaScript.
FIRST_SCREEN_JS_LIMIT = 150 * 1024


def client_for(runtime: Runtime, web_dist: Path) -> httpx.AsyncClient:
    app = build_app(dataclasses.replace(runtime.settings, web_dist=web_dist), runtime)
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
    return httpx.AsyncClient(transport=transport, base_url=ORIGIN)


@pytest.fixture
async def web(runtime: Runtime, web_dist: Path) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(runtime, web_dist) as client:
        yield client


def script_paths(index_html: str) -> list[str]:
    """The JavaScript index.html loads at once: module scripts and module preloads."""
    scripts = re.findall(r'<script[^>]*\bsrc="([^"]+)"', index_html)
    preloads = re.findall(r'<link[^>]*rel="modulepreload"[^>]*href="([^"]+)"', index_html)
    return scripts + preloads


@one_database
async def test_the_app_is_served_at_the_root_under_a_strict_policy(
    web: httpx.AsyncClient,
) -> None:
    response = await web.get("/")
    assert response.status_code == 200
    assert 'id="app"' in response.text
    policy = response.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
    assert response.headers["cache-control"] == "no-cache"


def test_the_build_needs_no_inline_script_or_style(web_dist: Path) -> None:
    html = (web_dist / "index.html").read_text()
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), "inline <script>"
    assert "<style" not in html and "style=" not in html


@one_database
async def test_client_routes_get_the_app_and_missing_files_a_404(
    web: httpx.AsyncClient,
) -> None:
    index = (await web.get("/")).text
    pages = ["/patients", "/patients/UGF0aWVudDox", "/patients/x/new", "/patients/x/team"]
    overlay = ["/incidents", "/incidents/SW5jaWRlbnQ6MQ", "/incidents/SW5jaWRlbnQ6MQ/board"]
    overlay += ["/incidents/SW5jaWRlbnQ6MQ/map", "/incidents/SW5jaWRlbnQ6MQ/sheet", "/safety"]
    for path in [*pages, *overlay, "/outbox", "/notices", "/feed", "/home"]:
        response = await web.get(path)
        assert response.status_code == 200 and response.text == index, path
    for path in ("/assets/missing.js", "/icons/none.png", "/assets/.hidden", "/assets/%2e%2e/x"):
        response = await web.get(path)
        assert response.status_code == 404, path
        assert "unsafe-inline" not in response.headers["content-security-policy"]
    # Anything else is no page of the app: unmatched, as before the app existed.
    for path in ("/no-such-page", "/nothing.png", "/.env", "/assets/../../pyproject.toml"):
        assert (await web.get(path)).status_code == 404, path


@one_database
async def test_hashed_assets_are_cached_for_good_under_the_policy(
    web: httpx.AsyncClient, web_dist: Path
) -> None:
    for path in script_paths((web_dist / "index.html").read_text()):
        response = await web.get(path)
        assert response.status_code == 200
        assert "immutable" in response.headers["cache-control"]
        assert response.headers["content-type"].startswith("text/javascript")
        assert "content-security-policy" in response.headers


@one_database
async def test_the_api_still_answers_beside_the_app(web: httpx.AsyncClient) -> None:
    assert (await web.get("/healthz")).json() == {"status": "ok"}
    response = await web.post("/graphql", json={"query": "{ __typename }"})
    assert response.json() == {"data": {"__typename": "Query"}}
    assert (await web.get("/auth/me")).status_code == 401


@one_database
async def test_installable_manifest_with_maskable_icons(
    web: httpx.AsyncClient,
) -> None:
    response = await web.get("/manifest.webmanifest")
    assert response.headers["content-type"].startswith("application/manifest+json")
    manifest = response.json()
    assert manifest["theme_color"] and manifest["start_url"] == "/"
    sizes = set()
    for icon in manifest["icons"]:
        assert "maskable" in icon["purpose"]
        png = (await web.get(icon["src"])).content
        assert png[:8] == b"\x89PNG\r\n\x1a\n"
        width, height = struct.unpack(">II", png[16:24])
        assert icon["sizes"] == f"{width}x{height}"
        sizes.add(width)
    assert {192, 512} <= sizes
    worker = await web.get("/sw.js")
    assert worker.status_code == 200 and worker.headers["cache-control"] == "no-cache"


def test_first_screen_javascript_is_at_most_150_kb_gzipped(web_dist: Path) -> None:
    paths = script_paths((web_dist / "index.html").read_text())
    assert paths
    total = sum(
        len(gzip.compress((web_dist / p.lstrip("/")).read_bytes(), compresslevel=9)) for p in paths
    )
    assert total <= FIRST_SCREEN_JS_LIMIT, f"{total} bytes of gzipped JavaScript"


@one_database
async def test_without_a_build_the_root_is_the_plain_page(runtime: Runtime, tmp_path: Path) -> None:
    async with client_for(runtime, tmp_path) as client:
        response = await client.get("/")
    assert response.status_code == 200 and "Renraku" in response.text
    assert 'id="app"' not in response.text
