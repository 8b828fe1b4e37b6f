"""Structured (JSON) logs with no patient data: log ids, kinds and counts, never names or text.

Request logs carry the method, the path without its query string (set-up links carry tokens
there), the status and the duration; the request metrics, the route's template instead of the
path.
"""

from __future__ import annotations

import json
import logging
import os
import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from renraku import metrics

# Record attributes that are not ours to print (uvicorn adds a coloured copy of its message).
_STANDARD = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "color_message"}
QUIET_LIBRARIES = ("alembic", "casbin")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update({k: v for k, v in record.__dict__.items() if k not in _STANDARD})
        if record.exc_info and record.exc_info[0] is not None:
            # The exception's type only: its text may quote data (e.g. SQL parameters).
            entry["exception"] = record.exc_info[0].__name__
        return json.dumps(entry, ensure_ascii=False, default=str)


def configure_logging(level: int = logging.INFO) -> None:
    """JSON lines on stderr at `level` (QUIET_LIBRARIES' at warning level); the loggers named in
    RENRAKU_DEBUG_LOGGERS (comma-separated, e.g. renraku.feed.commits or alembic) at debug level."""
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # Libraries that narrate their set-up at info level: Alembic each plugin it registers and each
    # migration step, Casbin the whole model it loaded. Their warnings still show.
    for name in QUIET_LIBRARIES:
        logging.getLogger(name).setLevel(max(level, logging.WARNING))
    for name in os.environ.get("RENRAKU_DEBUG_LOGGERS", "").split(","):
        if name.strip():
            logging.getLogger(name.strip()).setLevel(logging.DEBUG)
    # Our own request log replaces uvicorn's, which would print query strings.
    logging.getLogger("uvicorn.access").disabled = True


class RequestLog:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.log = logging.getLogger("renraku.request")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def tracking_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        finally:
            seconds = time.perf_counter() - started
            method = str(scope.get("method"))
            self.log.info(
                "request",
                extra={
                    "method": method,
                    "path": scope.get("path"),
                    "status": status,
                    "ms": round(seconds * 1000, 1),
                },
            )
            route = route_label(scope)
            metrics.HTTP_REQUESTS.labels(method, route, str(status)).inc()
            metrics.HTTP_SECONDS.labels(method, route).observe(seconds)


def route_label(scope: Scope) -> str:
    """The matched route's template (never the path itself, which may hold ids)."""
    path = getattr(scope.get("route"), "path", None)
    if not isinstance(path, str):
        return "unmatched"
    return path or "static"
