"""`renraku alerts watch`: a real HTTP server on loopback serves an Atom feed; the watcher polls it
with conditional GET, remembers entries in the database, backs off on errors and refuses what it
must not fetch or parse."""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import subprocess
import sys
from collections.abc import Awaitable, Callable, Iterator
from typing import TypeVar

import pytest
from sqlmodel import col, select

from renraku.alerts.feeds import parse_feed
from renraku.alerts.models import Alert, AlertFeed, AlertFeedEntry
from renraku.alerts.sources import add_source, revoke_source
from renraku.alerts.watch import MAX_BACKOFF_FACTOR, Refused, Watcher, backoff_delay
from renraku.alerts.xml_safety import MAX_DOCUMENT_BYTES
from renraku.cli import main
from renraku.db import Database
from renraku.runtime import Runtime
from tests.alerts.feed_server import (
    LAST_MODIFIED,
    FeedServer,
    atom,
    embedded,
    feed_server,
    linked,
)
from tests.alerts.helpers import sample, state
from tests.alerts.test_parsing import BILLION_LAUGHS

T = TypeVar("T")
SOURCE = "prefecture feed"
ALERT = "synthetic-cap12-gamagori-alert.xml"
UPDATE = "synthetic-cap12-gamagori-update.xml"
LANDSLIDE = "jp-jma-VXWW50-kumamoto-landslide-alert.xml"


@pytest.fixture
def cli_env(database_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.delenv("RENRAKU_MODE", raising=False)
    return database_url


@pytest.fixture
def server() -> Iterator[FeedServer]:
    with feed_server() as running:
        yield running


def _with_db(database_url: str, work: Callable[[Database], Awaitable[T]]) -> T:
    async def run() -> T:
        db = Database.from_url(database_url)
        try:
            return await work(db)
        finally:
            await db.dispose()

    return asyncio.run(run())


def _add_source(database_url: str, name: str = SOURCE, *, trusted: bool = False) -> None:
    _with_db(database_url, lambda db: add_source(db, name, trusted=trusted))


def _watch_once(
    server: FeedServer, capsys: pytest.CaptureFixture[str], *extra: str
) -> tuple[int, list[dict[str, object]], str]:
    code = main(
        [
            "alerts",
            "watch",
            server.url("/feed.xml"),
            "--interval",
            "30",
            "--source",
            SOURCE,
            "--once",
            "--json",
            "--allow-private",
            *extra,
        ]
    )
    captured = capsys.readouterr()
    return code, [json.loads(line) for line in captured.out.splitlines()], captured.err


def test_watch_once_imports_new_entries_then_asks_conditionally(
    cli_env: str, server: FeedServer, capsys: pytest.CaptureFixture[str]
) -> None:
    _add_source(cli_env)
    server.feed = atom(
        # Newest first, as feeds list them: the watcher imports the older one first.
        linked("urn:test:2", "2026-12-07T09:05:00Z", server.url(f"/docs/{LANDSLIDE}")),
        linked("urn:test:1", "2026-12-07T09:00:00Z", f"/docs/{ALERT}"),  # relative to the feed
    )
    code, lines, _err = _watch_once(server, capsys)
    assert code == 0
    assert [(line["entry"], line["status"]) for line in lines] == [
        ("urn:test:1", "accepted"),
        ("urn:test:2", "accepted"),
    ]
    assert list(lines[0]) == ["entry", "url", "status", "reason", "alert_id", "matched_patients"]
    assert lines[0]["url"] == server.url(f"/docs/{ALERT}") and lines[0]["matched_patients"] == 3
    assert server.count("/docs/") == 2

    # Unchanged: the feed answers 304 to the validators it gave, and nothing is downloaded.
    code, lines, _err = _watch_once(server, capsys)
    assert (code, lines) == (0, [])
    last = server.requests[-1]
    assert last.path == "/feed.xml"
    assert last.headers["if-none-match"] == server.etag()
    assert last.headers["if-modified-since"] == LAST_MODIFIED
    assert server.count("/docs/") == 2

    # A new entry: only its document is downloaded.
    server.feed = atom(
        linked("urn:test:3", "2026-12-07T09:10:00Z", server.url(f"/docs/{UPDATE}")),
        linked("urn:test:2", "2026-12-07T09:05:00Z", server.url(f"/docs/{LANDSLIDE}")),
        linked("urn:test:1", "2026-12-07T09:00:00Z", server.url(f"/docs/{ALERT}")),
    )
    code, lines, _err = _watch_once(server, capsys)
    assert code == 0
    assert [(line["entry"], line["status"]) for line in lines] == [("urn:test:3", "updated")]
    assert server.paths()[-2:] == ["/feed.xml", f"/docs/{UPDATE}"]
    assert server.count("/docs/") == 3

    async def stored(db: Database) -> tuple[list[Alert], list[AlertFeedEntry], AlertFeed]:
        async with db.session() as session:
            # The demo world's own alerts came from the operator (no source).
            query = select(Alert).where(col(Alert.source_id).is_not(None))
            alerts = list((await session.exec(query)).all())
            entries = list((await session.exec(select(AlertFeedEntry))).all())
            feed = (await session.exec(select(AlertFeed))).one()
        return alerts, entries, feed

    alerts, entries, feed = _with_db(cli_env, stored)
    assert len(alerts) == 3 and all(alert.trusted is False for alert in alerts)
    assert len({alert.source_id for alert in alerts}) == 1 and alerts[0].source_id is not None
    assert sorted(entry.entry_id for entry in entries) == ["urn:test:1", "urn:test:2", "urn:test:3"]
    assert feed.url == server.url("/feed.xml") and feed.etag == server.etag()


def test_the_memory_of_entries_is_kept_when_the_feed_sends_no_validators(
    cli_env: str, server: FeedServer, capsys: pytest.CaptureFixture[str]
) -> None:
    _add_source(cli_env)
    server.validators = False
    server.feed = atom(linked("urn:test:1", "2026-12-07T09:00:00Z", server.url(f"/docs/{ALERT}")))
    assert [line["status"] for line in _watch_once(server, capsys)[1]] == ["accepted"]
    # Another run (as after a restart): the feed is read again, its entry is not.
    assert _watch_once(server, capsys)[1] == []
    assert "if-none-match" not in server.requests[-1].headers
    assert server.count("/docs/") == 1
    # The entry's update time changed: its document is fetched again (the same message).
    server.feed = atom(linked("urn:test:1", "2026-12-07T09:30:00Z", server.url(f"/docs/{ALERT}")))
    (line,) = _watch_once(server, capsys)[1]
    assert line["status"] == "accepted" and line["reason"] == "already imported"
    assert server.count("/docs/") == 2


def test_documents_embedded_in_the_feed_are_imported(
    cli_env: str, server: FeedServer, capsys: pytest.CaptureFixture[str]
) -> None:
    _add_source(cli_env, trusted=True)
    server.feed = atom(
        embedded("urn:test:jma", "2026-12-07T09:01:00Z", sample(LANDSLIDE)),
        embedded("urn:test:cap", "2026-12-07T09:00:00Z", sample(ALERT)),
    )
    code, lines, _err = _watch_once(server, capsys)
    assert code == 0
    assert [(line["entry"], line["url"], line["status"]) for line in lines] == [
        ("urn:test:cap", None, "accepted"),
        ("urn:test:jma", None, "accepted"),
    ]
    assert server.count("/docs/") == 0


def test_rss_items_linking_to_documents_are_read() -> None:
    rss = (
        b"<rss version='2.0'><channel><title>t</title>"
        b"<item><guid>b</guid><pubDate>Mon, 07 Dec 2026 10:00:00 +0900</pubDate>"
        b"<link>https://example.invalid/b.xml</link></item>"
        b"<item><guid>a</guid><pubDate>Mon, 07 Dec 2026 09:00:00 +0900</pubDate>"
        b"<enclosure url='a.xml' type='application/cap+xml' length='1'/>"
        b"<link>https://example.invalid/a.html</link></item>"
        b"<item><title>no document</title></item>"
        b"</channel></rss>"
    )
    entries = parse_feed(rss, "https://example.invalid/feeds/rss")
    assert [(entry.key, entry.link) for entry in entries] == [
        ("a", "https://example.invalid/feeds/a.xml"),
        ("b", "https://example.invalid/b.xml"),
    ]


async def test_errors_back_off_with_jitter_and_a_success_resets_the_wait(
    runtime: Runtime, server: FeedServer
) -> None:
    await add_source(runtime.db, SOURCE, trusted=False)
    server.feed = atom(linked("urn:test:1", "2026-12-07T09:00:00Z", server.url(f"/docs/{ALERT}")))
    server.feed_failures = [500, 503]
    interval = 30.0
    watcher = Watcher(
        runtime.db,
        server.url("/feed.xml"),
        SOURCE,
        interval=interval,
        allow_private=True,
        rng=random.Random(7),
    )
    statuses: list[str] = []

    async def no_wait(seconds: float) -> None:
        # Nothing sleeps: the delay the backoff chose is recorded, and the run goes on.
        if len(watcher.delays) == 4:
            watcher.stop()

    try:
        await watcher.run(sleep=no_wait, report=lambda entry: statuses.append(entry.status))
    finally:
        await watcher.close()
    assert server.answers("/feed.xml") == [500, 503, 200, 304]
    assert statuses == ["accepted"]
    first, second, after_success, steady = watcher.delays
    assert interval <= first <= 2 * interval
    assert 2 * interval <= second <= 4 * interval
    assert after_success == steady == interval


def test_the_backoff_is_capped_at_ten_intervals() -> None:
    rng = random.Random(1)
    for failures in (4, 5, 10, 100, 10_000):
        delay = backoff_delay(60.0, failures, rng)
        assert MAX_BACKOFF_FACTOR * 60.0 / 2 <= delay <= MAX_BACKOFF_FACTOR * 60.0
    assert backoff_delay(60.0, 0, rng) == 60.0
    # Jitter: watchers failing together do not all come back at once.
    assert len({backoff_delay(60.0, 3, rng) for _ in range(20)}) > 1


def test_a_hostile_feed_is_refused_and_nothing_is_stored(
    cli_env: str, server: FeedServer, capsys: pytest.CaptureFixture[str]
) -> None:
    _add_source(cli_env)
    before = _with_db(cli_env, state)
    server.feed = BILLION_LAUGHS
    code, lines, err = _watch_once(server, capsys)
    assert (code, lines) == (1, [])
    assert "feed: <!DOCTYPE lolz>: document type declarations are refused" in err
    # One line per poll, status and ids only; httpx's own line per request is not printed.
    assert '"result": "failed"' in err and '"logger": "httpx"' not in err
    server.feed = b"<html><body>not a feed</body></html>"
    code, lines, err = _watch_once(server, capsys)
    assert code == 1 and "neither an Atom feed nor an RSS channel" in err
    assert _with_db(cli_env, state) == before
    assert _with_db(cli_env, _feeds) == 0


async def _feeds(db: Database) -> int:
    async with db.session() as session:
        return len((await session.exec(select(AlertFeed))).all())


def test_an_oversized_document_is_dropped_while_it_streams(
    cli_env: str, server: FeedServer, capsys: pytest.CaptureFixture[str]
) -> None:
    _add_source(cli_env)
    before = _with_db(cli_env, state)
    server.big = MAX_DOCUMENT_BYTES * 2
    server.routes["/big.xml"] = (200, "application/xml", None)
    server.routes["/declared.xml"] = (200, "application/xml", b" " * (MAX_DOCUMENT_BYTES + 1))
    server.feed = atom(
        linked("urn:test:big", "2026-12-07T09:00:00Z", server.url("/big.xml")),
        linked("urn:test:declared", "2026-12-07T09:00:00Z", server.url("/declared.xml")),
        linked("urn:test:gone", "2026-12-07T09:00:00Z", server.url("/docs/missing.xml")),
        linked("urn:test:ftp", "2026-12-07T09:00:00Z", "ftp://example.invalid/a.xml"),
    )
    code, lines, _err = _watch_once(server, capsys)
    assert code == 0
    by_entry = {line["entry"]: line for line in lines}
    assert {line["status"] for line in lines} == {"rejected"}
    for key in ("urn:test:big", "urn:test:declared"):
        assert f"over the {MAX_DOCUMENT_BYTES} byte limit" in str(by_entry[key]["reason"])
    assert by_entry["urn:test:gone"]["reason"] == "download: HTTP 404"
    assert "only http and https" in str(by_entry["urn:test:ftp"]["reason"])
    assert _with_db(cli_env, state) == before
    # Refused for good: remembered, and not fetched again.
    assert _watch_once(server, capsys)[1] == []
    assert server.count("/big.xml") == 1


def test_a_document_that_fails_for_now_is_tried_again(
    cli_env: str, server: FeedServer, capsys: pytest.CaptureFixture[str]
) -> None:
    _add_source(cli_env)
    server.routes["/later.xml"] = (503, "text/plain", b"busy")
    server.feed = atom(linked("urn:test:later", "2026-12-07T09:00:00Z", server.url("/later.xml")))
    code, lines, _err = _watch_once(server, capsys)
    assert code == 1
    assert [(line["status"], line["reason"]) for line in lines] == [("retry", "download: HTTP 503")]
    server.routes["/later.xml"] = (200, "application/xml", sample(ALERT))
    code, lines, _err = _watch_once(server, capsys)
    # The feed's validators were not kept, so it was read again in full, not answered 304.
    assert "if-none-match" not in server.requests[-2].headers
    assert (code, [line["status"] for line in lines]) == (0, ["accepted"])


@pytest.mark.parametrize(
    "url", ["ftp://example.invalid/feed.xml", "file:///etc/passwd", "feeds/jma.xml"]
)
def test_only_http_urls_are_watched(
    cli_env: str, url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    _add_source(cli_env)
    code = main(["alerts", "watch", url, "--source", SOURCE, "--once"])
    assert code == 2
    assert "only http and https URLs are watched" in capsys.readouterr().err


def test_private_addresses_need_allow_private(
    cli_env: str, server: FeedServer, capsys: pytest.CaptureFixture[str]
) -> None:
    _add_source(cli_env)
    server.feed = atom()
    code = main(["alerts", "watch", server.url("/feed.xml"), "--source", SOURCE, "--once"])
    assert code == 2
    err = capsys.readouterr().err
    assert "127.0.0.1 is a private, loopback or link-local address" in err
    assert "--allow-private" in err
    assert server.requests == []


def test_the_source_must_exist_and_not_be_revoked(
    cli_env: str, server: FeedServer, capsys: pytest.CaptureFixture[str]
) -> None:
    server.feed = atom(linked("urn:test:1", "2026-12-07T09:00:00Z", server.url(f"/docs/{ALERT}")))
    before = _with_db(cli_env, state)
    code, lines, err = _watch_once(server, capsys)
    assert (code, lines) == (2, [])
    assert f"No alert source is named {SOURCE!r}" in err and "alerts sources add" in err
    _add_source(cli_env)
    _with_db(cli_env, lambda db: revoke_source(db, SOURCE))
    after_revoke = _with_db(cli_env, state)
    code, lines, err = _watch_once(server, capsys)
    assert (code, lines) == (2, [])
    assert "was revoked" in err
    assert server.requests == []
    assert _with_db(cli_env, state) == after_revoke != before


@pytest.mark.parametrize("stop_with", [signal.SIGTERM, signal.SIGINT])
def test_the_watch_stops_cleanly_on_sigterm_or_ctrl_c(
    cli_env: str, server: FeedServer, stop_with: signal.Signals
) -> None:
    _add_source(cli_env)
    server.feed = atom(linked("urn:test:1", "2026-12-07T09:00:00Z", server.url(f"/docs/{ALERT}")))
    command = [
        *[sys.executable, "-m", "renraku.cli", "alerts", "watch", server.url("/feed.xml")],
        *["--interval", "3600", "--source", SOURCE, "--allow-private"],
    ]
    env = {**os.environ, "DATABASE_URL": cli_env}
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        # The entry's line is printed once it is imported; then the watcher waits an hour.
        # (Should it never come, the process ends or the test's timeout ends it.)
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith("urn:test:1: accepted alert ")
        process.send_signal(stop_with)
        _out, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, err
    assert "Traceback" not in err
    assert server.count("/feed.xml") == 1


async def test_a_source_revoked_while_watching_ends_the_watch(
    runtime: Runtime, server: FeedServer
) -> None:
    await add_source(runtime.db, SOURCE, trusted=False)
    server.feed = atom(linked("urn:test:1", "2026-12-07T09:00:00Z", server.url(f"/docs/{ALERT}")))
    watcher = Watcher(
        runtime.db, server.url("/feed.xml"), SOURCE, interval=30.0, allow_private=True
    )

    async def revoke_instead_of_waiting(seconds: float) -> None:
        await revoke_source(runtime.db, SOURCE)

    try:
        with pytest.raises(Refused, match="was revoked"):
            await watcher.run(sleep=revoke_instead_of_waiting)
    finally:
        await watcher.close()
    assert server.count("/feed.xml") == 1


def test_a_feed_shaped_like_jmas_links_each_entry_to_its_document() -> None:
    jma = (
        '<?xml version="1.0" encoding="utf-8"?>'
        '<feed xmlns="http://www.w3.org/2005/Atom" lang="ja"><title>随時</title>'
        "<id>urn:uuid:f0000000-0000-0000-0000-000000000000</id>"
        "<updated>2026-12-07T00:10:00Z</updated>"
        '<link href="https://example.invalid/developer/xml/feed/extra.xml" rel="self"/>'
        '<link href="https://example.invalid/hub" rel="hub"/>'
        "<entry><title>土砂災害警戒情報</title>"
        "<id>https://example.invalid/developer/xml/data/b_VXWW50_430000.xml</id>"
        "<updated>2026-12-07T00:10:00Z</updated><author><name>熊本地方気象台</name></author>"
        '<link type="application/xml" '
        'href="https://example.invalid/developer/xml/data/b_VXWW50_430000.xml"/>'
        '<content type="text">【熊本県土砂災害警戒情報】</content></entry>'
        "<entry><title>気象警報・注意報（Ｈ２７）</title>"
        "<id>https://example.invalid/developer/xml/data/a_VPWW54_230000.xml</id>"
        "<updated>2026-12-07T00:05:00Z</updated>"
        '<link type="text/html" href="https://example.invalid/a.html"/>'
        '<link type="application/xml" '
        'href="https://example.invalid/developer/xml/data/a_VPWW54_230000.xml"/>'
        '<content type="text">【愛知県気象警報・注意報】</content></entry>'
        "</feed>"
    ).encode()
    entries = parse_feed(jma, "https://example.invalid/developer/xml/feed/extra.xml")
    assert [(entry.link, entry.document, entry.updated) for entry in entries] == [
        (
            "https://example.invalid/developer/xml/data/a_VPWW54_230000.xml",
            None,
            "2026-12-07T00:05:00Z",
        ),
        (
            "https://example.invalid/developer/xml/data/b_VXWW50_430000.xml",
            None,
            "2026-12-07T00:10:00Z",
        ),
    ]
    assert entries[0].key == entries[0].link
