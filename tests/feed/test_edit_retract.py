"""editPost and retractPost: history kept, retraction instead of deletion, and who may do either.

pt-ito-haru's team (seed/demo.toml): dr.suzuki, nurse.sato, cm.tanaka (coordinator), pharm.kato,
helper.kobayashi, and family.ito; nurse.takahashi is a nurse of the same town on other teams.
"""

from __future__ import annotations

import json
from typing import Any

from renraku.feed.models import MAX_BODY, MAX_REASON
from renraku.ids import encode_id
from renraku.runtime import Runtime
from tests.feed.post_support import (
    POST_FIELDS,
    Clients,
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
from tests.support.graphql import GraphQLClient, error_codes
from tests.teams.helpers import last_audit_id, user_id

__all__ = ["clients"]

EDIT = f"""
mutation($input: EditPostInput!) {{ editPost(input: $input) {{ {POST_FIELDS} }} }}
"""
RETRACT = f"""
mutation($id: ID!, $reason: String!) {{
  retractPost(postId: $id, reason: $reason) {{ {POST_FIELDS} }}
}}
"""
HISTORY = """
query($id: ID!) {
  post(id: $id) {
    id body history {
      revision category body urgent visibleToFamily writtenAt writtenBy { username }
      vitals { temperature flagged }
    }
  }
}
"""
END_MEMBERSHIP = """
mutation($p: ID!, $u: ID!) { endTeamMembership(patientId: $p, userId: $u, reason: "異動") { role } }
"""
BREAK_GLASS = """
mutation($id: ID!) { breakGlass(patientId: $id, reason: "夜間の緊急往診のため") { id } }
"""


async def _ito(runtime: Runtime) -> str:
    return await patient_gid(runtime, "pt-ito-haru")


async def test_the_author_edits_and_every_earlier_version_stays_in_history(
    clients: Clients, runtime: Runtime
) -> None:
    nurse = await clients("nurse.sato")
    pid = await _ito(runtime)
    post = await create_post(nurse, pid, "体温 37.0 度。", category="VITALS")
    events_before = await last_event_id(runtime)
    audit_before = await last_audit_id(runtime)

    edit = {
        "postId": post["id"],
        "body": "体温 38.2 度に訂正します。",
        "vitals": {"temperature": 38.2},
    }
    result = await nurse.execute(EDIT, {"input": edit})
    assert "errors" not in result, result
    edited = result["data"]["editPost"]
    assert edited["revision"] == 2 and edited["editedAt"] is not None
    assert edited["body"] == "体温 38.2 度に訂正します。"
    assert edited["vitals"] == {
        "temperature": 38.2,
        "systolic": None,
        "diastolic": None,
        "pulse": None,
        "spo2": None,
        "flagged": ["temperature"],
    }

    doctor = await clients("dr.suzuki")
    history = (await doctor.execute(HISTORY, {"id": post["id"]}))["data"]["post"]["history"]
    assert [(v["revision"], v["body"]) for v in history] == [
        (1, "体温 37.0 度。"),
        (2, "体温 38.2 度に訂正します。"),
    ]
    assert history[0]["vitals"] is None
    assert history[1]["vitals"] == {"temperature": 38.2, "flagged": ["temperature"]}
    assert {v["writtenBy"]["username"] for v in history} == {"nurse.sato"}

    (event,) = await events_of(runtime, after=events_before)
    assert (event.kind, event.post_id, event.audience) == (
        "feed.post_edited",
        post_pk(post["id"]),
        "professionals",
    )
    (record,) = await audits_of(runtime, after=audit_before, action="feed.post_edited")
    assert record.detail == {
        "post_id": post_pk(post["id"]),
        "revision": 2,
        "fields": ["body", "vitals", "vitals_flags"],
    }
    # No text of the post reaches the audit log.
    assert "38.2" not in json.dumps(record.detail, ensure_ascii=False)


async def test_an_edit_that_changes_nothing_adds_no_version(
    clients: Clients, runtime: Runtime
) -> None:
    nurse = await clients("nurse.sato")
    post = await create_post(nurse, await _ito(runtime), "変化なし。")
    before = await feed_snapshot(runtime)
    same = {"postId": post["id"], "body": "  変化なし。 ", "category": "VISIT_REPORT"}
    result = await nurse.execute(EDIT, {"input": same})
    assert result["data"]["editPost"]["revision"] == 1
    assert await feed_snapshot(runtime) == before


async def test_vitals_null_removes_them_and_category_and_flags_change(
    clients: Clients, runtime: Runtime
) -> None:
    nurse = await clients("nurse.sato")
    post = await create_post(
        nurse, await _ito(runtime), "測定", category="VITALS", vitals={"spo2": 91}
    )
    changes = {
        "postId": post["id"],
        "vitals": None,
        "category": "MOOD",
        "urgent": True,
        "visibleToFamily": True,
    }
    edited = (await nurse.execute(EDIT, {"input": changes}))["data"]["editPost"]
    assert edited["vitals"] is None
    assert (edited["category"], edited["urgent"], edited["visibleToFamily"]) == ("MOOD", True, True)


async def test_family_read_only_the_versions_shared_with_them(
    clients: Clients, runtime: Runtime
) -> None:
    nurse = await clients("nurse.sato")
    post = await create_post(nurse, await _ito(runtime), "専門職向けの記録。")
    shared = {"postId": post["id"], "body": "ご家族にも共有します。", "visibleToFamily": True}
    assert "errors" not in await nurse.execute(EDIT, {"input": shared})
    family = await clients("family.ito")
    seen = (await family.execute(HISTORY, {"id": post["id"]}))["data"]["post"]["history"]
    assert [(v["revision"], v["body"]) for v in seen] == [(2, "ご家族にも共有します。")]
    doctor = await clients("dr.suzuki")
    full = (await doctor.execute(HISTORY, {"id": post["id"]}))["data"]["post"]["history"]
    assert [v["revision"] for v in full] == [1, 2]


async def _refused(
    runtime: Runtime, client: GraphQLClient, document: str, variables: dict[str, Any]
) -> tuple[str, str | None]:
    """The call's one error, after checking that nothing at all was stored."""
    before = await feed_snapshot(runtime)
    result = await client.execute(document, variables)
    assert not (result.get("data") or {}).get("editPost"), result
    assert not (result.get("data") or {}).get("retractPost"), result
    assert await feed_snapshot(runtime) == before
    return only_error(result)


async def test_edit_input_that_is_malformed_oversized_or_hostile_changes_nothing(
    clients: Clients, runtime: Runtime
) -> None:
    nurse = await clients("nurse.sato")
    post = await create_post(nurse, await _ito(runtime), "元の記録。", category="VITALS")
    cases: list[tuple[dict[str, Any], tuple[str, str | None]]] = [
        ({"postId": "not-an-id"}, ("NOT_FOUND", None)),
        ({"postId": encode_id("Patient", post_pk(post["id"]))}, ("NOT_FOUND", None)),
        ({"postId": encode_id("Post", 2**31 - 1)}, ("NOT_FOUND", None)),
        ({"postId": post["id"], "body": "あ" * (MAX_BODY + 1)}, ("BAD_USER_INPUT", "body")),
        ({"postId": post["id"], "body": "\u200b\u202e\x00"}, ("BAD_USER_INPUT", "body")),
        ({"postId": post["id"], "body": "\u3164\ufeff\x1b"}, ("BAD_USER_INPUT", "body")),
        ({"postId": post["id"], "body": "   "}, ("BAD_USER_INPUT", "body")),
        (
            {"postId": post["id"], "vitals": {"temperature": 1e308}},
            ("BAD_USER_INPUT", "vitals.temperature"),
        ),
        (
            {"postId": post["id"], "vitals": {"systolic": 120}},
            ("BAD_USER_INPUT", "vitals.diastolic"),
        ),
        (
            {"postId": post["id"], "vitals": {"pulse": 72.5}},
            ("BAD_USER_INPUT", "vitals.pulse"),
        ),
        # A home helper writes no instructions (roles.csv).
    ]
    for edit, expected in cases:
        assert await _refused(runtime, nurse, EDIT, {"input": edit}) == expected, edit
    helper = await clients("helper.kobayashi")
    mine = await create_post(helper, await _ito(runtime), "掃除と買い物。")
    to_instruction = {"input": {"postId": mine["id"], "category": "INSTRUCTION"}}
    assert await _refused(runtime, helper, EDIT, to_instruction) == ("FORBIDDEN", None)


async def test_nan_and_infinity_in_variables_are_refused_before_anything_is_stored(
    clients: Clients, runtime: Runtime, gql: GraphQLClient
) -> None:
    nurse = await clients("nurse.sato")
    post = await create_post(nurse, await _ito(runtime), "測定", category="VITALS")
    before = await feed_snapshot(runtime)

    async def send(value: str) -> dict[str, Any]:
        variables = (
            f'{{"input": {{"postId": "{post["id"]}", "vitals": {{"temperature": {value}}}}}}}'
        )
        response = await gql.http.post(
            "/graphql",
            content=f'{{"query": {json.dumps(EDIT)}, "variables": {variables}}}',
            headers={"Authorization": f"Bearer {nurse.token}", "Content-Type": "application/json"},
        )
        body: dict[str, Any] = response.json()
        return body

    # Python's json accepts these non-standard literals, so the server must refuse them.
    for value in ("NaN", "Infinity", "-Infinity", "1e999"):
        body = await send(value)
        assert body.get("errors"), body
        assert not (body.get("data") or {}).get("editPost"), body
    assert await feed_snapshot(runtime) == before
    # The same request with a real number goes through: the refusals were about the values.
    assert (await send("37.2"))["data"]["editPost"]["revision"] == 2


async def test_only_the_author_edits_and_only_while_on_the_team(
    clients: Clients, runtime: Runtime
) -> None:
    nurse = await clients("nurse.sato")
    pid = await _ito(runtime)
    post = await create_post(nurse, pid, "訪問記録。")
    shared = await create_post(nurse, pid, "共有の記録。", visibleToFamily=True)
    change = {"input": {"postId": post["id"], "body": "書き換え"}}
    expected = {
        "dr.suzuki": "FORBIDDEN",  # a team member, not the author
        "cm.tanaka": "FORBIDDEN",  # the coordinator may retract, never rewrite
        "family.ito": "NOT_FOUND",  # a professional-only post does not exist for family
        "manager.gamagori": "NOT_FOUND",  # sees the patient, never the notebook's posts
        "planner.gamagori": "NOT_FOUND",
        "operator": "NOT_FOUND",
        "nurse.takahashi": "NOT_FOUND",  # not on this team
        "nurse.kimura": "NOT_FOUND",  # another town's nurse
    }
    for username, code in expected.items():
        client = await clients(username)
        assert (await _refused(runtime, client, EDIT, change))[0] == code, username
    family = await clients("family.ito")
    family_edit = {"input": {"postId": shared["id"], "body": "書き換え"}}
    assert (await _refused(runtime, family, EDIT, family_edit))[0] == "FORBIDDEN"

    # Break-the-glass reads the post and its history but never writes.
    glass = await clients("nurse.takahashi")
    assert "errors" not in await glass.execute(BREAK_GLASS, {"id": pid})
    assert "errors" not in await glass.execute(HISTORY, {"id": post["id"]})
    assert (await _refused(runtime, glass, EDIT, change))[0] == "FORBIDDEN"
    retract = {"id": post["id"], "reason": "誤り"}
    assert (await _refused(runtime, glass, RETRACT, retract))[0] == "FORBIDDEN"

    # Once off the team, the author's own post is out of reach.
    coordinator = await clients("cm.tanaka")
    ended = await coordinator.execute(
        END_MEMBERSHIP, {"p": pid, "u": await user_id(runtime, "nurse.sato")}
    )
    assert "errors" not in ended, ended
    assert (await _refused(runtime, nurse, EDIT, change))[0] == "NOT_FOUND"


async def test_a_family_member_edits_their_own_post_but_cannot_hide_it_from_family(
    clients: Clients, runtime: Runtime
) -> None:
    family = await clients("family.ito")
    post = await create_post(family, await _ito(runtime), "母は元気です。", visibleToFamily=True)
    edited = await family.execute(EDIT, {"input": {"postId": post["id"], "body": "母は元気。"}})
    assert edited["data"]["editPost"]["revision"] == 2
    hide = {"input": {"postId": post["id"], "visibleToFamily": False}}
    assert (await _refused(runtime, family, EDIT, hide))[0] == "FORBIDDEN"


async def test_a_retracted_post_reads_empty_keeps_its_reason_and_is_final(
    clients: Clients, runtime: Runtime
) -> None:
    nurse = await clients("nurse.sato")
    post = await create_post(
        nurse, await _ito(runtime), "誤って別の方の記録を書きました。", vitals={"spo2": 97}
    )
    events_before = await last_event_id(runtime)
    audit_before = await last_audit_id(runtime)
    result = await nurse.execute(RETRACT, {"id": post["id"], "reason": "別の利用者の記録のため"})
    assert "errors" not in result, result
    retracted = result["data"]["retractPost"]
    assert retracted["body"] == "" and retracted["vitals"] is None
    assert retracted["retractedAt"] is not None
    assert retracted["retractReason"] == "別の利用者の記録のため"

    doctor = await clients("dr.suzuki")
    read = (await doctor.execute(HISTORY, {"id": post["id"]}))["data"]["post"]
    assert read["body"] == ""
    assert [(v["body"], v["vitals"]) for v in read["history"]] == [("", None)]

    (event,) = await events_of(runtime, after=events_before)
    assert (event.kind, event.post_id) == ("feed.post_retracted", post_pk(post["id"]))
    (record,) = await audits_of(runtime, after=audit_before, action="feed.post_retracted")
    assert "別の利用者" not in json.dumps(record.detail, ensure_ascii=False) + record.reason

    again = {"id": post["id"], "reason": "もう一度"}
    assert await _refused(runtime, nurse, RETRACT, again) == ("BAD_USER_INPUT", "postId")
    rewrite = {"input": {"postId": post["id"], "body": "書き直し"}}
    assert await _refused(runtime, nurse, EDIT, rewrite) == ("BAD_USER_INPUT", "postId")


async def test_the_coordinator_retracts_others_posts_and_members_do_not(
    clients: Clients, runtime: Runtime
) -> None:
    pid = await _ito(runtime)
    helper = await clients("helper.kobayashi")
    post = await create_post(helper, pid, "記録")
    doctor = await clients("dr.suzuki")
    refused = await _refused(runtime, doctor, RETRACT, {"id": post["id"], "reason": "重複"})
    assert refused == ("FORBIDDEN", None)
    for username, code in {
        "family.ito": "NOT_FOUND",
        "manager.gamagori": "NOT_FOUND",
        "planner.gamagori": "NOT_FOUND",
        "operator": "NOT_FOUND",
        "nurse.kimura": "NOT_FOUND",
    }.items():
        client = await clients(username)
        variables = {"id": post["id"], "reason": "重複"}
        assert (await _refused(runtime, client, RETRACT, variables))[0] == code, username
    coordinator = await clients("cm.tanaka")
    done = await coordinator.execute(RETRACT, {"id": post["id"], "reason": "重複のため"})
    assert done["data"]["retractPost"]["retractReason"] == "重複のため"


async def test_a_retraction_needs_a_short_plain_reason(clients: Clients, runtime: Runtime) -> None:
    nurse = await clients("nurse.sato")
    post = await create_post(nurse, await _ito(runtime), "記録")
    for reason in ("", "   ", "あ" * (MAX_REASON + 1), "\u200b\u2060\x07", "一行目\n二行目"):
        variables = {"id": post["id"], "reason": reason}
        assert await _refused(runtime, nurse, RETRACT, variables) == ("BAD_USER_INPUT", "reason")
    malformed = {"id": "UG9zdDox!!", "reason": "誤り"}
    assert await _refused(runtime, nurse, RETRACT, malformed) == ("NOT_FOUND", None)


async def test_without_a_session_nothing_is_edited_or_retracted(
    clients: Clients, runtime: Runtime, gql: GraphQLClient
) -> None:
    nurse = await clients("nurse.sato")
    post = await create_post(nurse, await _ito(runtime), "記録")
    before = await feed_snapshot(runtime)
    edit = await gql.execute(EDIT, {"input": {"postId": post["id"], "body": "x"}})
    retract = await gql.execute(RETRACT, {"id": post["id"], "reason": "x"})
    assert error_codes(edit) == error_codes(retract) == ["UNAUTHENTICATED"]
    assert await feed_snapshot(runtime) == before
