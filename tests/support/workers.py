"""What keeps pytest-xdist workers apart where they share a server: each worker process has its
own Redis databases (the server and the throttle name their channels and keys by database, so
two workers' hubs never hear each other's feed). PostgreSQL databases, SQLite files and ports
are already unique per test (random names, tmp_path, port 0)."""

from __future__ import annotations

import os

from sqlalchemy.engine import make_url

# "gw0", "gw1", ... under xdist; absent in a plain run, which behaves as worker 0.
WORKER = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
INDEX = int(WORKER.removeprefix("gw") or 0)
# Redis has 16 databases: 0-7 for the workers' tests, 8-15 for their two-worker servers.
MAX_WORKERS = 8
assert INDEX < MAX_WORKERS, f"at most {MAX_WORKERS} xdist workers share one Redis"

_REDIS = os.environ.get("RENRAKU_TEST_REDIS", "redis://127.0.0.1:6379/0")


def redis_url(*, spare: bool = False) -> str:
    """This worker's Redis database, or (`spare`) a second one no other test of it uses."""
    number = INDEX + (MAX_WORKERS if spare else 0)
    return make_url(_REDIS).set(database=str(number)).render_as_string(hide_password=False)
