"""Every refusal of patient data leaves a deny record, at the grain of the request, as reads do:
a family member's try at a professional-only post or its photo, and a refused subscription."""

from __future__ import annotations

import pytest
from httpx import AsyncClient
from starlette.applications import Starlette

from renraku.audit.models import AuditRecord
from renraku.errors import NOT_FOUND_MESSAGE
from renraku.ids import MAX_PK, encode_id
from renraku.runtime import Runtime
from tests.access.matrix_support import sign_in
from tests.audit.support import last_id, patient_pk, records_after
from tests.feed.post_support import feed_snapshot
from tests.feed.upload_support import encode, halves, post_photo, rows
from tests.support.graphql import GraphQLClient
from tests.support.live import receive, serving, subscribe, subscriber

PATIENT = "pt-ito-haru"  # team: dr.suzuki, nurse.sato, ...; family: family.ito
POST = "query Peek($id: ID!) { post(id: $id) { id body } }"
CREATE = """mutation($input: CreatePostInput!) {
  createPost(input: $input) { id photos { id } } }"""
EVENTS = "subscription($p: ID!) { patientEvents(patientId: $p) { cursor kind } }"


async def _post(
    runtime: Runtime, http: AsyncClient, *, shared: bool, upload: str | None = None
) -> tuple[int, str]:
    """(patient pk, post id) of a post nurse.sato writes on PATIENT."""
    nurse = await sign_in(runtime, http, "nurse.sato")
    pk = await patient_pk(runtime, PATIENT)
    fields = {
        "patientId": encode_id("Patient", pk),
        "clientId": f"refusal-{shared}-{upload}",
        "category": "SKIN",
        "body": "仙骨部の発赤を撮影しました。",
        "visibleToFamily": shared,
        "uploadIds": [upload] if upload else [],
    }
    result = await nurse.execute(CREATE, {"input": fields})
    assert "errors" not in result, result
    return pk, str(result["data"]["createPost"]["id"])


def assert_one_denial(records: list[AuditRecord], patient: int, *, operation: str) -> None:
    """Exactly one record: a denied read of the patient on the family's basis, no allow."""
    assert [(r.action, r.decision) for r in records] == [("read", "deny")], records
    (record,) = records
    assert record.object_ids == [patient]
    assert record.detail["operation"] == operation
    assert record.detail["denied"] == {"post.read": [patient]}
    assert record.detail["basis"] == {"family": [patient]}


async def test_a_family_member_asking_for_a_professional_only_post_is_denied_and_audited(
    gql: GraphQLClient, runtime: Runtime
) -> None:
    patient, shared = await _post(runtime, gql.http, shared=True)
    _, post = await _post(runtime, gql.http, shared=False)
    family = await sign_in(runtime, gql.http, "family.ito")
    missing = await family.execute(POST, {"id": encode_id("Post", MAX_PK)})
    assert missing["errors"][0]["message"] == NOT_FOUND_MESSAGE
    stored = await feed_snapshot(runtime)

    before = await last_id(runtime)
    result = await family.execute(POST, {"id": shared})
    assert result["data"]["post"]["id"] == shared, result
    (record,) = await records_after(runtime, before, username="family.ito")
    assert (record.action, record.decision, record.object_ids) == ("read", "allow", [patient])
    assert record.detail["objects"] == ["timeline.family"]

    before = await last_id(runtime)
    assert await family.execute(POST, {"id": post}) == missing
    found = await records_after(runtime, before, username="family.ito")
    # Not an allowed read of the family's timeline: a refusal.
    assert_one_denial(found, patient, operation="Peek")
    assert await feed_snapshot(runtime) == stored


@pytest.mark.parametrize("path", ["/uploads/{}", "/uploads/{}/thumbnail"])
async def test_a_family_member_asking_for_a_professional_only_photo_is_denied_and_audited(
    gql: GraphQLClient, runtime: Runtime, path: str
) -> None:
    nurse = await sign_in(runtime, gql.http, "nurse.sato")
    sent = await post_photo(gql.http, encode(halves(), "JPEG"), token=nurse.token)
    assert sent.status_code == 201, sent.text
    upload = sent.json()["id"]
    patient, _ = await _post(runtime, gql.http, shared=False, upload=upload)
    family = await sign_in(runtime, gql.http, "family.ito")
    auth = {"Authorization": f"Bearer {family.token}"}
    missing = await gql.http.get(path.format(encode_id("Upload", MAX_PK)), headers=auth)
    stored = await rows(runtime)
    before = await last_id(runtime)

    response = await gql.http.get(path.format(upload), headers=auth)
    assert response.status_code == 404
    assert response.content == missing.content
    found = await records_after(runtime, before, username="family.ito")
    operation = "upload.thumbnail" if path.endswith("thumbnail") else "upload"
    assert_one_denial(found, patient, operation=operation)
    assert await rows(runtime) == stored


@pytest.mark.parametrize(
    ("username", "code", "basis"),
    [
        ("nurse.kimura", "NOT_FOUND", "none"),  # a nurse of another municipality
        ("planner.gamagori", "FORBIDDEN", "emergency"),  # sees the patient, not its notebook
    ],
)
async def test_a_refused_subscription_is_a_deny_record(
    gql: GraphQLClient, runtime: Runtime, app: Starlette, username: str, code: str, basis: str
) -> None:
    patient = await patient_pk(runtime, PATIENT)
    viewer = await sign_in(runtime, gql.http, username)
    assert viewer.token is not None
    stored = await feed_snapshot(runtime)
    before = await last_id(runtime)
    async with serving(app) as url, subscriber(url, viewer.token) as ws:
        # A patient nobody holds is not data: refused, but no record.
        await subscribe(ws, "m", EVENTS, {"p": encode_id("Patient", MAX_PK)})
        missing = await receive(ws)
        await subscribe(ws, "s", EVENTS, {"p": encode_id("Patient", patient)})
        frame = await receive(ws)
    assert missing["type"] == frame["type"] == "error"
    assert [e["extensions"]["code"] for e in missing["payload"]] == ["NOT_FOUND"]
    assert [e["extensions"]["code"] for e in frame["payload"]] == [code]
    (record,) = await records_after(runtime, before, username=username)
    assert (record.action, record.decision, record.object_ids) == ("read", "deny", [patient])
    assert record.detail["operation"] == "patientEvents"
    assert record.detail["denied"] == {"timeline.read": [patient]}
    assert record.detail["basis"] == {basis: [patient]}
    assert await feed_snapshot(runtime) == stored
