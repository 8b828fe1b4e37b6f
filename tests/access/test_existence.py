"""Existence does not leak: an id the viewer may not read answers exactly as a missing one, and
each object has exactly one id (DESIGN.md, API conventions)."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from httpx import AsyncClient

from renraku.errors import NOT_FOUND_MESSAGE
from renraku.ids import MAX_PK, encode_id
from renraku.runtime import Runtime
from tests.access.matrix_support import sign_in
from tests.feed.post_support import create_post, feed_snapshot
from tests.feed.upload_support import encode, halves, post_photo
from tests.support.graphql import GraphQLClient, error_codes
from tests.teams.helpers import patient_id

PATIENT = "pt-ito-haru"  # inside the demo incident: planner.gamagori sees it; nurse.sato's team
POST = "query($id: ID!) { post(id: $id) { id body } }"
PATIENT_NAME = "query($id: ID!) { patient(id: $id) { id displayName } }"
PATIENTS_PAGE = """query($after: String) {
  patients(first: 1, after: $after) { edges { node { id } } pageInfo { endCursor } } }"""
_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def _b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def other_spellings(type_name: str, pk: int) -> list[str]:
    """Ways to write the same key that a lenient decoder reads as the canonical id."""
    canonical = encode_id(type_name, pk)
    spellings = [
        _b64(f"{type_name}:0{pk}"),  # a leading zero
        _b64(f"{type_name}:00{pk}"),
        _b64(f"{type_name}:+{pk}"),
        _b64(f"{type_name}: {pk}"),
        _b64(f"{type_name}:{pk} "),
        canonical + "=" * (-len(canonical) % 4 or 4),  # padded (or over-padded)
        canonical + "\n",
        " " + canonical,
        canonical[:2] + "." + canonical[2:],  # a character outside the alphabet
        canonical.replace("-", "+").replace("_", "/"),  # the standard alphabet
    ]
    raw = len(f"{type_name}:{pk}".encode())
    if raw % 3:
        # The last character has unused low bits; setting one spells the same bytes.
        last = _ALPHABET.index(canonical[-1])
        spellings.append(canonical[:-1] + _ALPHABET[last | 1])
    return [s for s in dict.fromkeys(spellings) if s != canonical]


async def _written_post(runtime: Runtime, http: AsyncClient) -> tuple[str, str]:
    """(patient id, post id) of a professional-only post nurse.sato writes on PATIENT."""
    nurse = await sign_in(runtime, http, "nurse.sato")
    patient = await patient_id(runtime, PATIENT)
    post = await create_post(nurse, patient, "仙骨部に発赤あり。")
    return patient, str(post["id"])


@pytest.mark.parametrize("username", ["planner.gamagori", "manager.gamagori"])
async def test_a_post_the_viewer_may_not_read_answers_exactly_as_a_missing_one(
    gql: GraphQLClient, runtime: Runtime, username: str
) -> None:
    patient, post = await _written_post(runtime, gql.http)
    viewer = await sign_in(runtime, gql.http, username)
    # The patient is visible to them: only its notebook is not.
    seen = await viewer.execute(PATIENT_NAME, {"id": patient})
    assert "errors" not in seen and seen["data"]["patient"]["id"] == patient, seen
    before = await feed_snapshot(runtime)

    missing = await viewer.execute(POST, {"id": encode_id("Post", MAX_PK)})
    assert missing == {
        "data": {"post": None},
        "errors": [
            {
                "message": NOT_FOUND_MESSAGE,
                "locations": missing["errors"][0]["locations"],
                "path": ["post"],
                "extensions": {"code": "NOT_FOUND"},
            }
        ],
    }
    for gid in (post, "not-an-id", encode_id("Patient", 1), *other_spellings("Post", 1)):
        assert await viewer.execute(POST, {"id": gid}) == missing, gid
    assert await feed_snapshot(runtime) == before


async def test_each_object_has_exactly_one_id(gql: GraphQLClient, runtime: Runtime) -> None:
    patient, post = await _written_post(runtime, gql.http)
    nurse = await sign_in(runtime, gql.http, "nurse.sato")
    found = await nurse.execute(POST, {"id": post})
    assert found["data"]["post"]["id"] == post, found
    named = await nurse.execute(PATIENT_NAME, {"id": patient})
    assert named["data"]["patient"]["id"] == patient, named

    post_pk = int(base64.urlsafe_b64decode(post + "==").decode().split(":")[1])
    patient_pk = int(base64.urlsafe_b64decode(patient + "==").decode().split(":")[1])
    for gid in other_spellings("Post", post_pk):
        result = await nurse.execute(POST, {"id": gid})
        assert error_codes(result) == ["NOT_FOUND"] and result["data"] == {"post": None}, gid
    for gid in other_spellings("Patient", patient_pk):
        result = await nurse.execute(PATIENT_NAME, {"id": gid})
        assert error_codes(result) == ["NOT_FOUND"], gid


async def test_a_photo_has_exactly_one_address(gql: GraphQLClient, runtime: Runtime) -> None:
    nurse = await sign_in(runtime, gql.http, "nurse.sato")
    response = await post_photo(gql.http, encode(halves(), "JPEG"), token=nurse.token)
    assert response.status_code == 201, response.text
    upload = response.json()["id"]
    auth = {"Authorization": f"Bearer {nurse.token}"}
    assert (await gql.http.get(f"/uploads/{upload}", headers=auth)).status_code == 200
    pk = int(base64.urlsafe_b64decode(upload + "==").decode().split(":")[1])
    # Spellings a URL path can carry as they are.
    for gid in other_spellings("Upload", pk):
        if any(c in gid for c in " \n/+.="):
            continue
        response = await gql.http.get(f"/uploads/{gid}", headers=auth)
        assert response.status_code == 404, gid


async def test_a_cursor_has_exactly_one_spelling(gql: GraphQLClient, runtime: Runtime) -> None:
    nurse = await sign_in(runtime, gql.http, "nurse.sato")
    first = await nurse.execute(PATIENTS_PAGE, {"after": None})
    cursor = first["data"]["patients"]["pageInfo"]["endCursor"]
    following = await nurse.execute(PATIENTS_PAGE, {"after": cursor})
    assert "errors" not in following, following
    key = base64.urlsafe_b64decode(cursor + "==").decode()
    spellings = [
        _b64(key.replace(",", ", ")),  # the same JSON, spaced
        _b64(" " + key),
        cursor + "=" * (-len(cursor) % 4 or 4),
        " " + cursor,
    ]
    for spelling in spellings:
        result: dict[str, Any] = await nurse.execute(PATIENTS_PAGE, {"after": spelling})
        assert error_codes(result) == ["BAD_USER_INPUT"], spelling
        assert result["errors"][0]["extensions"]["field"] == "after"
