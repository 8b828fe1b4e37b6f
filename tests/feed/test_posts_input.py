"""createPost refuses malformed, oversized, hostile and unauthorised input, and then stores nothing.

pt-ito-haru's team (seed/demo.toml): dr.suzuki, nurse.sato, cm.tanaka (coordinator), pharm.kato,
helper.kobayashi, and family.ito.
"""

from __future__ import annotations

import json
from typing import Any

from renraku.feed.models import MAX_BODY, MAX_CLIENT_ID, Post
from renraku.ids import encode_id
from renraku.runtime import Runtime
from tests.feed.post_support import (
    CREATE,
    Clients,
    clients,
    create_post,
    feed_snapshot,
    only_error,
    patient_gid,
    post_pk,
)
from tests.support.graphql import GraphQLClient, error_codes
from tests.teams.helpers import user_id

__all__ = ["clients"]

_count = 0


def _input(patient: str, **fields: Any) -> dict[str, Any]:
    global _count
    _count += 1
    return {
        "patientId": patient,
        "clientId": f"input-{_count}",
        "category": "VISIT_REPORT",
        "body": "訪問しました。",
        **fields,
    }


async def _refused(
    runtime: Runtime, client: GraphQLClient, post: dict[str, Any]
) -> tuple[str, str | None]:
    before = await feed_snapshot(runtime)
    result = await client.execute(CREATE, {"input": post})
    assert not (result.get("data") or {}).get("createPost"), result
    assert await feed_snapshot(runtime) == before
    return only_error(result)


async def test_malformed_and_unknown_ids_store_nothing(clients: Clients, runtime: Runtime) -> None:
    nurse = await clients("nurse.sato")
    ito = await patient_gid(runtime, "pt-ito-haru")
    other = await create_post(
        await clients("nurse.kimura"), await patient_gid(runtime, "pt-okada-yoshio"), "西尾"
    )
    cases: list[tuple[dict[str, Any], tuple[str, str | None]]] = [
        (_input("not-an-id"), ("NOT_FOUND", None)),
        (_input(encode_id("Patient", 2**31)), ("NOT_FOUND", None)),
        (_input(encode_id("Patient", 2**31 - 1)), ("NOT_FOUND", None)),
        (_input(encode_id("User", 1)), ("NOT_FOUND", None)),
        (_input("x" * 1000), ("NOT_FOUND", None)),
        (_input(ito, replyTo="bm9wZQ"), ("NOT_FOUND", None)),
        (_input(ito, replyTo=other["id"]), ("BAD_USER_INPUT", "replyTo")),
        (_input(ito, replyTo=encode_id("Post", 2**31 - 1)), ("BAD_USER_INPUT", "replyTo")),
        (_input(ito, uploadIds=["nope"]), ("BAD_USER_INPUT", "uploadIds")),
        (_input(ito, uploadIds=[encode_id("Upload", 1)] * 101), ("BAD_USER_INPUT", "uploadIds")),
        (_input(ito, mentionIds=["nope"]), ("BAD_USER_INPUT", "mentionIds")),
        (
            _input(ito, mentionIds=[await user_id(runtime, "nurse.kimura")]),
            ("BAD_USER_INPUT", "mentionIds"),
        ),
    ]
    for post, expected in cases:
        assert await _refused(runtime, nurse, post) == expected, post


async def test_oversized_and_hostile_text_stores_nothing(
    clients: Clients, runtime: Runtime
) -> None:
    nurse = await clients("nurse.sato")
    ito = await patient_gid(runtime, "pt-ito-haru")
    cases: list[tuple[dict[str, Any], tuple[str, str | None]]] = [
        (_input(ito, body="あ" * (MAX_BODY + 1)), ("BAD_USER_INPUT", "body")),
        (_input(ito, body="\x00\x1b\x07"), ("BAD_USER_INPUT", "body")),
        (_input(ito, body="\u200b" * 5), ("BAD_USER_INPUT", "body")),
        (_input(ito, body="\u202e\u2066\ufeff\u3164"), ("BAD_USER_INPUT", "body")),
        (_input(ito, body=""), ("BAD_USER_INPUT", "body")),
        (_input(ito, clientId=""), ("BAD_USER_INPUT", "clientId")),
        (_input(ito, clientId="c" * (MAX_CLIENT_ID + 1)), ("BAD_USER_INPUT", "clientId")),
        (_input(ito, clientId="../etc/passwd"), ("BAD_USER_INPUT", "clientId")),
        (_input(ito, clientId="id with space"), ("BAD_USER_INPUT", "clientId")),
        (_input(ito, clientId="識別子"), ("BAD_USER_INPUT", "clientId")),
    ]
    for post, expected in cases:
        assert await _refused(runtime, nurse, post) == expected, post
    # Markup is text like any other: stored as written, never interpreted.
    stored = await create_post(nurse, ito, "<script>alert(1)</script> ' OR 1=1 --")
    assert stored["body"] == "<script>alert(1)</script> ' OR 1=1 --"


async def test_vitals_out_of_range_or_not_numbers_store_nothing(
    clients: Clients, runtime: Runtime
) -> None:
    nurse = await clients("nurse.sato")
    ito = await patient_gid(runtime, "pt-ito-haru")
    cases: list[tuple[dict[str, Any], str]] = [
        ({"temperature": 1e308}, "vitals.temperature"),
        ({"temperature": -1e308}, "vitals.temperature"),
        ({"temperature": 3.7}, "vitals.temperature"),
        ({"spo2": 101}, "vitals.spo2"),
        ({"pulse": 72.5}, "vitals.pulse"),
        ({"bloodGlucose": 10_000}, "vitals.bloodGlucose"),
        ({"systolic": 120}, "vitals.diastolic"),
        ({"systolic": 80, "diastolic": 90}, "vitals.diastolic"),
        ({"pain": 11}, "vitals.pain"),
    ]
    for vitals, field in cases:
        post = _input(ito, category="VITALS", body="", vitals=vitals)
        assert await _refused(runtime, nurse, post) == ("BAD_USER_INPUT", field), vitals
    before = await feed_snapshot(runtime)
    for wrong in ("37", True, [36.5], {"value": 36.5}):
        result = await nurse.execute(CREATE, {"input": _input(ito, vitals={"temperature": wrong})})
        assert result.get("errors") and not result.get("data"), result
    assert await feed_snapshot(runtime) == before


async def test_nan_and_infinity_sent_in_variables_store_nothing(
    clients: Clients, runtime: Runtime, gql: GraphQLClient
) -> None:
    nurse = await clients("nurse.sato")
    ito = await patient_gid(runtime, "pt-ito-haru")
    before = await feed_snapshot(runtime)

    async def send(value: str, client_id: str) -> dict[str, Any]:
        post = json.dumps(_input(ito, clientId=client_id, vitals={}))
        # Python's json accepts these non-standard literals, so they reach the server as floats.
        post = post.replace('"vitals": {}', f'"vitals": {{"spo2": {value}}}')
        response = await gql.http.post(
            "/graphql",
            content=f'{{"query": {json.dumps(CREATE)}, "variables": {{"input": {post}}}}}',
            headers={"Authorization": f"Bearer {nurse.token}", "Content-Type": "application/json"},
        )
        body: dict[str, Any] = response.json()
        return body

    for n, value in enumerate(("NaN", "Infinity", "-Infinity", "1e999")):
        body = await send(value, f"nan-{n}")
        assert body.get("errors") and not (body.get("data") or {}).get("createPost"), body
    assert await feed_snapshot(runtime) == before
    assert (await send("97", "nan-ok"))["data"]["createPost"]["vitals"]["spo2"] == 97


async def test_a_client_id_names_one_post_of_one_patient(
    clients: Clients, runtime: Runtime
) -> None:
    nurse = await clients("nurse.sato")
    ito = await patient_gid(runtime, "pt-ito-haru")
    kawai = await patient_gid(runtime, "pt-kawai-toshio")
    first = _input(ito, clientId="visit-same")
    created = await nurse.execute(CREATE, {"input": first})
    assert "errors" not in created, created
    moved = _input(kawai, clientId="visit-same")
    assert await _refused(runtime, nurse, moved) == ("BAD_USER_INPUT", "clientId")
    # Another author's post under the same client id is theirs, not a retry of this one.
    doctor = await clients("dr.suzuki")
    theirs = await doctor.execute(CREATE, {"input": first})
    assert theirs["data"]["createPost"]["id"] != created["data"]["createPost"]["id"]


async def test_only_the_team_posts_and_family_only_what_family_sees(
    clients: Clients, runtime: Runtime
) -> None:
    ito = await patient_gid(runtime, "pt-ito-haru")
    refused = {
        "manager.gamagori": (_input(ito), "FORBIDDEN"),
        "planner.gamagori": (_input(ito), "FORBIDDEN"),
        "operator": (_input(ito), "NOT_FOUND"),
        "nurse.takahashi": (_input(ito), "NOT_FOUND"),
        "nurse.kimura": (_input(ito), "NOT_FOUND"),
        "family.okada": (_input(ito, visibleToFamily=True), "NOT_FOUND"),
        "helper.kobayashi": (_input(ito, category="INSTRUCTION"), "FORBIDDEN"),
    }
    for username, (post, code) in refused.items():
        client = await clients(username)
        assert (await _refused(runtime, client, post))[0] == code, username
    family = await clients("family.ito")
    for post in (
        _input(ito),
        _input(ito, visibleToFamily=True, category="INSTRUCTION"),
    ):
        assert (await _refused(runtime, family, post))[0] == "FORBIDDEN", post
    assert "errors" not in await family.execute(
        CREATE, {"input": _input(ito, visibleToFamily=True)}
    )

    glass = await clients("nurse.takahashi")
    opened = await glass.execute(
        'mutation($id: ID!) { breakGlass(patientId: $id, reason: "夜間の急変対応") { id } }',
        {"id": ito},
    )
    assert "errors" not in opened, opened
    assert (await _refused(runtime, glass, _input(ito)))[0] == "FORBIDDEN"


async def test_an_oversized_request_or_no_session_stores_nothing(
    clients: Clients, runtime: Runtime, gql: GraphQLClient
) -> None:
    ito = await patient_gid(runtime, "pt-ito-haru")
    nurse = await clients("nurse.sato")
    before = await feed_snapshot(runtime)
    huge = _input(ito, body="あ" * 400_000)  # over a megabyte of UTF-8
    response = await gql.http.post(
        "/graphql",
        json={"query": CREATE, "variables": {"input": huge}},
        headers={"Authorization": f"Bearer {nurse.token}"},
    )
    assert response.status_code == 413
    anonymous = await gql.execute(CREATE, {"input": _input(ito)})
    assert error_codes(anonymous) == ["UNAUTHENTICATED"]
    assert await feed_snapshot(runtime) == before


async def test_clinical_text_is_stored_exactly_as_written(
    clients: Clients, runtime: Runtime
) -> None:
    nurse = await clients("nurse.sato")
    ito = await patient_gid(runtime, "pt-ito-haru")
    # NFKC would make 10⁹/L into 109/L and ㎎ into mg: the stored text is never rewritten so.
    body = "WBC 4.5×10⁹/L\n内服 5㎎ １錠\t👨\u200d⚕️ 確認"
    stored = await create_post(nurse, ito, body)
    assert stored["body"] == body
    assert await _stored_body(runtime, stored["id"]) == body


async def test_bidirectional_overrides_and_zero_width_characters_are_removed_from_a_body(
    clients: Clients, runtime: Runtime
) -> None:
    nurse = await clients("nurse.sato")
    ito = await patient_gid(runtime, "pt-ito-haru")
    stored = await create_post(nurse, ito, "投与量\u202e0.5\u202c mg\u200b\r\n経過\x00観察")
    assert stored["body"] == "投与量0.5 mg\n経過観察"
    assert await _stored_body(runtime, stored["id"]) == "投与量0.5 mg\n経過観察"


async def _stored_body(runtime: Runtime, post_gid: str) -> str:
    async with runtime.db.session() as session:
        post = await session.get(Post, post_pk(post_gid))
    assert post is not None
    return post.body
