"""createPost and Patient.timeline: the first post of a visit, retried, read back by the team."""

from __future__ import annotations

from typing import Any

import pytest
from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from renraku.audit.models import AuditRecord
from renraku.feed import service
from renraku.feed.models import FeedEvent, Post
from renraku.ids import decode_id, encode_id
from renraku.runtime import Runtime
from tests.support.concurrent import side_by_side
from tests.support.graphql import GraphQLClient, error_codes
from tests.teams.helpers import patient_pk

CREATE = """
mutation($input: CreatePostInput!) {
  createPost(input: $input) {
    id clientId category body urgent visibleToFamily
    vitals { temperature systolic diastolic spo2 flagged }
  }
}
"""
TIMELINE = """
query($id: ID!) {
  patient(id: $id) { timeline(first: 10) { edges { node { id body } } pageInfo { hasNextPage } } }
}
"""


async def test_post_is_stored_once_and_read_by_the_team(
    gql: GraphQLClient, runtime: Runtime
) -> None:
    pid = encode_id("Patient", await patient_pk(runtime, "pt-ito-haru"))
    nurse = await gql.login("nurse.sato")
    post = {
        "patientId": pid,
        "clientId": "visit-0001",
        "category": "VITALS",
        "body": "訪問しました。",
        "vitals": {"temperature": 38.2, "systolic": 150, "diastolic": 85, "spo2": 97},
    }
    first = await nurse.execute(CREATE, {"input": post})
    assert "errors" not in first, first
    created = first["data"]["createPost"]
    assert created["vitals"]["flagged"] == ["systolic", "temperature"]
    again = await nurse.execute(CREATE, {"input": post})
    assert again["data"]["createPost"]["id"] == created["id"]

    doctor = await gql.login("dr.suzuki")
    timeline = await doctor.execute(TIMELINE, {"id": pid})
    # Newest first: the new post opens the timeline, above the demo notebook's posts.
    shown = [e["node"]["id"] for e in timeline["data"]["patient"]["timeline"]["edges"]]
    assert shown[0] == created["id"] and shown.count(created["id"]) == 1
    family = await gql.login("family.ito")
    hidden = await family.execute(TIMELINE, {"id": pid})
    family_sees = [e["node"]["id"] for e in hidden["data"]["patient"]["timeline"]["edges"]]
    assert created["id"] not in family_sees


async def test_manager_sees_patient_but_not_timeline(gql: GraphQLClient, runtime: Runtime) -> None:
    pid = encode_id("Patient", await patient_pk(runtime, "pt-ito-haru"))
    manager = await gql.login("manager.gamagori")
    result = await manager.execute(TIMELINE, {"id": pid})
    assert result["data"]["patient"]["timeline"] is None
    assert error_codes(result) == ["FORBIDDEN"]


async def _stored_once(runtime: Runtime, post_gid: str) -> None:
    """One post row under its client id, with one feed event and one audit record."""
    post_id = decode_id("Post", post_gid)
    async with runtime.db.session() as session:
        post = await session.get(Post, post_id)
        assert post is not None
        same = await session.exec(
            select(func.count())
            .select_from(Post)
            .where(col(Post.author_id) == post.author_id, col(Post.client_id) == post.client_id)
        )
        events = await session.exec(
            select(func.count())
            .select_from(FeedEvent)
            .where(col(FeedEvent.post_id) == post_id, col(FeedEvent.kind) == "feed.post_created")
        )
        audited = await session.exec(
            select(AuditRecord.detail).where(col(AuditRecord.action) == "feed.post_created")
        )
        records = [d for d in audited.all() if d.get("post_id") == post_id]
    assert (same.one(), events.one(), len(records)) == (1, 1, 1)


async def test_concurrent_retries_store_one_post(gql: GraphQLClient, runtime: Runtime) -> None:
    pid = encode_id("Patient", await patient_pk(runtime, "pt-ito-haru"))
    nurse = await gql.login("nurse.sato")
    post = {"patientId": pid, "clientId": "outbox-7", "category": "MEALS", "body": "完食。"}
    answers = await side_by_side(*(nurse.execute(CREATE, {"input": post}) for _ in range(8)))
    assert all("errors" not in a for a in answers), answers
    ids = {a["data"]["createPost"]["id"] for a in answers}
    assert len(ids) == 1
    await _stored_once(runtime, ids.pop())


async def test_a_burst_of_posts_is_stored_whole(gql: GraphQLClient, runtime: Runtime) -> None:
    """More writers at once than the connection pool keeps (SQLite's queue in front of its one
    writer, PostgreSQL's pool overflow): each is stored, none times out."""
    pid = encode_id("Patient", await patient_pk(runtime, "pt-ito-haru"))
    nurse = await gql.login("nurse.sato")
    burst = 60
    answers = await side_by_side(
        *(
            nurse.execute(
                CREATE,
                {
                    "input": {
                        "patientId": pid,
                        "clientId": f"burst-{n}",
                        "category": "OTHER",
                        "body": "記録",
                    }
                },
            )
            for n in range(burst)
        )
    )
    assert all("errors" not in a for a in answers), [a for a in answers if "errors" in a][:1]
    async with runtime.db.session() as session:
        stored = await session.exec(
            select(func.count()).where(col(Post.client_id).startswith("burst-"))
        )
        assert stored.one() == burst


async def test_a_retry_is_answered_by_the_unique_constraint_with_the_stored_post(
    gql: GraphQLClient, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A retry is not looked for before the write: its INSERT fails on the unique (author,
    clientId) constraint, which also settles two retries racing, and it is answered with the
    stored post."""
    pid = encode_id("Patient", await patient_pk(runtime, "pt-ito-haru"))
    nurse = await gql.login("nurse.sato")
    post = {"patientId": pid, "clientId": "outbox-8", "category": "MEALS", "body": "半分。"}
    first = await nurse.execute(CREATE, {"input": post})
    assert "errors" not in first, first
    looks = 0
    real = service.find_by_client_id

    async def counted(session: AsyncSession, **kwargs: Any) -> Post | None:
        nonlocal looks
        looks += 1
        return await real(session, **kwargs)

    monkeypatch.setattr(service, "find_by_client_id", counted)
    again = await nurse.execute(CREATE, {"input": post})
    assert looks == 1, "the retry should have gone through the unique-constraint path"
    assert again["data"]["createPost"]["id"] == first["data"]["createPost"]["id"]
    moved = {
        **post,
        "patientId": encode_id("Patient", await patient_pk(runtime, "pt-kawai-toshio")),
    }
    looks = 0
    refused = await nurse.execute(CREATE, {"input": moved})
    assert error_codes(refused) == ["BAD_USER_INPUT"], refused
    await _stored_once(runtime, first["data"]["createPost"]["id"])


MENTIONING = """
mutation($input: CreatePostInput!) { createPost(input: $input) { id mentions { username } } }
"""
MENTIONS_IN_TIMELINE = """
query($id: ID!) {
  patient(id: $id) { timeline(first: 5) { edges { node { id mentions { username } } } } }
}
"""


async def test_a_post_shows_whom_it_mentions_to_those_who_read_it(
    gql: GraphQLClient, runtime: Runtime
) -> None:
    nurse, doctor = await gql.login("nurse.sato"), await gql.login("dr.suzuki")
    pid = encode_id("Patient", await patient_pk(runtime, "pt-ito-haru"))
    me = (await doctor.execute("{ me { id } }"))["data"]["me"]["id"]
    draft = {
        "patientId": pid,
        "clientId": "mention-1",
        "category": "VISIT_REPORT",
        "body": "先生、ご確認ください",
        "mentionIds": [me],
    }
    created = await nurse.execute(MENTIONING, {"input": draft})
    assert created["data"]["createPost"]["mentions"] == [{"username": "dr.suzuki"}]
    timeline = await doctor.execute(MENTIONS_IN_TIMELINE, {"id": pid})
    edges = timeline["data"]["patient"]["timeline"]["edges"]
    post = next(e["node"] for e in edges if e["node"]["id"] == created["data"]["createPost"]["id"])
    assert post["mentions"] == [{"username": "dr.suzuki"}]
    # Unmentioned posts say so.
    assert all(e["node"]["mentions"] == [] for e in edges if e["node"]["id"] != post["id"])
