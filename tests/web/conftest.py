"""Fixtures for the phone web app: its build (mobile-web/dist, built here when missing), a real
`renraku serve` serving it on a demo-seeded SQLite database, and Debian's Chromium driven by
Playwright through its executable path (Playwright never downloads a browser here)."""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from playwright.async_api import Browser, BrowserContext, Page, async_playwright, expect

from tests.support.databases import Backend
from tests.support.server import ROOT, Server, serving

WEB = ROOT / "mobile-web"
DIST = WEB / "dist"
CHROMIUM = os.environ.get("RENRAKU_TEST_CHROMIUM", "/usr/bin/chromium")
# Room for a loaded machine (the whole suite runs beside the server); a pass takes far less.
expect.set_options(timeout=15_000)
# A phone: the smallest screen the app must be usable on.
PHONE = {"width": 360, "height": 640}


@contextmanager
def web_lock() -> Iterator[None]:
    """One npm at a time in mobile-web/ across pytest-xdist workers."""
    with (WEB / ".npm-lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def npm() -> str:
    found = shutil.which("npm")
    assert found, "npm is needed for mobile-web (make web)"
    return found


def ensure_node_modules() -> None:
    """mobile-web's packages from its lock file, when they are missing (make web installs them)."""
    with web_lock():
        if not (WEB / "node_modules").is_dir():
            subprocess.run([npm(), "ci", "--no-audit", "--no-fund"], cwd=WEB, check=True)


def build_web() -> Path:
    """mobile-web/dist, built with the machine's npm when it is missing (make web builds it too)."""
    ensure_node_modules()
    with web_lock():
        if not (DIST / "index.html").is_file():
            subprocess.run([npm(), "run", "build"], cwd=WEB, check=True)
    return DIST


@pytest.fixture(scope="session")
def web_dist() -> Path:
    return build_web()


@pytest.fixture(scope="module")
async def web_server(
    web_dist: Path, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Server]:
    """`renraku serve` with the app, on its own copy of the demo world (tests here post)."""
    workdir = tmp_path_factory.mktemp("web")
    database = Backend("sqlite", workdir)
    await database.prepare()
    try:
        with serving(database.template, cwd=workdir, RENRAKU_WEB_DIST=str(web_dist)) as server:
            yield server
    finally:
        await database.teardown()


@pytest.fixture(scope="session")
def chromium() -> str:
    assert Path(CHROMIUM).exists(), "Debian's chromium is needed (scripts/ensure-browser)"
    return CHROMIUM


@pytest.fixture(scope="module")
async def browser(chromium: str) -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=chromium)
        yield launched
        await launched.close()


@pytest.fixture
async def context(browser: Browser, web_server: Server) -> AsyncIterator[BrowserContext]:
    created = await browser.new_context(
        base_url=web_server.url, viewport=PHONE, locale="ja-JP", has_touch=True
    )
    yield created
    await created.close()


@pytest.fixture
async def page(context: BrowserContext) -> AsyncIterator[Page]:
    opened = await context.new_page()
    errors: list[str] = []
    # A Content-Security-Policy violation or a script error fails the test that caused it.
    opened.on("pageerror", lambda error: errors.append(str(error)))
    opened.on(
        "console",
        lambda message: (
            errors.append(message.text)
            if message.type == "error" and "Content Security Policy" in message.text
            else None
        ),
    )
    yield opened
    assert not errors, errors
