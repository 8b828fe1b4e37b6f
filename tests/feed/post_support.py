"""Shared by the notebook tests: signing in quickly, writing posts, poking times, reading the
feed's rows back, and a snapshot of every feed row to show that a refused call stored nothing."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select as core_select
from sqlalchemy import update
from sqlmodel import col, select

from renraku.audit.models import AuditRecord
from renraku.feed.models import (
    FeedEvent,
    Post,
    PostAcknowledgement,
    PostMention,
    PostRead,
    PostRevision,
)
from renraku.ids import decode_id, encode_id
from renraku.notices.models import Notice
from renraku.runtime import Runtime
from renraku.tables import table_of
from renraku.timeutil import utcnow
from tests.access.matrix_support import sign_in
from tests.support.graphql import GraphQLClient
from tests.teams.helpers import READ_AUDIT_ACTIONS, patient_pk

FEED_MODELS = (
    Post,
    PostRevision,
    PostRead,
    PostAcknowledgement,
    PostMention,
    FeedEvent,
    Notice,
    AuditRecord,
)

POST_FIELDS = """
  id clientId category body urgent visibleToFamily revision editedAt retractedAt retractReason
  escalatedAt vitals { temperature systolic diastolic pulse spo2 flagged }
"""
CREATE = f"""
mutation($input: CreatePostInput!) {{ createPost(input: $input) {{ {POST_FIELDS} }} }}
"""
READ_POST = f"query($id: ID!) {{ post(id: $id) {{ {POST_FIELDS} }} }}"


class Clients:
    """Signed-in clients by username, made on first use (sessions opened directly: fast)."""

    def __init__(self, runtime: Runtime, http: httpx.AsyncClient) -> None:
        self.runtime = runtime
        self.http = http
        self._made: dict[str, GraphQLClient] = {}

    async def __call__(self, username: str) -> GraphQLClient:
        if username not in self._made:
            self._made[username] = await sign_in(self.runtime, self.http, username)
        return self._made[username]


@pytest.fixture
def clients(runtime: Runtime, gql: GraphQLClient) -> Clients:
    return Clients(runtime, gql.http)


async def patient_gid(runtime: Runtime, key: str) -> str:
    return encode_id("Patient", await patient_pk(runtime, key))


_made = 0


async def create_post(
    client: GraphQLClient, patient: str, body: str = "訪問しました。", **fields: Any
) -> dict[str, Any]:
    """A new post by the client on the patient (GraphQL id); fails the test if refused."""
    global _made
    _made += 1
    post = {
        "patientId": patient,
        "clientId": f"t-{_made}-{id(client)}",
        "category": "VISIT_REPORT",
        "body": body,
        **fields,
    }
    result = await client.execute(CREATE, {"input": post})
    assert "errors" not in result, result
    created: dict[str, Any] = result["data"]["createPost"]
    return created


def post_pk(global_id: str) -> int:
    return decode_id("Post", global_id)


async def age_post(runtime: Runtime, post_gid: str, *, hours: float) -> None:
    """Move the post's creation `hours` into the past (the clock is not waited for)."""
    async with runtime.db.transaction() as session:
        await session.exec(
            update(Post)
            .where(col(Post.id) == post_pk(post_gid))
            .values(created_at=utcnow() - timedelta(hours=hours))
        )


async def feed_snapshot(runtime: Runtime) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the feed's tables, notices and the audit log of changes."""
    rows: dict[str, list[tuple[Any, ...]]] = {}
    async with runtime.db.session() as session:
        for model in FEED_MODELS:
            table = table_of(model)
            query = core_select(table).order_by(*table.primary_key.columns)
            if model is AuditRecord:
                query = query.where(table.c.action.not_in(READ_AUDIT_ACTIONS))
            result = await (await session.connection()).execute(query)
            rows[table.name] = [tuple(r) for r in result.all()]
    return rows


async def events_of(
    runtime: Runtime, *, after: int = 0, kind: str | None = None
) -> list[FeedEvent]:
    async with runtime.db.session() as session:
        query = select(FeedEvent).where(col(FeedEvent.id) > after)
        if kind is not None:
            query = query.where(col(FeedEvent.kind) == kind)
        return list((await session.exec(query.order_by(col(FeedEvent.id)))).all())


async def last_event_id(runtime: Runtime) -> int:
    found = await events_of(runtime)
    return found[-1].id or 0 if found else 0


async def audits_of(runtime: Runtime, *, after: int, action: str) -> list[AuditRecord]:
    async with runtime.db.session() as session:
        rows = await session.exec(
            select(AuditRecord)
            .where(col(AuditRecord.id) > after, col(AuditRecord.action) == action)
            .order_by(col(AuditRecord.id))
        )
        return list(rows.all())


def only_error(result: dict[str, Any]) -> tuple[str, str | None]:
    """The one error's code and field."""
    errors = result.get("errors") or []
    assert len(errors) == 1, result
    extensions = errors[0].get("extensions", {})
    return extensions.get("code"), extensions.get("field")
