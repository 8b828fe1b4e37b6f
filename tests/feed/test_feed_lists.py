"""myFeed and searchPosts: newest first, paged, within the patients the reader may read.

dr.suzuki is on the team of every demo patient of 蒲郡市; family.ito on pt-ito-haru's only.
"""

from __future__ import annotations

from typing import Any

from sqlmodel import col, select

from renraku.feed.models import Post
from renraku.ids import decode_id, encode_id
from renraku.runtime import Runtime
from renraku.teams.models import TeamMembership
from tests.audit.support import last_id as last_audit_record
from tests.audit.support import records_after
from tests.feed.post_support import (
    Clients,
    clients,
    create_post,
    feed_snapshot,
    only_error,
    patient_gid,
    post_pk,
)
from tests.support.graphql import GraphQLClient
from tests.teams.helpers import user_pk

__all__ = ["clients"]

FEED = """query($first: Int, $after: String, $urgentOnly: Boolean) {
  myFeed(first: $first, after: $after, urgentOnly: $urgentOnly) {
    edges { cursor node { id patientId urgent visibleToFamily retractedAt body } }
    pageInfo { hasNextPage endCursor }
  }
}"""
SEARCH = """query($q: String!, $patient: ID, $first: Int, $after: String) {
  searchPosts(query: $q, patientId: $patient, first: $first, after: $after) {
    edges { node { id body patientId } }
    pageInfo { hasNextPage endCursor }
  }
}"""


async def _all(client: GraphQLClient, document: str, root: str, **variables: Any) -> list[Any]:
    """Every node of a connection, following the pages."""
    nodes: list[Any] = []
    after = None
    while True:
        result = await client.execute(document, {**variables, "first": 7, "after": after})
        assert "errors" not in result, result
        page = result["data"][root]
        nodes += [e["node"] for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            return nodes
        after = page["pageInfo"]["endCursor"]


async def _readable_posts(runtime: Runtime, username: str, *, family: bool) -> list[int]:
    """The ids of the posts the user's care teams show them, newest first, read straight."""
    user = await user_pk(runtime, username)
    async with runtime.db.session() as session:
        patients = select(TeamMembership.patient_id).where(col(TeamMembership.user_id) == user)
        query = select(Post.id).where(col(Post.patient_id).in_(patients))
        if family:
            query = query.where(col(Post.visible_to_family).is_(True))
        rows = await session.exec(query.order_by(col(Post.id).desc()))
        return [pid for pid in rows.all() if pid is not None]


async def test_my_feed_pages_newest_first_across_all_my_patients(
    clients: Clients, runtime: Runtime
) -> None:
    nurse = await clients("nurse.takahashi")
    older = await create_post(nurse, await patient_gid(runtime, "pt-okamoto-fumi"), "一件目")
    newer = await create_post(nurse, await patient_gid(runtime, "pt-hattori-kiyo"), "二件目")
    doctor = await clients("dr.suzuki")
    nodes = await _all(doctor, FEED, "myFeed")
    ids = [post_pk(n["id"]) for n in nodes]
    assert ids[:2] == [post_pk(newer["id"]), post_pk(older["id"])]
    assert ids == await _readable_posts(runtime, "dr.suzuki", family=False)
    assert len(set(ids)) == len(ids)


async def test_family_feed_holds_only_posts_shared_with_family(
    clients: Clients, runtime: Runtime
) -> None:
    pid = await patient_gid(runtime, "pt-ito-haru")
    nurse = await clients("nurse.sato")
    hidden = await create_post(nurse, pid, "専門職のみ")
    shared = await create_post(nurse, pid, "ご家族にも", visibleToFamily=True)
    family = await clients("family.ito")
    nodes = await _all(family, FEED, "myFeed")
    ids = [n["id"] for n in nodes]
    assert shared["id"] in ids and hidden["id"] not in ids
    assert all(n["visibleToFamily"] for n in nodes)
    assert [post_pk(i) for i in ids] == await _readable_posts(runtime, "family.ito", family=True)


async def test_urgent_only_lists_urgent_posts_that_stand(
    clients: Clients, runtime: Runtime
) -> None:
    pid = await patient_gid(runtime, "pt-ito-haru")
    nurse = await clients("nurse.sato")
    urgent = await create_post(nurse, pid, "至急", urgent=True)
    withdrawn = await create_post(nurse, pid, "至急（誤り）", urgent=True)
    retract = 'mutation($id: ID!) { retractPost(postId: $id, reason: "誤記") { id } }'
    assert "errors" not in await nurse.execute(retract, {"id": withdrawn["id"]})
    await create_post(nurse, pid, "通常")
    doctor = await clients("dr.suzuki")
    nodes = await _all(doctor, FEED, "myFeed", urgentOnly=True)
    assert nodes and all(n["urgent"] and n["retractedAt"] is None for n in nodes)
    ids = [n["id"] for n in nodes]
    assert urgent["id"] in ids and withdrawn["id"] not in ids


async def test_my_feed_is_one_read_record_naming_the_patients_shown(
    clients: Clients, runtime: Runtime
) -> None:
    doctor = await clients("dr.suzuki")
    mark = await last_audit_record(runtime)
    page = (await doctor.execute(FEED, {"first": 20}))["data"]["myFeed"]
    shown = {decode_id("Patient", e["node"]["patientId"]) for e in page["edges"]}
    assert shown
    (record,) = await records_after(runtime, mark, username="dr.suzuki")
    assert record.action == "read" and "feed.list" in record.detail["objects"]
    assert set(record.object_ids) == shown


async def test_those_without_care_teams_get_an_empty_feed(clients: Clients) -> None:
    for username in ("manager.gamagori", "planner.gamagori", "operator"):
        result = await (await clients(username)).execute(FEED, {"first": 100})
        assert result["data"]["myFeed"]["edges"] == [], username


async def test_paging_arguments_are_checked(clients: Clients) -> None:
    doctor = await clients("dr.suzuki")
    for variables, field in (
        ({"first": 101}, "first"),
        ({"first": -1}, "first"),
        ({"after": "not a cursor"}, "after"),
        ({"after": "W10"}, "after"),  # an empty list
        ({"after": "WyJ4Il0"}, "after"),  # ["x"]: not a number
    ):
        assert only_error(await doctor.execute(FEED, variables)) == ("BAD_USER_INPUT", field)


async def test_search_finds_text_within_the_patients_i_read(
    clients: Clients, runtime: Runtime
) -> None:
    ito = await patient_gid(runtime, "pt-ito-haru")
    okada = await patient_gid(runtime, "pt-okada-yoshio")
    nurse = await clients("nurse.sato")
    mine = await create_post(nurse, ito, "右かかとに水疱ができています。")
    shared = await create_post(nurse, ito, "水疱は小さくなりました。", visibleToFamily=True)
    elsewhere = await create_post(await clients("nurse.kimura"), okada, "左足に水疱あり。")
    gone = await create_post(nurse, ito, "水疱を潰しました（誤記）。")
    retract = 'mutation($id: ID!) { retractPost(postId: $id, reason: "誤記") { id } }'
    assert "errors" not in await nurse.execute(retract, {"id": gone["id"]})

    doctor = await clients("dr.suzuki")
    found = [n["id"] for n in await _all(doctor, SEARCH, "searchPosts", q="水疱")]
    assert found == [shared["id"], mine["id"]]
    one = await _all(doctor, SEARCH, "searchPosts", q="水疱", patient=ito)
    assert [n["id"] for n in one] == found
    family = await clients("family.ito")
    theirs = [n["id"] for n in await _all(family, SEARCH, "searchPosts", q="水疱")]
    assert theirs == [shared["id"]]
    kimura = await clients("nurse.kimura")
    assert [n["id"] for n in await _all(kimura, SEARCH, "searchPosts", q="水疱")] == [
        elsewhere["id"]
    ]


async def test_search_wildcards_are_plain_characters(clients: Clients, runtime: Runtime) -> None:
    ito = await patient_gid(runtime, "pt-ito-haru")
    nurse = await clients("nurse.sato")
    percent = await create_post(nurse, ito, "食事摂取 80% 程度。")
    underscore = await create_post(nurse, ito, "記録番号 A_1 を参照。")
    await create_post(nurse, ito, "記録番号 AB1 を参照。")
    backslash = await create_post(nurse, ito, "パス C:\\temp を確認。")
    for term, expected in (
        ("80%", [percent["id"]]),
        ("A_1", [underscore["id"]]),
        ("C:\\t", [backslash["id"]]),
    ):
        found = await _all(nurse, SEARCH, "searchPosts", q=term, patient=ito)
        assert [n["id"] for n in found] == expected, term


async def test_search_input_is_checked(clients: Clients, runtime: Runtime) -> None:
    ito = await patient_gid(runtime, "pt-ito-haru")
    doctor = await clients("dr.suzuki")
    for query in ("", "   ", "あ" * 101, "改行\x00", "\x1b[2J"):
        result = await doctor.execute(SEARCH, {"q": query})
        assert only_error(result) == ("BAD_USER_INPUT", "query"), query
    assert "errors" not in await doctor.execute(SEARCH, {"q": "あ" * 100})
    before = await feed_snapshot(runtime)
    cases = {
        "dr.suzuki": [
            ("not-an-id", "NOT_FOUND"),
            (encode_id("Patient", 2**31 - 1), "NOT_FOUND"),
            (encode_id("Post", 1), "NOT_FOUND"),
            (await patient_gid(runtime, "pt-okada-yoshio"), "NOT_FOUND"),
        ],
        "manager.gamagori": [(ito, "FORBIDDEN")],
        "planner.gamagori": [(ito, "FORBIDDEN")],
        "operator": [(ito, "NOT_FOUND")],
        "nurse.kimura": [(ito, "NOT_FOUND")],
    }
    for username, attempts in cases.items():
        client = await clients(username)
        for patient, code in attempts:
            result = await client.execute(SEARCH, {"q": "訪問", "patient": patient})
            assert only_error(result) == (code, None), (username, patient)
            assert result["data"] is None or result["data"]["searchPosts"] is None
    for username in ("manager.gamagori", "planner.gamagori", "operator"):
        result = await (await clients(username)).execute(SEARCH, {"q": "訪問"})
        assert result["data"]["searchPosts"]["edges"] == [], username
    assert await feed_snapshot(runtime) == before


async def test_break_the_glass_searches_the_opened_patient(
    clients: Clients, runtime: Runtime
) -> None:
    ito = await patient_gid(runtime, "pt-ito-haru")
    post = await create_post(await clients("nurse.sato"), ito, "在宅酸素の設定を変更しました。")
    glass = await clients("nurse.takahashi")
    assert (await _all(glass, SEARCH, "searchPosts", q="在宅酸素の設定")) == []
    opened = await glass.execute(
        'mutation($id: ID!) { breakGlass(patientId: $id, reason: "夜間の急変対応") { id } }',
        {"id": ito},
    )
    assert "errors" not in opened, opened
    found = await _all(glass, SEARCH, "searchPosts", q="在宅酸素の設定")
    assert [n["id"] for n in found] == [post["id"]]
    # Glass is no care team: the patient stays off the clinician's feed.
    assert post["id"] not in [n["id"] for n in await _all(glass, FEED, "myFeed")]
