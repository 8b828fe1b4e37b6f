"""`alerts watch`: poll an Atom or RSS feed of alerts and import each new document as a source.

Each poll asks for the feed with the validators of its last answer (If-None-Match from its ETag,
If-Modified-Since from its Last-Modified), so an unchanged feed answers 304 and costs nothing
more. Every entry whose document was fetched is remembered in the database with the update time
the feed gave it (alert_feed_entry): a restart does not fetch everything again, and an entry is
fetched again only when its update time changes. A document that could not be fetched for a
passing reason (network, 5xx) is not remembered, and the feed's validators are then not kept
either, so that the next poll sees the entry again.

A poll that fails (network, 5xx, a malformed or oversized feed, a document that could not be
fetched) delays the next by an exponential backoff with jitter, capped at ten intervals.

Only http and https URLs are fetched, and, unless the operator allows it, none that names or
resolves to a private, loopback or link-local address (checked on every request, redirects
included). The feed and each document are read as they stream and dropped past the document
size limit. Logs carry statuses and ids only, never a document's text.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import ipaddress
import logging
import random
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta

import httpx
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlmodel import select

from renraku.alerts.feeds import FeedEntry, FeedError, parse_feed
from renraku.alerts.imports import REJECTED, ImportResult, Origin, import_document
from renraku.alerts.models import AlertFeed, AlertFeedEntry, AlertSource
from renraku.alerts.xml_safety import MAX_DOCUMENT_BYTES
from renraku.db import Database
from renraku.timeutil import utcnow

MAX_FEED_BYTES = MAX_DOCUMENT_BYTES
MAX_URL_LENGTH = 2000
# The longest wait after failures, in intervals.
MAX_BACKOFF_FACTOR = 10
# An entry whose document could not be fetched for a passing reason: tried again next poll.
RETRY = "retry"
# Polls.
CHANGED = "changed"
UNCHANGED = "unchanged"
FAILED = "failed"
TIMEOUT = httpx.Timeout(30.0, connect=10.0)
# However slowly a server drips its answer, one download ends by then.
DOWNLOAD_SECONDS = 120.0
USER_AGENT = "renraku-alerts-watch"
# Answers that say "try later" rather than "never".
PASSING = frozenset({408, 425, 429})

_log = logging.getLogger("renraku.alerts.watch")


class Refused(Exception):
    """What the watcher will not do: a URL it may not fetch, a source that does not exist or
    was revoked. Said to the operator as is."""


class _TooLarge(Exception):
    pass


@dataclass(frozen=True)
class EntryOutcome:
    entry: str
    url: str | None
    status: str
    reason: str = ""
    alert_id: int | None = None
    matched_patients: int = 0


@dataclass
class PollOutcome:
    status: str
    reason: str = ""
    http_status: int | None = None
    entries: list[EntryOutcome] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return self.status == FAILED or any(entry.status == RETRY for entry in self.entries)


def backoff_delay(interval: float, failures: int, rng: random.Random) -> float:
    """Seconds to the next poll after `failures` failed polls in a row: the interval after a
    success; then doubling with each failure, capped at MAX_BACKOFF_FACTOR intervals, and drawn
    at random in the upper half of that (so that watchers failing together spread out)."""
    if failures <= 0:
        return interval
    ceiling = min(interval * 2.0 ** min(failures, 32), interval * MAX_BACKOFF_FACTOR)
    return rng.uniform(ceiling / 2, ceiling)


def check_url(url: str) -> httpx.URL:
    """The URL parsed, when it is one the watcher may fetch at all (scheme and form)."""
    if len(url) > MAX_URL_LENGTH:
        raise Refused(f"{url[:80]}...: URLs of more than {MAX_URL_LENGTH} characters are refused")
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError, ValueError):
        raise Refused(f"{url}: not a URL") from None
    if parsed.scheme not in ("http", "https"):
        raise Refused(
            f"{url}: only http and https URLs are watched, not {parsed.scheme or 'a bare path'}"
        )
    if not parsed.host:
        raise Refused(f"{url}: the URL names no host")
    return parsed


async def check_address(url: httpx.URL) -> None:
    """Refused when the URL's host is, or resolves to, an address that is not public."""
    host = url.host
    try:
        addresses = [ipaddress.ip_address(host)]
    except ValueError:
        loop = asyncio.get_running_loop()
        try:
            infos = await loop.getaddrinfo(host, url.port, type=socket.SOCK_STREAM)
        except OSError:
            raise Refused(f"{host}: the name does not resolve") from None
        addresses = [ipaddress.ip_address(info[4][0]) for info in infos]
    for address in addresses:
        if not address.is_global:
            raise Refused(
                f"{host} is a private, loopback or link-local address ({address}); "
                "pass --allow-private to watch it"
            )


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


Sleep = Callable[[float], Awaitable[None]]
Report = Callable[[EntryOutcome], None]


class Watcher:
    """Polls one feed as one source. `run` until `stop`, or `poll` once."""

    def __init__(
        self,
        db: Database,
        url: str,
        source_name: str,
        *,
        interval: float,
        allow_private: bool = False,
        incident_grace: timedelta = timedelta(hours=6),
        rng: random.Random | None = None,
    ) -> None:
        self.db = db
        parsed = check_url(url)
        self.url = str(parsed)
        # What the logs name: the URL without its query, which may carry a key.
        self.logged_url = str(parsed.copy_with(query=None, fragment=None))
        self.source_name = source_name
        self.interval = interval
        self.allow_private = allow_private
        self.incident_grace = incident_grace
        self.rng = rng or random.Random()  # noqa: S311 - jitter, not a secret
        # Delays the run waited between polls, in order (what the backoff decided).
        self.delays: list[float] = []
        self._stopping = asyncio.Event()
        self._client = httpx.AsyncClient(
            timeout=TIMEOUT,
            follow_redirects=True,
            max_redirects=5,
            headers={"User-Agent": USER_AGENT},
            event_hooks={"request": [self._check_request]},
        )

    async def close(self) -> None:
        await self._client.aclose()

    def stop(self) -> None:
        """End the run: at once when waiting, else by abandoning the poll under way (an import
        is one transaction, so it is whole or absent; its entry is fetched again next time)."""
        self._stopping.set()

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    async def _check_request(self, request: httpx.Request) -> None:
        check_url(str(request.url))
        if not self.allow_private:
            await check_address(request.url)

    async def check(self) -> AlertSource:
        """Before the first poll: the feed's address may be fetched and the source exists."""
        if not self.allow_private:
            await check_address(httpx.URL(self.url))
        return await self._source()

    async def _source(self) -> AlertSource:
        async with self.db.session() as session:
            source = (
                await session.exec(select(AlertSource).where(AlertSource.name == self.source_name))
            ).first()
        if source is None:
            raise Refused(
                f"No alert source is named {self.source_name!r}: add it first with "
                "`renraku alerts sources add NAME`."
            )
        if source.revoked_at is not None:
            raise Refused(f"The alert source {self.source_name!r} was revoked.")
        return source

    async def _feed(self, source_id: int, *, create: bool) -> AlertFeed | None:
        """The feed's row, made (when `create`) once a poll has something to keep."""
        digest = _sha256(self.url)
        query = select(AlertFeed).where(
            AlertFeed.source_id == source_id, AlertFeed.url_sha256 == digest
        )
        async with self.db.session() as session:
            found = (await session.exec(query)).first()
        if found is not None or not create:
            return found
        try:
            async with self.db.transaction() as session:
                feed = AlertFeed(source_id=source_id, url=self.url, url_sha256=digest)
                session.add(feed)
        except IntegrityError:  # another watcher of the same feed added it first
            async with self.db.session() as session:
                return (await session.exec(query)).one()
        return feed

    async def run(self, *, sleep: Sleep | None = None, report: Report | None = None) -> None:
        """Poll until stopped, waiting the interval (or the backoff) between polls."""
        failures = 0
        while not self.stopping:
            outcome = await self._abandoned_on_stop(self.poll(report))
            if outcome is None:
                return
            failures = failures + 1 if outcome.failed else 0
            delay = backoff_delay(self.interval, failures, self.rng)
            self.delays.append(delay)
            await (sleep or self._wait)(delay)

    async def _wait(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), timeout=seconds)

    async def _abandoned_on_stop(self, work: Awaitable[PollOutcome]) -> PollOutcome | None:
        task = asyncio.ensure_future(work)
        stopped = asyncio.ensure_future(self._stopping.wait())
        try:
            await asyncio.wait({task, stopped}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopped.cancel()
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            _log.info("watch stopped during a poll", extra={"feed": self.logged_url})
            return None
        return task.result()

    async def poll(self, report: Report | None = None) -> PollOutcome:
        """One poll: the feed (conditionally), then each entry not fetched before. Refused when
        the source is gone or was revoked meanwhile."""
        source_id: int | None = None
        try:
            source = await self._source()
            source_id = source.id
            outcome = await self._poll(source, report)
        except SQLAlchemyError as error:
            # The database away: the poll failed, and the next comes after the backoff.
            outcome = PollOutcome(FAILED, f"database: {type(error).__name__}")
        _log.info(
            "feed polled",
            extra={
                "source_id": source_id,
                "feed": self.logged_url,
                "result": outcome.status,
                "http_status": outcome.http_status,
                "entries": len(outcome.entries),
                "retries": sum(1 for e in outcome.entries if e.status == RETRY),
            },
        )
        return outcome

    async def _poll(self, source: AlertSource, report: Report | None) -> PollOutcome:
        assert source.id is not None
        known = await self._feed(source.id, create=False)
        headers = {}
        if known is not None and known.etag:
            headers["If-None-Match"] = known.etag
        if known is not None and known.last_modified:
            headers["If-Modified-Since"] = known.last_modified
        try:
            response, body = await self._get(self.url, headers, MAX_FEED_BYTES)
        except _TooLarge:
            return PollOutcome(FAILED, f"feed: over the {MAX_FEED_BYTES} byte limit")
        except Refused as refused:
            return PollOutcome(FAILED, f"feed: {refused}")
        except (httpx.HTTPError, OSError, TimeoutError) as error:
            return PollOutcome(FAILED, f"feed: {_network(error)}")
        if response.status_code == 304 and known is not None:
            assert known.id is not None
            await self._checked(known.id, None)
            return PollOutcome(UNCHANGED, http_status=304)
        if response.status_code != 200:
            return PollOutcome(
                FAILED, f"feed: HTTP {response.status_code}", http_status=response.status_code
            )
        try:
            entries = parse_feed(body, self.url)
        except FeedError as error:
            return PollOutcome(FAILED, error.reason, http_status=200)
        # Nothing is kept of a feed before it answered with one that could be read.
        feed = known or await self._feed(source.id, create=True)
        assert feed is not None and feed.id is not None
        outcome = PollOutcome(CHANGED, http_status=200)
        seen = await self._memory(feed.id)
        origin = Origin(trusted=source.trusted, source_id=source.id, source_name=source.name)
        for entry in entries:
            digest = _sha256(entry.key)
            if seen.get(digest) == entry.updated:
                continue
            result = await self._entry(entry, origin)
            if result.status != RETRY:
                await self._remember(feed.id, digest, entry, result)
                seen[digest] = entry.updated  # an entry listed twice is fetched once
            _log.info(
                "feed entry",
                extra={
                    "source_id": source.id,
                    "entry": entry.key[:200],
                    "result": result.status,
                    "alert_id": result.alert_id,
                },
            )
            outcome.entries.append(result)
            if report is not None:
                report(result)
        # Validators kept only when every entry was dealt with: else a 304 would hide the rest.
        validators = None if outcome.failed else response.headers
        await self._checked(feed.id, validators)
        return outcome

    async def _entry(self, entry: FeedEntry, origin: Origin) -> EntryOutcome:
        data = entry.document
        if data is None:
            assert entry.link is not None
            try:
                response, body = await self._get(entry.link, {}, MAX_DOCUMENT_BYTES)
            except _TooLarge:
                return self._outcome(
                    entry,
                    ImportResult(
                        REJECTED,
                        f"document: over the {MAX_DOCUMENT_BYTES} byte limit; download stopped",
                    ),
                )
            except Refused as refused:
                return self._outcome(entry, ImportResult(REJECTED, f"link: {refused}"))
            except (httpx.HTTPError, OSError, TimeoutError) as error:
                return EntryOutcome(entry.key, entry.link, RETRY, f"download: {_network(error)}")
            status = response.status_code
            if status >= 500 or status in PASSING:
                return EntryOutcome(entry.key, entry.link, RETRY, f"download: HTTP {status}")
            if status != 200:
                return self._outcome(entry, ImportResult(REJECTED, f"download: HTTP {status}"))
            data = body
        result = await import_document(self.db, data, origin, incident_grace=self.incident_grace)
        return self._outcome(entry, result)

    @staticmethod
    def _outcome(entry: FeedEntry, result: ImportResult) -> EntryOutcome:
        return EntryOutcome(
            entry.key,
            entry.link,
            result.status,
            result.reason,
            result.alert_id,
            result.matched_patients,
        )

    async def _get(
        self, url: str, headers: dict[str, str], limit: int
    ) -> tuple[httpx.Response, bytes]:
        """The answer and, for a 200, its body read as it streams (_TooLarge past `limit`)."""
        async with asyncio.timeout(DOWNLOAD_SECONDS):
            async with self._client.stream("GET", url, headers=headers) as response:
                if response.status_code != 200:
                    return response, b""
                declared = response.headers.get("content-length", "")
                if declared.isdigit() and int(declared) > limit:
                    raise _TooLarge
                body = bytearray()
                async for chunk in response.aiter_bytes():
                    body += chunk
                    if len(body) > limit:
                        raise _TooLarge
                return response, bytes(body)

    async def _memory(self, feed_id: int) -> dict[str, str]:
        async with self.db.session() as session:
            rows = await session.exec(
                select(AlertFeedEntry.entry_sha256, AlertFeedEntry.updated).where(
                    AlertFeedEntry.feed_id == feed_id
                )
            )
            return dict(rows.all())

    async def _remember(
        self, feed_id: int, digest: str, entry: FeedEntry, outcome: EntryOutcome
    ) -> None:
        try:
            async with self.db.transaction() as session:
                row = await session.get(AlertFeedEntry, (feed_id, digest))
                if row is None:
                    row = AlertFeedEntry(
                        feed_id=feed_id,
                        entry_sha256=digest,
                        entry_id=entry.key,
                        status=outcome.status,
                    )
                row.updated = entry.updated
                row.status = outcome.status
                row.alert_id = outcome.alert_id
                row.seen_at = utcnow()
                session.add(row)
        except IntegrityError:
            # Another watcher of the same feed remembered the entry first: it is remembered.
            pass

    async def _checked(self, feed_id: int, validators: httpx.Headers | None) -> None:
        async with self.db.transaction() as session:
            feed = await session.get(AlertFeed, feed_id)
            assert feed is not None
            feed.checked_at = utcnow()
            if validators is not None:
                etag = validators.get("etag", "")
                modified = validators.get("last-modified", "")
                feed.etag = etag if len(etag) <= 400 else ""
                feed.last_modified = modified if len(modified) <= 100 else ""
            session.add(feed)


def _network(error: BaseException) -> str:
    if isinstance(error, TimeoutError | httpx.TimeoutException):
        return f"timed out ({type(error).__name__})"
    return f"network error ({type(error).__name__})"
