"""Fixtures: every database test runs on SQLite and on PostgreSQL, each on a fresh clone of a
migrated, demo-seeded template; the app is driven through a real httpx client.

Tests that need the PostgreSQL server or Redis are marked `postgres` / `redis` (by hand, or
below from their parameters), so `pytest -m "not postgres and not redis"` (`make test-fast`)
runs the SQLite half on a machine without either."""

from __future__ import annotations

import os
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from renraku.app import build_app
from renraku.db import Database
from renraku.runtime import Runtime, build_runtime
from renraku.settings import Settings
from tests.support.databases import BACKENDS, Backend
from tests.support.graphql import DEMO, GraphQLClient

ORIGIN = "http://127.0.0.1:8000"


@pytest.hookimpl(tryfirst=True)  # before `-m` deselects by these marks
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Marks a test run on PostgreSQL `postgres`, and one run with Redis (any parameter whose
    value is "redis": the throttle store, the broker) `redis`."""
    for item in items:
        callspec = getattr(item, "callspec", None)
        if callspec is None:
            continue
        if callspec.params.get("backend") == "postgresql":
            item.add_marker(pytest.mark.postgres)
        if any(isinstance(value, str) and value == "redis" for value in callspec.params.values()):
            item.add_marker(pytest.mark.redis)


@pytest.fixture(scope="session")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("databases")


_backends: dict[str, Backend] = {}


@pytest.fixture(scope="session", params=BACKENDS)
async def backend(request: pytest.FixtureRequest, workdir: Path) -> AsyncIterator[Backend]:
    kind: str = request.param
    if kind not in _backends:
        created = Backend(kind, workdir)
        await created.prepare()
        _backends[kind] = created
    yield _backends[kind]


@pytest.fixture(scope="session", autouse=True)
async def _drop_templates() -> AsyncIterator[None]:
    yield
    for created in _backends.values():
        await created.teardown()


@pytest.fixture
async def database_url(backend: Backend) -> AsyncIterator[str]:
    async with backend.clone() as url:
        yield url


# Checkpoints signed by tests go to a file of the test run's, never to var/ in the working tree.
_AUDIT_LOG_FILE = Path(tempfile.gettempdir()) / f"renraku-tests-{os.getpid()}-audit-checkpoints.log"


def make_settings(database_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": database_url,
        "public_origin": ORIGIN,
        "audit_log_file": _AUDIT_LOG_FILE,
    }
    values.update(overrides)
    return Settings(**values)


@pytest.fixture
def settings(database_url: str) -> Settings:
    return make_settings(database_url)


@pytest.fixture
async def runtime(settings: Settings) -> AsyncIterator[Runtime]:
    built = build_runtime(settings, Database.from_url(settings.database_url))
    yield built
    await built.close()


@pytest.fixture
def app(runtime: Runtime) -> Starlette:
    return build_app(runtime.settings, runtime)


@pytest.fixture
async def http(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
    async with httpx.AsyncClient(transport=transport, base_url=ORIGIN) as client:
        yield client


@pytest.fixture
def gql(http: httpx.AsyncClient) -> GraphQLClient:
    return GraphQLClient(http)


@pytest.fixture(scope="session")
def demo() -> dict[str, Any]:
    return DEMO
