"""A real HTTP server on loopback for `alerts watch`: serves a feed (with ETag and Last-Modified,
answering 304 to a request that names them), the sample documents, and whatever else a test
puts in `routes`; counts every request and keeps its headers."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from tests.alerts.helpers import DATA

CAP12 = "urn:oasis:names:tc:emergency:cap:1.2"
LAST_MODIFIED = "Mon, 07 Dec 2026 09:00:00 GMT"


@dataclass
class Seen:
    path: str
    headers: dict[str, str]
    # The status it was answered with.
    status: int = 0


@dataclass
class FeedServer:
    port: int = 0
    feed: bytes = b""
    # Statuses to answer the feed with, one per request, before serving it.
    feed_failures: list[int] = field(default_factory=list)
    # Whether the feed carries validators (some servers send neither).
    validators: bool = True
    # Extra paths: (status, content type, body); a body of None streams `big` bytes unannounced.
    routes: dict[str, tuple[int, str, bytes | None]] = field(default_factory=dict)
    big: int = 0
    requests: list[Seen] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def paths(self) -> list[str]:
        with self.lock:
            return [seen.path for seen in self.requests]

    def count(self, prefix: str) -> int:
        return sum(1 for path in self.paths() if path.startswith(prefix))

    def answers(self, path: str) -> list[int]:
        with self.lock:
            return [seen.status for seen in self.requests if seen.path == path]

    def etag(self) -> str:
        return '"' + hashlib.sha256(self.feed).hexdigest()[:16] + '"'


def _handler(server: FeedServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            return

        def send_response(self, code: int, message: str | None = None) -> None:
            with server.lock:
                self.seen.status = code
            super().send_response(code, message)

        def do_GET(self) -> None:
            self.seen = Seen(self.path, {k.lower(): v for k, v in self.headers.items()})
            with server.lock:
                server.requests.append(self.seen)
                failure = None
                if self.path == "/feed.xml" and server.feed_failures:
                    failure = server.feed_failures.pop(0)
            if self.path == "/feed.xml":
                if failure is not None:
                    self._send(failure, "text/plain", b"unavailable")
                    return
                self._feed()
            elif self.path.startswith("/docs/"):
                name = self.path.removeprefix("/docs/")
                path = DATA / name
                if "/" in name or not path.is_file():
                    self._send(404, "text/plain", b"not found")
                else:
                    self._send(200, "application/xml", path.read_bytes())
            elif self.path in server.routes:
                status, kind, body = server.routes[self.path]
                if body is None:
                    self._stream_big(kind)
                else:
                    self._send(status, kind, body)
            else:
                self._send(404, "text/plain", b"not found")

        def _feed(self) -> None:
            etag = server.etag()
            headers = {"ETag": etag, "Last-Modified": LAST_MODIFIED} if server.validators else {}
            if server.validators and self.headers.get("If-None-Match") == etag:
                self.send_response(304)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                return
            self._send(200, "application/atom+xml", server.feed, headers)

        def _send(
            self, status: int, kind: str, body: bytes, headers: dict[str, str] | None = None
        ) -> None:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)

        def _stream_big(self, kind: str) -> None:
            # No Content-Length: the body runs until the connection closes (HTTP/1.0), so only
            # counting as it streams can stop it.
            self.send_response(200)
            self.send_header("Content-Type", kind)
            self.send_header("Connection", "close")
            self.end_headers()
            chunk = b" " * 65536
            sent = 0
            try:
                while sent < server.big:
                    self.wfile.write(chunk)
                    sent += len(chunk)
            except (BrokenPipeError, ConnectionResetError):
                return

    return Handler


@contextmanager
def feed_server() -> Iterator[FeedServer]:
    server = FeedServer()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(server))
    httpd.daemon_threads = True
    server.port = httpd.server_address[1]
    thread = threading.Thread(target=httpd.serve_forever, name="feed-server", daemon=True)
    thread.start()
    try:
        yield server
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=30)


def atom(*entries: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        '<feed xmlns="http://www.w3.org/2005/Atom">'
        "<title>test feed</title><id>urn:test:feed</id><updated>2026-12-07T09:00:00Z</updated>"
        + "".join(entries)
        + "</feed>"
    ).encode()


def linked(entry_id: str, updated: str, href: str, kind: str = "application/xml") -> str:
    return (
        f"<entry><id>{entry_id}</id><title>alert</title><updated>{updated}</updated>"
        f'<link type="{kind}" href="{href}"/></entry>'
    )


def embedded(entry_id: str, updated: str, document: bytes) -> str:
    text = document.decode("utf-8")
    if text.startswith("<?xml"):
        text = text.split("?>", 1)[1]
    return (
        f"<entry><id>{entry_id}</id><title>alert</title><updated>{updated}</updated>"
        f'<content type="application/cap+xml">{text}</content></entry>'
    )
