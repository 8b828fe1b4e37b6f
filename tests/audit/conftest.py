"""The audit tests' own database handle (beside the shared fixtures of tests/conftest.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from renraku.db import Database


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    opened = Database.from_url(database_url)
    yield opened
    await opened.dispose()
