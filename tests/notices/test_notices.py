"""Notices: each user lists and marks only their own; a notice holds ids and kinds, never text."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select as core_select
from sqlmodel import select

from renraku.audit.models import AuditRecord
from renraku.ids import encode_id
from renraku.notices.actions import DataValue, do_notify
from renraku.notices.models import Notice
from renraku.runtime import Runtime
from renraku.tables import table_of
from tests.support.databases import one_database
from tests.support.graphql import GraphQLClient
from tests.teams.helpers import error, patient_pk, user_pk

LIST = """
query($first: Int, $after: String, $unread: Boolean) {
  myNotices(first: $first, after: $after, unreadOnly: $unread) {
    unreadCount
    edges { cursor node { id kind patientId data readAt patient { displayName } } }
    pageInfo { hasNextPage endCursor }
  }
}
"""
MARK = "mutation($ids: [ID!]!) { markNoticesRead(ids: $ids) }"


@pytest.fixture(autouse=True)
async def _only_these_tests_notices(runtime: Runtime) -> None:
    """These tests count and page through notices they make themselves: the demo world's own
    (its incident's notices to planners and coordinators) are taken away first."""
    async with runtime.db.transaction() as session:
        await (await session.connection()).execute(table_of(Notice).delete())


async def notify(
    runtime: Runtime, username: str, *, count: int = 1, patient: str | None = None
) -> list[str]:
    """Give `username` `count` notices; their GraphQL ids, oldest first."""
    user = await user_pk(runtime, username)
    pid = await patient_pk(runtime, patient) if patient else None
    ids = []
    async with runtime.db.transaction() as session:
        for n in range(count):
            [notice] = await do_notify(
                session,
                user_ids=[user],
                kind="glass_opened",
                patient_id=pid,
                data={"user_id": user, "glass_access_id": n + 1},
            )
            assert notice.id is not None
            ids.append(encode_id("Notice", notice.id))
    return ids


async def rows(runtime: Runtime) -> dict[str, list[tuple[Any, ...]]]:
    found: dict[str, list[tuple[Any, ...]]] = {}
    async with runtime.db.session() as session:
        for model in (Notice, AuditRecord):
            table = table_of(model)
            query = core_select(table).order_by(*table.primary_key.columns)
            if model is AuditRecord:
                # Read and deny records are written in the background, one per request.
                query = query.where(table.c.action.not_in(("read", "write")))
            result = await (await session.connection()).execute(query)
            found[table.name] = [tuple(r) for r in result.all()]
    return found


async def test_each_user_lists_only_their_own_notices_newest_first(
    gql: GraphQLClient, runtime: Runtime
) -> None:
    mine = await notify(runtime, "cm.tanaka", count=3, patient="pt-ito-haru")
    await notify(runtime, "dr.suzuki")
    coordinator = await gql.login("cm.tanaka")
    first = await coordinator.execute(LIST, {"first": 2})
    page = first["data"]["myNotices"]
    assert page["unreadCount"] == 3
    assert [e["node"]["id"] for e in page["edges"]] == [mine[2], mine[1]]
    assert page["pageInfo"]["hasNextPage"] is True
    rest = await coordinator.execute(LIST, {"first": 2, "after": page["pageInfo"]["endCursor"]})
    assert [e["node"]["id"] for e in rest["data"]["myNotices"]["edges"]] == [mine[0]]
    assert rest["data"]["myNotices"]["pageInfo"]["hasNextPage"] is False
    node = page["edges"][0]["node"]
    assert node["kind"] == "glass_opened" and node["readAt"] is None
    assert node["patient"]["displayName"]  # she coordinates this patient's team
    user = encode_id("User", await user_pk(runtime, "cm.tanaka"))
    assert node["data"] == {"userId": user, "glassAccessId": encode_id("GlassAccess", 3)}
    doctor = await gql.login("dr.suzuki")
    theirs = (await doctor.execute(LIST))["data"]["myNotices"]
    assert theirs["unreadCount"] == 1 and not set(mine) & {e["node"]["id"] for e in theirs["edges"]}


async def test_a_notice_about_a_patient_one_cannot_see_names_it_by_id_only(
    gql: GraphQLClient, runtime: Runtime
) -> None:
    await notify(runtime, "nurse.takahashi", patient="pt-ito-haru")  # not on its team
    nurse = await gql.login("nurse.takahashi")
    result = await nurse.execute(LIST)
    assert "errors" not in result, result
    node = result["data"]["myNotices"]["edges"][0]["node"]
    assert node["patient"] is None
    assert node["patientId"] == encode_id("Patient", await patient_pk(runtime, "pt-ito-haru"))


async def test_marking_read_counts_only_unread_own_notices(
    gql: GraphQLClient, runtime: Runtime
) -> None:
    ids = await notify(runtime, "cm.tanaka", count=3)
    coordinator = await gql.login("cm.tanaka")
    marked = await coordinator.execute(MARK, {"ids": [ids[0], ids[1], ids[0]]})
    assert marked == {"data": {"markNoticesRead": 2}}
    again = await coordinator.execute(MARK, {"ids": ids})
    assert again == {"data": {"markNoticesRead": 1}}
    assert (await coordinator.execute(MARK, {"ids": []})) == {"data": {"markNoticesRead": 0}}
    listed = (await coordinator.execute(LIST, {"unread": True}))["data"]["myNotices"]
    assert listed["edges"] == [] and listed["unreadCount"] == 0
    everything = (await coordinator.execute(LIST))["data"]["myNotices"]["edges"]
    assert all(e["node"]["readAt"] for e in everything) and len(everything) == 3
    async with runtime.db.session() as session:
        audited = (
            await session.exec(
                select(AuditRecord).where(AuditRecord.action == "notices.marked_read")
            )
        ).all()
    assert [len(r.object_ids) for r in audited] == [2, 1]


async def test_someone_elses_notice_is_not_found_and_nothing_is_marked(
    gql: GraphQLClient, runtime: Runtime
) -> None:
    hers = await notify(runtime, "cm.tanaka")
    his = await notify(runtime, "dr.suzuki")
    doctor = await gql.login("dr.suzuki")
    before = await rows(runtime)
    for ids in (hers, [his[0], hers[0]]):
        result = await doctor.execute(MARK, {"ids": ids})
        assert error(result) == ("NOT_FOUND", None)
    assert await rows(runtime) == before
    coordinator = await gql.login("cm.tanaka")
    assert (await coordinator.execute(LIST))["data"]["myNotices"]["unreadCount"] == 1


@pytest.mark.parametrize(
    ("ids", "expected"),
    [
        (["%%%"], ("NOT_FOUND", None)),
        (["UGF0aWVudDox"], ("NOT_FOUND", None)),  # Patient:1
        ([encode_id("Notice", 999_999)], ("NOT_FOUND", None)),
        (["x" * 10_000], ("NOT_FOUND", None)),
        ([encode_id("Notice", n) for n in range(1, 102)], ("BAD_USER_INPUT", "ids")),
    ],
)
async def test_bad_notice_ids_change_nothing(
    gql: GraphQLClient, runtime: Runtime, ids: list[str], expected: tuple[str, str | None]
) -> None:
    await notify(runtime, "cm.tanaka")
    coordinator = await gql.login("cm.tanaka")
    before = await rows(runtime)
    assert error(await coordinator.execute(MARK, {"ids": ids})) == expected
    assert await rows(runtime) == before


@pytest.mark.parametrize(
    "variables", [{"first": -1}, {"first": 101}, {"after": "not-a-cursor"}, {"after": "W10"}]
)
async def test_bad_paging_is_bad_input(gql: GraphQLClient, variables: dict[str, Any]) -> None:
    coordinator = await gql.login("cm.tanaka")
    assert error(await coordinator.execute(LIST, variables))[0] == "BAD_USER_INPUT"


@one_database
async def test_signed_out_callers_get_no_notices(gql: GraphQLClient) -> None:
    assert error(await gql.execute(LIST)) == ("UNAUTHENTICATED", None)
    assert error(await gql.execute(MARK, {"ids": []})) == ("UNAUTHENTICATED", None)


@pytest.mark.parametrize(
    ("kind", "data"),
    [
        ("glass_opened", {"note": "伊藤 ハル was seen"}),  # free text
        ("glass_opened", {"name": "ItoHaru"}),  # not a kind word
        ("glass_opened", {"ward_id": 3}),  # an id of no known kind
        ("glass_opened", {"user_id": "7"}),  # an id that is not one
        ("glass_opened", {"urgent": True}),
        ("glass_opened", {"Patient Name": 1}),
        ("Glass opened!", {}),
    ],
)
async def test_notices_refuse_anything_but_ids_and_kinds(
    runtime: Runtime, kind: str, data: dict[str, DataValue]
) -> None:
    before = await rows(runtime)
    user = await user_pk(runtime, "cm.tanaka")
    with pytest.raises(ValueError, match="notice"):
        async with runtime.db.transaction() as session:
            await do_notify(session, user_ids=[user], kind=kind, patient_id=None, data=data)
    assert await rows(runtime) == before
