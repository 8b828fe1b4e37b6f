"""Read receipts, acknowledgements of instructions, overdue instructions and unread counts.

pt-ito-haru's team (seed/demo.toml): dr.suzuki, nurse.sato, cm.tanaka (coordinator), pharm.kato,
helper.kobayashi, and family.ito.
"""

from __future__ import annotations

from typing import Any

from sqlmodel import col, select

from renraku.feed.models import Post, PostAcknowledgement, PostRead
from renraku.feed.receipts import MAX_MARKED
from renraku.ids import encode_id
from renraku.runtime import Runtime
from tests.feed.post_support import (
    Clients,
    age_post,
    audits_of,
    clients,
    create_post,
    events_of,
    feed_snapshot,
    last_event_id,
    only_error,
    patient_gid,
    post_pk,
)
from tests.support.graphql import GraphQLClient
from tests.teams.helpers import last_audit_id, user_pk

__all__ = ["clients"]

MARK = "mutation($ids: [ID!]!) { markPostsRead(postIds: $ids) }"
MARK_PATIENT = "mutation($id: ID!) { markPatientRead(patientId: $id) }"
ACK = """mutation($id: ID!) {
  acknowledgePost(postId: $id) { id acknowledgedBy { user { username } } }
}"""
RECEIPTS = """query($id: ID!) {
  post(id: $id) {
    id overdue
    readBy { user { username } at }
    acknowledgedBy { user { username } at }
    awaitingAcknowledgement { username }
  }
}"""
UNREAD = "query($id: ID!) { patient(id: $id) { id unreadCount urgentUnreadCount } }"
SUMMARY = """{ unreadCounts { total urgent patients { unread urgentUnread patient { id } } } }"""
OVERDUE = "{ myOverdueInstructions { id body } }"
ITO_PROFESSIONALS = ["dr.suzuki", "nurse.sato", "cm.tanaka", "pharm.kato", "helper.kobayashi"]


async def _ito(runtime: Runtime) -> str:
    return await patient_gid(runtime, "pt-ito-haru")


async def _refused(
    runtime: Runtime, client: GraphQLClient, document: str, variables: dict[str, Any]
) -> tuple[str, str | None]:
    before = await feed_snapshot(runtime)
    result = await client.execute(document, variables)
    assert not any((result.get("data") or {}).values()), result
    assert await feed_snapshot(runtime) == before
    return only_error(result)


async def _readers(runtime: Runtime, post_gid: str) -> list[int]:
    async with runtime.db.session() as session:
        rows = await session.exec(
            select(PostRead.user_id).where(col(PostRead.post_id) == post_pk(post_gid))
        )
        return sorted(rows.all())


async def test_marking_read_writes_one_receipt_and_one_event_per_new_read(
    clients: Clients, runtime: Runtime
) -> None:
    nurse = await clients("nurse.sato")
    post = await create_post(nurse, await _ito(runtime), "褥瘡の処置をしました。")
    doctor = await clients("dr.suzuki")
    events_before = await last_event_id(runtime)
    audit_before = await last_audit_id(runtime)

    first = await doctor.execute(MARK, {"ids": [post["id"], post["id"]]})
    assert first == {"data": {"markPostsRead": 1}}
    assert (await doctor.execute(MARK, {"ids": [post["id"]]}))["data"]["markPostsRead"] == 0
    # The author has read their own post from the start, without a receipt.
    assert (await nurse.execute(MARK, {"ids": [post["id"]]}))["data"]["markPostsRead"] == 0
    assert await _readers(runtime, post["id"]) == [await user_pk(runtime, "dr.suzuki")]

    (event,) = await events_of(runtime, after=events_before)
    doctor_pk = await user_pk(runtime, "dr.suzuki")
    assert (event.kind, event.post_id, event.subject_user_id, event.audience) == (
        "feed.post_read",
        post_pk(post["id"]),
        doctor_pk,
        "professionals",
    )
    (record,) = await audits_of(runtime, after=audit_before, action="feed.posts_read")
    assert record.actor_id == doctor_pk and record.detail == {"post_ids": [post_pk(post["id"])]}

    seen = (await nurse.execute(RECEIPTS, {"id": post["id"]}))["data"]["post"]
    assert [r["user"]["username"] for r in seen["readBy"]] == ["dr.suzuki"]


async def test_one_unreadable_id_marks_nothing(clients: Clients, runtime: Runtime) -> None:
    pid = await _ito(runtime)
    nurse = await clients("nurse.sato")
    shared = await create_post(nurse, pid, "共有", visibleToFamily=True)
    private = await create_post(nurse, pid, "専門職のみ")
    other = await create_post(
        await clients("nurse.kimura"), await patient_gid(runtime, "pt-okada-yoshio"), "西尾の記録"
    )
    family = await clients("family.ito")
    doctor = await clients("dr.suzuki")
    cases = [
        (family, [shared["id"], private["id"]], ("NOT_FOUND", None)),
        (doctor, [shared["id"], other["id"]], ("NOT_FOUND", None)),
        (doctor, [shared["id"], "bm90LWFuLWlk"], ("NOT_FOUND", None)),
        (doctor, [shared["id"], encode_id("Post", 2**31 - 1)], ("NOT_FOUND", None)),
        (doctor, [shared["id"], pid], ("NOT_FOUND", None)),
        (doctor, [shared["id"]] * (MAX_MARKED + 1), ("BAD_USER_INPUT", "postIds")),
        # They see the patient, never its notebook: its posts do not exist for them.
        (await clients("manager.gamagori"), [shared["id"]], ("NOT_FOUND", None)),
        (await clients("planner.gamagori"), [shared["id"]], ("NOT_FOUND", None)),
        (await clients("operator"), [shared["id"]], ("NOT_FOUND", None)),
        (await clients("nurse.takahashi"), [shared["id"]], ("NOT_FOUND", None)),
    ]
    for client, ids, expected in cases:
        assert await _refused(runtime, client, MARK, {"ids": ids}) == expected, ids
    many = [encode_id("Post", n) for n in range(1, MAX_MARKED + 2)]
    assert await _refused(runtime, doctor, MARK, {"ids": many}) == ("BAD_USER_INPUT", "postIds")
    assert (await doctor.execute(MARK, {"ids": []}))["data"]["markPostsRead"] == 0


async def test_break_the_glass_reads_receipts_but_marks_nothing(
    clients: Clients, runtime: Runtime
) -> None:
    pid = await _ito(runtime)
    post = await create_post(await clients("nurse.sato"), pid, "記録")
    glass = await clients("nurse.takahashi")
    opened = await glass.execute(
        'mutation($id: ID!) { breakGlass(patientId: $id, reason: "夜間の急変対応") { id } }',
        {"id": pid},
    )
    assert "errors" not in opened, opened
    assert "errors" not in await glass.execute(RECEIPTS, {"id": post["id"]})
    assert await _refused(runtime, glass, MARK, {"ids": [post["id"]]}) == ("FORBIDDEN", None)
    assert await _refused(runtime, glass, MARK_PATIENT, {"id": pid}) == ("FORBIDDEN", None)


async def test_marking_a_patient_read_clears_its_unread_count(
    clients: Clients, runtime: Runtime
) -> None:
    pid = await _ito(runtime)
    nurse = await clients("nurse.sato")
    await create_post(nurse, pid, "一件目")
    await create_post(nurse, pid, "至急", urgent=True)
    await create_post(nurse, pid, "共有", visibleToFamily=True, urgent=True)
    doctor = await clients("dr.suzuki")
    counts = (await doctor.execute(UNREAD, {"id": pid}))["data"]["patient"]
    assert counts["unreadCount"] >= 3 and counts["urgentUnreadCount"] >= 2
    marked = await doctor.execute(MARK_PATIENT, {"id": pid})
    assert marked["data"]["markPatientRead"] == counts["unreadCount"]
    after = (await doctor.execute(UNREAD, {"id": pid}))["data"]["patient"]
    assert (after["unreadCount"], after["urgentUnreadCount"]) == (0, 0)
    assert (await doctor.execute(MARK_PATIENT, {"id": pid}))["data"]["markPatientRead"] == 0

    # Family count and mark only what is shared with them.
    family = await clients("family.ito")
    theirs = (await family.execute(UNREAD, {"id": pid}))["data"]["patient"]
    marked = (await family.execute(MARK_PATIENT, {"id": pid}))["data"]["markPatientRead"]
    assert marked == theirs["unreadCount"] >= 1
    async with runtime.db.session() as session:
        rows = await session.exec(
            select(Post.visible_to_family)
            .join(PostRead, col(PostRead.post_id) == col(Post.id))
            .where(col(PostRead.user_id) == await user_pk(runtime, "family.ito"))
        )
        assert set(rows.all()) == {True}


async def test_mark_patient_read_is_refused_like_the_timeline(
    clients: Clients, runtime: Runtime
) -> None:
    pid = await _ito(runtime)
    for username, code in {
        "manager.gamagori": "FORBIDDEN",
        "planner.gamagori": "FORBIDDEN",
        "operator": "NOT_FOUND",
        "nurse.takahashi": "NOT_FOUND",
        "nurse.kimura": "NOT_FOUND",
    }.items():
        client = await clients(username)
        assert (await _refused(runtime, client, MARK_PATIENT, {"id": pid}))[0] == code, username
    doctor = await clients("dr.suzuki")
    for bad in ("not-an-id", encode_id("Post", 1), encode_id("Patient", 2**31 - 1)):
        assert await _refused(runtime, doctor, MARK_PATIENT, {"id": bad}) == ("NOT_FOUND", None)


async def test_professionals_acknowledge_an_instruction_once_and_it_counts_as_read(
    clients: Clients, runtime: Runtime
) -> None:
    doctor = await clients("dr.suzuki")
    post = await create_post(
        doctor, await _ito(runtime), "夕食後の血糖を測定してください。", category="INSTRUCTION"
    )
    receipts = (await doctor.execute(RECEIPTS, {"id": post["id"]}))["data"]["post"]
    awaiting = [u["username"] for u in receipts["awaitingAcknowledgement"]]
    assert sorted(awaiting) == sorted(u for u in ITO_PROFESSIONALS if u != "dr.suzuki")
    assert receipts["acknowledgedBy"] == [] and receipts["overdue"] is False

    nurse = await clients("nurse.sato")
    events_before = await last_event_id(runtime)
    audit_before = await last_audit_id(runtime)
    done = await nurse.execute(ACK, {"id": post["id"]})
    assert done["data"]["acknowledgePost"]["acknowledgedBy"] == [
        {"user": {"username": "nurse.sato"}}
    ]
    again = await nurse.execute(ACK, {"id": post["id"]})
    assert "errors" not in again, again
    kinds = [e.kind for e in await events_of(runtime, after=events_before)]
    assert kinds == ["feed.post_read", "feed.post_acknowledged"]
    assert len(await audits_of(runtime, after=audit_before, action="feed.post_acknowledged")) == 1
    async with runtime.db.session() as session:
        acks = await session.exec(
            select(PostAcknowledgement).where(
                col(PostAcknowledgement.post_id) == post_pk(post["id"])
            )
        )
        assert len(acks.all()) == 1
    assert await _readers(runtime, post["id"]) == [await user_pk(runtime, "nurse.sato")]
    left = (await doctor.execute(RECEIPTS, {"id": post["id"]}))["data"]["post"]
    assert "nurse.sato" not in [u["username"] for u in left["awaitingAcknowledgement"]]


async def test_acknowledging_is_for_instructions_by_other_professionals_only(
    clients: Clients, runtime: Runtime
) -> None:
    pid = await _ito(runtime)
    doctor = await clients("dr.suzuki")
    instruction = await create_post(doctor, pid, "服薬確認をお願いします。", category="INSTRUCTION")
    shared = await create_post(
        doctor, pid, "ご家族も確認を。", category="INSTRUCTION", visibleToFamily=True
    )
    report = await create_post(doctor, pid, "往診しました。")
    nurse = await clients("nurse.sato")
    cases = [
        (nurse, report["id"], ("BAD_USER_INPUT", "postId")),
        (doctor, instruction["id"], ("BAD_USER_INPUT", "postId")),
        (nurse, "not-an-id", ("NOT_FOUND", None)),
        (await clients("family.ito"), instruction["id"], ("NOT_FOUND", None)),
        (await clients("family.ito"), shared["id"], ("FORBIDDEN", None)),
        (await clients("manager.gamagori"), instruction["id"], ("NOT_FOUND", None)),
        (await clients("planner.gamagori"), instruction["id"], ("NOT_FOUND", None)),
        (await clients("operator"), instruction["id"], ("NOT_FOUND", None)),
        (await clients("nurse.kimura"), instruction["id"], ("NOT_FOUND", None)),
    ]
    for client, post_id, expected in cases:
        assert await _refused(runtime, client, ACK, {"id": post_id}) == expected, post_id
    retract = 'mutation($id: ID!) { retractPost(postId: $id, reason: "取り消し") { id } }'
    assert "errors" not in await doctor.execute(retract, {"id": instruction["id"]})
    refused = await _refused(runtime, nurse, ACK, {"id": instruction["id"]})
    assert refused == ("BAD_USER_INPUT", "postId")


async def test_family_see_posts_but_not_their_receipts(clients: Clients, runtime: Runtime) -> None:
    doctor = await clients("dr.suzuki")
    post = await create_post(
        doctor, await _ito(runtime), "ご家族へ。", category="INSTRUCTION", visibleToFamily=True
    )
    await age_post(runtime, post["id"], hours=48)
    family = await clients("family.ito")
    result = await family.execute(RECEIPTS, {"id": post["id"]})
    read = result["data"]["post"]
    assert read["id"] == post["id"] and read["overdue"] is False
    assert read["readBy"] is None and read["acknowledgedBy"] is None
    assert read["awaitingAcknowledgement"] is None
    paths = sorted(tuple(e["path"]) for e in result["errors"])
    assert paths == [
        ("post", "acknowledgedBy"),
        ("post", "awaitingAcknowledgement"),
        ("post", "readBy"),
    ]
    assert {e["extensions"]["code"] for e in result["errors"]} == {"FORBIDDEN"}
    # The doctor sees the same post overdue.
    assert (await doctor.execute(RECEIPTS, {"id": post["id"]}))["data"]["post"]["overdue"] is True


async def test_an_instruction_nobody_confirmed_in_time_is_overdue_for_its_author(
    clients: Clients, runtime: Runtime
) -> None:
    pid = await _ito(runtime)
    doctor = await clients("dr.suzuki")
    fresh = await create_post(doctor, pid, "新しい指示", category="INSTRUCTION")
    old = await create_post(doctor, pid, "古い指示", category="INSTRUCTION")
    await age_post(runtime, old["id"], hours=runtime.settings.instruction_overdue_hours + 1)
    listed = (await doctor.execute(OVERDUE))["data"]["myOverdueInstructions"]
    assert [p["id"] for p in listed] == [old["id"]]
    assert (await doctor.execute(RECEIPTS, {"id": fresh["id"]}))["data"]["post"]["overdue"] is False
    # Someone else's overdue instruction is not on my list.
    nurse = await clients("nurse.sato")
    assert old["id"] not in [
        p["id"] for p in (await nurse.execute(OVERDUE))["data"]["myOverdueInstructions"]
    ]
    for username in ITO_PROFESSIONALS:
        if username != "dr.suzuki":
            assert "errors" not in await (await clients(username)).execute(ACK, {"id": old["id"]})
    assert (await doctor.execute(OVERDUE))["data"]["myOverdueInstructions"] == []
    assert (await doctor.execute(RECEIPTS, {"id": old["id"]}))["data"]["post"]["overdue"] is False


async def test_unread_counts_add_up_and_skip_own_and_retracted_posts(
    clients: Clients, runtime: Runtime
) -> None:
    pid = await _ito(runtime)
    doctor = await clients("dr.suzuki")
    nurse = await clients("nurse.sato")
    before = (await doctor.execute(UNREAD, {"id": pid}))["data"]["patient"]
    await create_post(nurse, pid, "通常の記録")
    urgent = await create_post(nurse, pid, "至急の記録", urgent=True)
    await create_post(doctor, pid, "自分の記録", urgent=True)
    retracted = await create_post(nurse, pid, "取り消す記録", urgent=True)
    retract = 'mutation($id: ID!) { retractPost(postId: $id, reason: "誤記") { id } }'
    assert "errors" not in await nurse.execute(retract, {"id": retracted["id"]})
    after = (await doctor.execute(UNREAD, {"id": pid}))["data"]["patient"]
    assert after["unreadCount"] == before["unreadCount"] + 2
    assert after["urgentUnreadCount"] == before["urgentUnreadCount"] + 1

    summary = (await doctor.execute(SUMMARY))["data"]["unreadCounts"]
    per_patient = {p["patient"]["id"]: p for p in summary["patients"]}
    assert per_patient[pid]["unread"] == after["unreadCount"]
    assert summary["total"] == sum(p["unread"] for p in summary["patients"])
    assert summary["urgent"] == sum(p["urgentUnread"] for p in summary["patients"])
    for patient, counts in per_patient.items():
        one = (await doctor.execute(UNREAD, {"id": patient}))["data"]["patient"]
        assert (one["unreadCount"], one["urgentUnreadCount"]) == (
            counts["unread"],
            counts["urgentUnread"],
        )
    await doctor.execute(MARK, {"ids": [urgent["id"]]})
    marked = (await doctor.execute(UNREAD, {"id": pid}))["data"]["patient"]
    assert marked["urgentUnreadCount"] == after["urgentUnreadCount"] - 1


async def test_family_count_only_what_is_shared_with_them(
    clients: Clients, runtime: Runtime
) -> None:
    pid = await _ito(runtime)
    family = await clients("family.ito")
    before = (await family.execute(SUMMARY))["data"]["unreadCounts"]["total"]
    nurse = await clients("nurse.sato")
    await create_post(nurse, pid, "専門職のみ", urgent=True)
    await create_post(nurse, pid, "ご家族にも", visibleToFamily=True)
    summary = (await family.execute(SUMMARY))["data"]["unreadCounts"]
    assert summary["total"] == before + 1
    assert [p["patient"]["id"] for p in summary["patients"]] == [pid]


async def test_unread_counts_are_forbidden_like_the_timeline(
    clients: Clients, runtime: Runtime
) -> None:
    pid = await _ito(runtime)
    for username in ("manager.gamagori", "planner.gamagori"):
        client = await clients(username)
        result = await client.execute(UNREAD, {"id": pid})
        assert result["data"]["patient"] == {
            "id": pid,
            "unreadCount": None,
            "urgentUnreadCount": None,
        }
        assert {e["extensions"]["code"] for e in result["errors"]} == {"FORBIDDEN"}
        summary = (await client.execute(SUMMARY))["data"]["unreadCounts"]
        assert summary == {"total": 0, "urgent": 0, "patients": []}
    operator = await clients("operator")
    assert only_error(await operator.execute(UNREAD, {"id": pid})) == ("NOT_FOUND", None)
