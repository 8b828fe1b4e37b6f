"""For the account tests: apps with chosen settings, clients at chosen addresses, row counts."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy import func
from sqlmodel import SQLModel, select
from starlette.applications import Starlette

from renraku.accounts.models import AuthSession, OneTimeLink, User
from renraku.accounts.secrets import token_hash
from renraku.app import build_app
from renraku.audit.models import AuditRecord
from renraku.db import Database
from renraku.ids import encode_id
from renraku.runtime import Runtime, build_runtime
from renraku.throttle import MemoryFailureStore
from tests.conftest import ORIGIN, make_settings
from tests.support.graphql import DEMO_PASSWORD

ME = "{ me { username hasSecondFactor } }"


@dataclass
class Served:
    runtime: Runtime
    app: Starlette
    client: httpx.AsyncClient

    def client_at(self, address: str) -> httpx.AsyncClient:
        """Another client of the same server, seen from another address."""
        transport = httpx.ASGITransport(app=self.app, client=(address, 50000))
        return httpx.AsyncClient(transport=transport, base_url=str(self.client.base_url))


@asynccontextmanager
async def serve(
    database_url: str, *, base_url: str = ORIGIN, **overrides: Any
) -> AsyncIterator[Served]:
    """The app over `database_url` with settings overridden, and a client at 127.0.0.1."""
    settings = make_settings(database_url, public_origin=base_url, **overrides)
    runtime = build_runtime(settings, Database.from_url(database_url))
    app = build_app(settings, runtime)
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
    try:
        async with httpx.AsyncClient(transport=transport, base_url=base_url) as client:
            yield Served(runtime=runtime, app=app, client=client)
    finally:
        await runtime.close()


async def count(db: Database, table: type[SQLModel], *where: Any) -> int:
    async with db.session() as session:
        query = select(func.count()).select_from(table)
        for condition in where:
            query = query.where(condition)
        return int((await session.exec(query)).one())


async def snapshot(db: Database) -> tuple[int, int, int, int]:
    """Counts that any stored change would move: sessions, links, audit records, users."""
    return (
        await count(db, AuthSession),
        await count(db, OneTimeLink),
        await count(db, AuditRecord),
        await count(db, User),
    )


async def user_row(db: Database, username: str) -> User:
    async with db.session() as session:
        return (await session.exec(select(User).where(User.username == username))).one()


async def user_gid(db: Database, username: str) -> str:
    user = await user_row(db, username)
    assert user.id is not None
    return encode_id("User", user.id)


async def session_row(db: Database, token: str) -> AuthSession:
    async with db.session() as session:
        query = select(AuthSession).where(AuthSession.token_hash == token_hash(token))
        return (await session.exec(query)).one()


def age_failures(runtime: Runtime, seconds: float) -> None:
    """Move every recorded sign-in failure `seconds` into the past (instead of sleeping)."""
    store = runtime.throttle.store
    assert isinstance(store, MemoryFailureStore)
    data = store._data
    for key, (failures, last, expires) in list(data.items()):
        data[key] = (failures, last - seconds, expires)


async def cookie_login(
    client: httpx.AsyncClient,
    username: str,
    password: str = DEMO_PASSWORD,
    *,
    otp: str | None = None,
    origin: str | None = None,
) -> httpx.Response:
    body: dict[str, Any] = {"username": username, "password": password}
    if otp is not None:
        body["otp"] = otp
    return await client.post(
        "/auth/login", json=body, headers={"Origin": origin or str(client.base_url).rstrip("/")}
    )
