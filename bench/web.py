"""The phone app's first screen under a slow phone, against a static page of the same list.

`renraku serve` (SQLite under a temp dir, `renraku migrate` and `renraku seed demo`) serves the
built app (mobile-web/dist, built here with `npm run build` when missing or older than its
sources). Debian's Chromium, driven by Playwright, emulates through the DevTools protocol a slow
4G network (150 ms round trip, 1.6 Mbps down, 750 kbps up) and a 4x CPU slowdown, on a 360x640
phone screen. Measured: Largest Contentful Paint (PerformanceObserver, buffered), from the
navigation to the nurse's patient list rendered (its rows visible), for nurse.sato signed in.
The figure is the list's LCP: the page's LCP, or the rows' first paint when that came later (the
app's "loading" line is a larger, earlier candidate the list replaces, and stays the page's LCP):

- cold: a fresh browser context, signed in through POST /auth/login (the session cookie alone,
  no page loaded), then the first navigation to /patients: no service worker, nothing cached;
- warm: once the service worker has taken control of that page, a reload.

The baseline, in the same run on the same server: a static HTML page of the same list (the
`ul.patients` the app rendered, the same rows and text, with the app's stylesheet, no
JavaScript), written into a folder of a copy of the build that the server was given as its
RENRAKU_WEB_DIST, so it comes over the same server and transport. Measured the same way: cold
(a fresh context) and warm (a reload, the browser's HTTP cache). Goals (issue 14): cold LCP at
most 2.5 s, warm at most 1 s.

The emulation is set on the page's DevTools session and, for the warm load, on the service
worker's too (the page's does not slow the requests the worker makes, and the app's navigations
go through it, network first); the CPU slowdown is the page's alone. Beside each figure: the
page's own LCP, when the list's rows were attached and first painted (Element Timing, marked by
the bench as they are attached) and when the document had arrived.

    .venv/bin/python bench/web.py              # 3 runs
    .venv/bin/python bench/web.py --runs 1
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import html
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from playwright.async_api import (
    Browser,
    BrowserContext,
    CDPSession,
    Page,
    ViewportSize,
    async_playwright,
)

from _common import bench_settings

ROOT = Path(__file__).resolve().parents[1]
WEB = ROOT / "mobile-web"
DIST = WEB / "dist"
CHROMIUM = os.environ.get("RENRAKU_BENCH_CHROMIUM", "/usr/bin/chromium")
NURSE = "nurse.sato"
PHONE: ViewportSize = {"width": 360, "height": 640}
# Slow 4G as issue 14 puts it: 150 ms round trip, 1.6 Mbps down; 750 kbps up.
NETWORK = {
    "offline": False,
    "latency": 150,
    "downloadThroughput": 1.6e6 / 8,
    "uploadThroughput": 750e3 / 8,
}
CPU_SLOWDOWN = 4
GOALS = {"cold": 2.5, "warm": 1.0}
# The baseline's folder in the copy of the build (served as the build's other folders are).
STATIC = "bench-static"
ROWS = "ul.patients li.patient"
SOURCES = ["src", "public", "index.html", "package.json", "package-lock.json", "vite.config.ts"]

# Set before any page script runs: every LCP candidate with its element as it was when reported
# (a candidate the app later replaces, such as its "loading" line, is detached by the end), and
# when the list's first row was attached to the page.
WATCH = """
window.__lcp = [];
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) {
    const el = e.element;
    window.__lcp.push({
      ms: e.startTime,
      element: el ? el.tagName.toLowerCase() + (el.className ? "." + el.className : "") : null,
      text: el ? (el.textContent || "").trim().slice(0, 24) : null,
      size: e.size,
    });
  }
}).observe({ type: "largest-contentful-paint", buffered: true });
window.__rowsPainted = null;
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) {
    const at = e.renderTime || e.loadTime;
    if (window.__rowsPainted === null || at < window.__rowsPainted) window.__rowsPainted = at;
  }
}).observe({ type: "element", buffered: true });
new MutationObserver(() => {
  const rows = document.querySelectorAll("ROWS");
  if (rows.length && window.__rowsAt === undefined) window.__rowsAt = performance.now();
  // Element Timing: the paint of each row's text, marked before it is first drawn.
  for (const row of rows) {
    for (const el of [row, ...row.querySelectorAll("*")]) {
      if (!el.hasAttribute("elementtiming")) el.setAttribute("elementtiming", "row");
    }
  }
}).observe(document, { childList: true, subtree: true });
""".replace("ROWS", "ul.patients li.patient")
# Read once two frames have been drawn after the list showed: the last LCP candidate (buffered,
# as a late observer sees it), the candidates seen as they came, when the rows were attached,
# and the document's responseEnd (a check that the network was slowed).
READ_LCP = """
() => new Promise((resolve) => {
  requestAnimationFrame(() => requestAnimationFrame(() => {
    new PerformanceObserver((list) => {
      const entries = list.getEntries();
      resolve({
        ms: entries[entries.length - 1].startTime,
        seen: window.__lcp || [],
        rowsAt: window.__rowsAt ?? null,
        rowsPainted: window.__rowsPainted,
        response: performance.getEntriesByType("navigation")[0].responseEnd,
      });
    }).observe({ type: "largest-contentful-paint", buffered: true });
  }));
})
"""


def newest_source() -> float:
    newest = 0.0
    for name in SOURCES:
        path = WEB / name
        files = path.rglob("*") if path.is_dir() else [path]
        newest = max([newest, *(f.stat().st_mtime for f in files if f.is_file())])
    return newest


def ensure_build(*, rebuild: bool) -> None:
    """mobile-web/dist, built with the machine's npm when missing, rebuilt when older than its
    sources (unless --no-build); a failed rebuild leaves the build there, which is measured."""
    index = DIST / "index.html"
    if index.is_file() and (not rebuild or index.stat().st_mtime >= newest_source()):
        return
    npm = shutil.which("npm")
    if npm is None:
        if index.is_file():
            print("  mobile-web/dist is older than its sources and npm is not found: using it")
            return
        raise SystemExit("mobile-web/dist is missing and npm is not found: run make web")
    if not (WEB / "node_modules").is_dir():
        subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=WEB, check=True)  # noqa: S603
    print("  building mobile-web (npm run build)", flush=True)
    built = subprocess.run(  # noqa: S603 - the machine's npm
        [npm, "run", "build"], cwd=WEB, capture_output=True, text=True
    )
    if built.returncode != 0:
        print(built.stdout[-2000:], built.stderr[-2000:], sep="\n")
        if not index.is_file():
            raise SystemExit("npm run build failed")
        print("  npm run build failed: measuring the build already in mobile-web/dist", flush=True)


def demo_password(username: str) -> str:
    demo = tomllib.loads((ROOT / "seed" / "demo.toml").read_text())

    def find(node: Any) -> str | None:
        if isinstance(node, dict):
            if node.get("username") == username and "password" in node:
                return str(node["password"])
            return next((p for v in node.values() if (p := find(v))), None)
        if isinstance(node, list):
            return next((p for v in node if (p := find(v))), None)
        return None

    found = find(demo)
    if found is None:
        raise SystemExit(f"{username} not found in seed/demo.toml")
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextlib.contextmanager
def server(workdir: Path, dist: Path) -> Iterator[str]:
    """`renraku serve` on a demo-seeded SQLite database, serving the build at `dist`."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RENRAKU_", "DATABASE_URL"))}
    env.pop("BROKER_URL", None)
    url = f"sqlite:///{workdir / 'web.db'}"
    env.update(
        DATABASE_URL=url,
        RENRAKU_MODE="demo",
        RENRAKU_AUDIT_KEY_FILE=str(bench_settings(url).audit_key_file),
        RENRAKU_WEB_DIST=str(dist),
        RENRAKU_PUBLIC_ORIGIN=f"http://127.0.0.1:{port}",
        PYTHONPATH=str(ROOT / "backend"),
    )
    cli = [sys.executable, "-m", "renraku.cli"]
    log = workdir / "server.log"
    with log.open("wb") as out:
        for step in (["migrate"], ["seed", "demo"]):
            subprocess.run(  # noqa: S603 - our own interpreter
                [*cli, *step], env=env, cwd=workdir, check=True, stdout=out, stderr=out
            )
        process = subprocess.Popen(  # noqa: S603 - our own interpreter
            [*cli, "serve", "--port", str(port)], env=env, cwd=workdir, stdout=out, stderr=out
        )
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 120
            while True:
                with contextlib.suppress(httpx.TransportError):
                    if httpx.get(f"{base}/healthz", timeout=2, trust_env=False).is_success:
                        break
                if process.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"the server did not start; its log: {log}")
                time.sleep(0.2)
            yield base
        finally:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@dataclass
class Paint:
    seconds: float  # LCP
    candidates: list[dict[str, Any]]  # every LCP candidate, as reported
    rows_at: float | None  # when the list's first row was attached, s
    rows_painted: float  # the rows' first paint (Element Timing), s
    response: float  # the document's responseEnd, s (a check that the network was slowed)
    rows: int

    @property
    def shown(self) -> float:
        """The list's LCP: the page's LCP, or the rows' first paint when that came later (an
        earlier, larger candidate such as a "loading" line stays the LCP once replaced)."""
        return max(self.seconds, self.rows_painted)

    def last(self) -> str:
        if not self.candidates:
            return "none seen"
        c = self.candidates[-1]
        if c["element"] is None:
            return f"{c['size']} px², its element gone"
        return f"{c['element']} {c['text']!r} {c['size']} px²"


async def throttled(context: BrowserContext) -> Page:
    page = await context.new_page()
    await page.add_init_script(WATCH)
    cdp = await context.new_cdp_session(page)
    await cdp.send("Network.enable")
    await cdp.send("Network.emulateNetworkConditions", NETWORK)
    await cdp.send("Emulation.setCPUThrottlingRate", {"rate": CPU_SLOWDOWN})
    return page


async def throttle_service_worker(browser: Browser, base: str) -> CDPSession:
    """The same network emulation on the service worker of `base`: the page's own does not slow
    the requests the worker makes (the app's navigations go through it, network first). Through
    a browser session attached to the worker's target; keep it open while measuring."""
    session = await browser.new_browser_cdp_session()
    answers: list[str] = []
    session.on("Target.receivedMessageFromTarget", lambda e: answers.append(e["message"]))
    targets = (await session.send("Target.getTargets"))["targetInfos"]
    workers = [t for t in targets if t["type"] == "service_worker" and t["url"].startswith(base)]
    if len(workers) != 1:
        raise SystemExit(f"expected one service worker, found {len(workers)}")
    attached = await session.send(
        "Target.attachToTarget", {"targetId": workers[0]["targetId"], "flatten": False}
    )
    calls = [("Network.enable", {}), ("Network.emulateNetworkConditions", NETWORK)]
    for n, (method, params) in enumerate(calls, start=1):
        message = json.dumps({"id": n, "method": method, "params": params})
        await session.send(
            "Target.sendMessageToTarget",
            {"sessionId": attached["sessionId"], "message": message},
        )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        done = {json.loads(a).get("id"): json.loads(a) for a in answers}
        if all(n in done for n in range(1, len(calls) + 1)):
            if any("error" in done[n] for n in done if n is not None):
                raise SystemExit(f"the service worker refused the emulation: {answers}")
            return session
        await asyncio.sleep(0.05)
    raise SystemExit("the service worker did not answer the emulation")


async def painted(page: Page) -> Paint:
    """Once the list's rows are visible: the page's LCP."""
    rows = page.locator(ROWS)
    await rows.first.wait_for(state="visible", timeout=60_000)
    await page.wait_for_function("() => window.__rowsPainted !== null", timeout=30_000)
    found = await page.evaluate(READ_LCP)
    rows_at = found["rowsAt"] / 1000 if found["rowsAt"] is not None else None
    return Paint(
        found["ms"] / 1000,
        found["seen"],
        rows_at,
        found["rowsPainted"] / 1000,
        found["response"] / 1000,
        await rows.count(),
    )


async def new_context(browser: Browser, base: str) -> BrowserContext:
    return await browser.new_context(
        base_url=base, viewport=PHONE, locale="ja-JP", has_touch=True, is_mobile=True
    )


async def ours(browser: Browser, base: str, password: str) -> tuple[Paint, Paint, str]:
    """Cold and warm LCP of the app's list; the list's HTML for the baseline."""
    context = await new_context(browser, base)
    try:
        signed = await context.request.post(
            "/auth/login",
            data={"username": NURSE, "password": password},
            headers={"Origin": base},  # as the app's own form sends it
        )
        if not signed.ok:
            raise SystemExit(f"sign-in refused: HTTP {signed.status}")
        page = await throttled(context)
        await page.goto("/patients")
        cold = await painted(page)
        listing = await page.locator("ul.patients").evaluate("e => e.outerHTML")
        await page.wait_for_function(
            "() => navigator.serviceWorker.controller !== null", timeout=60_000
        )
        worker = await throttle_service_worker(browser, base)
        try:
            await page.reload()
            warm = await painted(page)
        finally:
            await worker.detach()
        if not await page.evaluate("() => navigator.serviceWorker.controller !== null"):
            raise SystemExit("the reload was not controlled by the service worker")
        return cold, warm, listing
    finally:
        await context.close()


def static_page(listing: str, index: str) -> str:
    """The list as a static page: the app's stylesheet, no script."""
    sheets = [
        line.strip()
        for line in index.splitlines()
        if 'rel="stylesheet"' in line and "/assets/" in line
    ]
    return "\n".join(
        [
            "<!doctype html>",
            '<html lang="ja"><head><meta charset="utf-8">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f"<title>{html.escape('担当の患者')}</title>",
            *sheets,
            "</head><body><main>",
            listing,
            "</main></body></html>",
        ]
    )


async def baseline(browser: Browser, base: str) -> tuple[Paint, Paint]:
    context = await new_context(browser, base)
    try:
        page = await throttled(context)
        await page.goto(f"/{STATIC}/patients.html")
        cold = await painted(page)
        await page.reload()
        warm = await painted(page)
        return cold, warm
    finally:
        await context.close()


def verdict(seconds: float, goal: float) -> str:
    return "met" if seconds <= goal else "MISSED"


async def run(args: argparse.Namespace) -> None:
    ensure_build(rebuild=args.build)
    password = demo_password(NURSE)
    with tempfile.TemporaryDirectory(prefix="renraku-web-") as tmp:
        workdir = Path(tmp)
        dist = workdir / "dist"
        shutil.copytree(DIST, dist)
        (dist / STATIC).mkdir()
        index = (dist / "index.html").read_text()
        with server(workdir, dist) as base:
            scripts = [line.strip() for line in index.splitlines() if "<script" in line]
            print(f"  server {base}, a copy of {DIST.relative_to(ROOT)}: {scripts}", flush=True)
            print(
                f"  Chromium {CHROMIUM}: {NETWORK['latency']} ms RTT, "
                f"{NETWORK['downloadThroughput'] * 8 / 1e6:.1f} Mbps down, "
                f"{CPU_SLOWDOWN}x CPU slowdown, {PHONE['width']}x{PHONE['height']}",
                flush=True,
            )
            results: list[dict[str, Paint]] = []
            async with async_playwright() as playwright:
                browser = await playwright.chromium.launch(executable_path=CHROMIUM)
                try:
                    for n in range(1, args.runs + 1):
                        cold, warm, listing = await ours(browser, base, password)
                        page = dist / STATIC / "patients.html"
                        page.write_text(static_page(listing, index))
                        b_cold, b_warm = await baseline(browser, base)
                        if b_cold.rows != cold.rows:
                            raise SystemExit(f"baseline shows {b_cold.rows} rows, ours {cold.rows}")
                        got = {"cold": cold, "warm": warm, "b_cold": b_cold, "b_warm": b_warm}
                        results.append(got)
                        report_run(n, got)
                finally:
                    await browser.close()
    summary(results)


def report_run(n: int, got: dict[str, Paint]) -> None:
    print(f"\nrun {n}: {got['cold'].rows} rows")
    print("  | list LCP | ours | baseline | ratio | goal |")
    print("  | --- | --- | --- | --- | --- |")
    for kind in ("cold", "warm"):
        mine, theirs = got[kind], got["b_" + kind]
        goal = GOALS[kind]
        print(
            f"  | {kind} | {mine.shown:.2f} s | {theirs.shown:.2f} s "
            f"| {mine.shown / theirs.shown:.2f} "
            f"| ≤ {goal:g} s: {verdict(mine.shown, goal)} |"
        )
    for kind in ("cold", "warm", "b_cold", "b_warm"):
        p = got[kind]
        name = kind.replace("b_", "baseline ")
        rows_at = f"{p.rows_at:.2f} s" if p.rows_at is not None else "-"
        print(
            f"    {name}: LCP {p.seconds:.2f} s ({len(p.candidates)} candidates, the last "
            f"{p.last()}), rows attached {rows_at}, painted {p.rows_painted:.2f} s, "
            f"document loaded {p.response:.2f} s"
        )


def summary(results: list[dict[str, Paint]]) -> None:
    print("\nevery run (list LCP: the later of the page's LCP and its rows' first paint)")
    print("| list LCP | ours | baseline | ratio | goal |")
    print("| --- | --- | --- | --- | --- |")
    for kind in ("cold", "warm"):
        mine = [r[kind].shown for r in results]
        theirs = [r["b_" + kind].shown for r in results]
        ratios = [m / t for m, t in zip(mine, theirs, strict=True)]
        goal = GOALS[kind]
        missed = [str(i + 1) for i, m in enumerate(mine) if m > goal]
        met = "met" if not missed else f"MISSED in run {', '.join(missed)}"
        print(
            f"| {kind} | {', '.join(f'{m:.2f}' for m in mine)} s "
            f"| {', '.join(f'{t:.2f}' for t in theirs)} s "
            f"| {', '.join(f'{r:.2f}' for r in ratios)} "
            f"| ≤ {goal:g} s: {met} (median {statistics.median(mine):.2f} s) |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="repeats, each printed (default 3)")
    parser.add_argument(
        "--no-build",
        dest="build",
        action="store_false",
        help="measure mobile-web/dist as it is, even when older than its sources",
    )
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
