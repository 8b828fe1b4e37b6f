"""Prometheus metrics, served at GET /metrics (web/pages.py).

Counts and durations of requests, commits and the live feed. Labels are methods, route
templates and status codes only: never an id, a name or a text. With `renraku serve --workers N`
every worker writes to a shared directory (PROMETHEUS_MULTIPROC_DIR, set by the command) and a
scrape of any worker answers for all of them.
"""

from __future__ import annotations

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
    multiprocess,
)

# A *_created series beside every counter and histogram only doubles what a scrape reads.
# (prometheus_client leaves this function and the multiprocess ones below unannotated.)
disable_created_metrics()  # type: ignore[no-untyped-call]

MULTIPROCESS_DIR = "PROMETHEUS_MULTIPROC_DIR"
CONTENT_TYPE = CONTENT_TYPE_LATEST

# Seconds: from a feed hand-off (well under a millisecond) to a slow page.
_BUCKETS = (
    0.00025,
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)

HTTP_REQUESTS = Counter(
    "renraku_http_requests", "HTTP requests answered.", ["method", "route", "status"]
)
HTTP_SECONDS = Histogram(
    "renraku_http_request_seconds",
    "Time to answer an HTTP request.",
    ["method", "route"],
    buckets=_BUCKETS,
)
COMMIT_SECONDS = Histogram(
    "renraku_db_commit_seconds",
    "Time the COMMIT of a write transaction took (on PostgreSQL, its WAL flush).",
    buckets=_BUCKETS,
)
FEED_EVENTS = Counter("renraku_feed_events_committed", "Feed events committed by this service.")
FEED_DELIVERIES = Counter(
    "renraku_feed_deliveries", "Feed event frames queued for live subscribers (live and replay)."
)
FEED_EXECUTIONS = Counter(
    "renraku_feed_executions",
    "Subscription selections executed for feed events: whole (for an audience or a viewer), "
    "the part an audience shares, or a viewer's own part.",
    ["part"],
)
FEED_COMMIT_TO_SEND = Histogram(
    "renraku_feed_commit_to_send_seconds",
    "From a transaction's commit until its events were handed to this worker's subscribers' "
    "sockets (events delivered straight from the commit).",
    buckets=_BUCKETS,
)
FEED_SUBSCRIPTIONS = Gauge(
    "renraku_feed_subscriptions", "Live feed subscriptions.", multiprocess_mode="livesum"
)
FEED_SLOW_CLOSED = Counter(
    "renraku_feed_slow_consumers_closed",
    "Feed sockets closed with 1013 for falling too far behind.",
)


def worker_stopped() -> None:
    """A worker that stops leaves the shared live gauges (its subscriptions no longer count)."""
    if os.environ.get(MULTIPROCESS_DIR):
        multiprocess.mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]


def exposition() -> bytes:
    """The text a scrape reads: this process's metrics, or every worker's."""
    if os.environ.get(MULTIPROCESS_DIR):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry)
    return generate_latest(REGISTRY)
