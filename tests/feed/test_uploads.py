"""Photos: POST /uploads, the access-checked GET /uploads/{id}, Post.photos, and the cleanup job."""

from __future__ import annotations

from typing import Any

import pytest
from httpx import AsyncClient, Response
from PIL import Image, PngImagePlugin
from sqlmodel import col, select

from renraku import jobs
from renraku.audit.models import AuditRecord
from renraku.feed import uploads
from renraku.ids import decode_id, encode_id
from renraku.runtime import Runtime
from tests.accounts.helpers import cookie_login, serve
from tests.audit.support import last_id, records_after
from tests.feed.upload_support import (
    BLUE,
    LEAKS,
    RED,
    CountingBody,
    age_upload,
    encode,
    halves,
    heic,
    jpeg_with_metadata,
    multipart,
    opened,
    png_claiming,
    post_photo,
    retract,
    rows,
    srgb_profile,
    upload_ids,
    upload_pk,
    upload_row,
)
from tests.support.graphql import GraphQLClient, error_codes
from tests.teams.helpers import patient_pk

CREATE = """
mutation($input: CreatePostInput!) {
  createPost(input: $input) {
    id photos { id url thumbnailUrl width height contentType }
  }
}
"""
TIMELINE = """
query($id: ID!) {
  patient(id: $id) { timeline(first: 20) { edges { node { id photos { id url } } } } }
}
"""
POST = "query($id: ID!) { post(id: $id) { id retractedAt photos { id } } }"
SERVED = {
    "cache-control": "private, max-age=300",
    "x-content-type-options": "nosniff",
    "content-disposition": "inline",
    "content-security-policy": "default-src 'none'",
}


def jpeg(size: tuple[int, int] = (40, 20)) -> bytes:
    return encode(halves(size), "JPEG")


def noisy_jpeg() -> bytes:
    return encode(Image.effect_noise((300, 300), 60).convert("RGB"), "JPEG", quality=95)


def png(size: tuple[int, int] = (40, 20)) -> bytes:
    return encode(halves(size), "PNG")


def refused(response: Response, status: int, code: str = "BAD_USER_INPUT") -> dict[str, str]:
    assert response.status_code == status, response.text
    error: dict[str, str] = response.json()["error"]
    assert error["code"] == code
    return error


async def uploaded(
    http: AsyncClient,
    token: str | None,
    data: bytes,
    *,
    filename: str = "photo.jpg",
    content_type: str = "image/jpeg",
) -> str:
    response = await post_photo(
        http, data, token=token, filename=filename, content_type=content_type
    )
    assert response.status_code == 201, response.text
    global_id: str = response.json()["id"]
    return global_id


async def post_with(
    client: GraphQLClient, patient: str, upload_id: str, *, family: bool, client_id: str
) -> dict[str, Any]:
    result = await client.execute(
        CREATE,
        {
            "input": {
                "patientId": patient,
                "clientId": client_id,
                "category": "SKIN",
                "body": "仙骨部の発赤を撮影しました。",
                "visibleToFamily": family,
                "uploadIds": [upload_id],
            }
        },
    )
    assert "errors" not in result, result
    post: dict[str, object] = result["data"]["createPost"]
    return post


async def photos_by_post(client: GraphQLClient, patient: str) -> dict[str, list[dict[str, str]]]:
    """The photos of each post on the first timeline page the client sees."""
    result = await client.execute(TIMELINE, {"id": patient})
    assert "errors" not in result, result
    edges = result["data"]["patient"]["timeline"]["edges"]
    return {e["node"]["id"]: e["node"]["photos"] for e in edges}


# --- what is stored -------------------------------------------------------------------------


async def test_a_phone_jpeg_is_stored_upright_with_no_metadata_left(
    gql: GraphQLClient, http: AsyncClient, runtime: Runtime
) -> None:
    nurse = await gql.login("nurse.sato")
    # Orientation 6: the camera was held turned; viewers rotate it 90 degrees clockwise.
    sent = jpeg_with_metadata(halves((40, 20)), orientation=6)
    assert all(leak in sent for leak in LEAKS[:3])  # the test photo does carry them
    response = await post_photo(http, sent, token=nurse.token)
    assert response.status_code == 201, response.text
    body = response.json()
    assert body == {"id": body["id"], "width": 20, "height": 40, "contentType": "image/jpeg"}

    row = await upload_row(runtime, upload_pk(body["id"]))
    assert row is not None and row.post_id is None
    for stored in (row.data, row.thumbnail):
        assert not any(leak in stored for leak in LEAKS)
    image = opened(row.data)
    assert (image.format, image.size) == ("JPEG", (20, 40))
    assert dict(image.getexif()) == {}
    assert not {"exif", "icc_profile", "comment", "xmp"} & set(image.info)
    # Turned upright: the left (red) half of the sensor is now on top.
    top, bottom = image.getpixel((10, 5)), image.getpixel((10, 35))
    assert isinstance(top, tuple) and isinstance(bottom, tuple)
    assert top[0] > 200 and top[2] < 60
    assert bottom[2] > 200 and bottom[0] < 60

    served = await http.get(
        f"/uploads/{body['id']}", headers={"Authorization": f"Bearer {nurse.token}"}
    )
    assert served.status_code == 200
    assert served.content == row.data
    assert served.headers["content-type"] == "image/jpeg"
    assert {k: served.headers[k] for k in SERVED} == SERVED


async def test_a_png_stays_png_and_keeps_transparency_but_not_its_text(
    gql: GraphQLClient, http: AsyncClient, runtime: Runtime
) -> None:
    nurse = await gql.login("nurse.sato")
    image = halves((64, 32)).convert("RGBA")
    image.putpixel((0, 0), (0, 0, 0, 0))
    text = PngImagePlugin.PngInfo()
    text.add_text("Comment", "patient-home-comment")
    sent = encode(image, "PNG", pnginfo=text, icc_profile=srgb_profile())
    assert b"patient-home-comment" in sent and b"iCCP" in sent
    global_id = await uploaded(http, nurse.token, sent, filename="x.png", content_type="image/png")

    row = await upload_row(runtime, upload_pk(global_id))
    assert row is not None and row.content_type == "image/png"
    assert b"patient-home-comment" not in row.data and b"iCCP" not in row.data
    stored = opened(row.data)
    assert (stored.format, stored.mode, stored.size) == ("PNG", "RGBA", (64, 32))
    assert stored.getpixel((0, 0)) == (0, 0, 0, 0)
    assert stored.getpixel((63, 31)) == (*BLUE, 255)
    thumb = opened(row.thumbnail)
    assert (thumb.format, thumb.size) == ("JPEG", (64, 32))


async def test_a_one_pixel_photo_is_taken(gql: GraphQLClient, http: AsyncClient) -> None:
    nurse = await gql.login("nurse.sato")
    response = await post_photo(
        http, encode(Image.new("RGB", (1, 1), RED), "PNG"), token=nurse.token
    )
    assert response.status_code == 201, response.text
    assert (response.json()["width"], response.json()["height"]) == (1, 1)
    thumb = await http.get(
        f"/uploads/{response.json()['id']}/thumbnail",
        headers={"Authorization": f"Bearer {nurse.token}"},
    )
    assert thumb.status_code == 200 and thumb.headers["content-type"] == "image/jpeg"
    assert opened(thumb.content).size == (1, 1)


async def test_a_large_photo_gets_a_small_thumbnail(
    gql: GraphQLClient, http: AsyncClient, runtime: Runtime
) -> None:
    nurse = await gql.login("nurse.sato")
    global_id = await uploaded(http, nurse.token, jpeg((1200, 900)))
    row = await upload_row(runtime, upload_pk(global_id))
    assert row is not None
    assert opened(row.thumbnail).size == (320, 240)
    assert len(row.thumbnail) < len(row.data)


async def test_a_heic_photo_is_converted_to_an_upright_jpeg(
    gql: GraphQLClient, http: AsyncClient, runtime: Runtime
) -> None:
    nurse = await gql.login("nurse.sato")
    sent = heic(halves((64, 32)), orientation=6)
    assert b"Exif" in sent
    response = await post_photo(http, sent, token=nurse.token, filename="IMG_0001.HEIC")
    assert response.status_code == 201, response.text
    body = response.json()
    assert (body["contentType"], body["width"], body["height"]) == ("image/jpeg", 32, 64)
    row = await upload_row(runtime, upload_pk(body["id"]))
    assert row is not None and not any(leak in row.data for leak in LEAKS)
    image = opened(row.data)
    assert (image.format, dict(image.getexif())) == ("JPEG", {})
    top, bottom = image.getpixel((16, 8)), image.getpixel((16, 56))
    assert isinstance(top, tuple) and isinstance(bottom, tuple)
    assert top[0] > 200 and bottom[2] > 200


@pytest.mark.parametrize(
    ("make", "filename", "declared", "stored"),
    [
        (jpeg, "photo.png", "image/png", "image/jpeg"),
        (png, "photo.jpg", "image/jpeg", "image/png"),
        (jpeg, "photo.exe", "application/octet-stream", "image/jpeg"),
    ],
    ids=["jpeg-declared-png", "png-declared-jpeg", "jpeg-named-exe"],
)
async def test_the_content_decides_the_type_not_the_name_or_declared_type(
    gql: GraphQLClient, http: AsyncClient, make: object, filename: str, declared: str, stored: str
) -> None:
    nurse = await gql.login("nurse.sato")
    assert callable(make)
    response = await post_photo(
        http, make(), token=nurse.token, filename=filename, content_type=declared
    )
    assert response.status_code == 201, response.text
    assert response.json()["contentType"] == stored


async def test_what_follows_a_jpeg_is_not_stored(
    gql: GraphQLClient, http: AsyncClient, runtime: Runtime
) -> None:
    nurse = await gql.login("nurse.sato")
    payload = b"PK\x03\x04<script>fetch('/graphql')</script>"
    global_id = await uploaded(http, nurse.token, jpeg() + payload)
    row = await upload_row(runtime, upload_pk(global_id))
    assert row is not None and b"<script>" not in row.data and b"PK\x03\x04" not in row.data


# --- what is refused ------------------------------------------------------------------------


def _gif() -> bytes:
    return encode(Image.new("P", (4, 4)), "GIF")


def _webp() -> bytes:
    return encode(Image.new("RGB", (4, 4)), "WEBP")


@pytest.mark.parametrize(
    ("make", "status"),
    [
        (lambda: b"just a note, not a photo", 400),
        (lambda: b"", 400),
        (lambda: noisy_jpeg()[: len(noisy_jpeg()) // 2], 400),
        (lambda: png((300, 300))[:200], 400),
        (lambda: b"<html><script>alert(document.cookie)</script>" + png(), 400),
        (lambda: b"\xff\xd8\xff\xe0" + b"\x00garbage" * 20, 400),
        (lambda: png_claiming(100, 100), 400),
        (_gif, 415),
        (_webp, 415),
    ],
    ids=[
        "text",
        "empty",
        "truncated-jpeg",
        "truncated-png",
        "html-polyglot",
        "jpeg-header-only",
        "png-bad-data",
        "gif",
        "webp",
    ],
)
async def test_files_that_are_not_a_usable_photo_are_refused_and_nothing_is_stored(
    gql: GraphQLClient, http: AsyncClient, runtime: Runtime, make: object, status: int
) -> None:
    nurse = await gql.login("nurse.sato")
    assert callable(make)
    before = await rows(runtime)
    error = refused(await post_photo(http, make(), token=nurse.token), status)
    assert error["field"] == "file"
    assert await rows(runtime) == before


@pytest.mark.parametrize(
    ("width", "height"), [(7000, 7000), (100_000, 100_000)], ids=["49MP", "10GP"]
)
async def test_a_pixel_bomb_is_refused_without_decoding_and_nothing_is_stored(
    gql: GraphQLClient, http: AsyncClient, runtime: Runtime, width: int, height: int
) -> None:
    nurse = await gql.login("nurse.sato")
    before = await rows(runtime)
    # Decoding this file fails (400, see above): a 413 means it was never decoded.
    response = await post_photo(http, png_claiming(width, height), token=nurse.token)
    assert refused(response, 413)["field"] == "file"
    assert await rows(runtime) == before


async def test_an_oversized_body_is_refused_while_it_streams(database_url: str) -> None:
    async with serve(database_url, upload_max_bytes=100_000) as served:
        nurse = await GraphQLClient(served.client).login("nurse.sato")
        body, content_type = multipart(noisy_jpeg() * 16)
        assert len(body) > 1_000_000
        before = await rows(served.runtime)
        streamed = CountingBody(body)
        response = await served.client.post(
            "/uploads",
            content=streamed,
            headers={"Authorization": f"Bearer {nurse.token}", "Content-Type": content_type},
        )
        assert refused(response, 413)["field"] == "file"
        # Stopped just past the limit, long before the end of the body.
        assert streamed.sent < len(streamed.chunks) // 2
        declared = await served.client.post(
            "/uploads",
            content=body,
            headers={"Authorization": f"Bearer {nurse.token}", "Content-Type": content_type},
        )
        assert refused(declared, 413)["field"] == "file"
        assert await rows(served.runtime) == before
        # Just under the limit is taken.
        small = await post_photo(served.client, jpeg(), token=nurse.token)
        assert small.status_code == 201


def _part(name: str, filename: str | None, data: bytes) -> bytes:
    disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
    return f"--b\r\nContent-Disposition: {disposition}\r\n\r\n".encode() + data + b"\r\n"


@pytest.mark.parametrize(
    "body",
    [
        _part("photo", "a.jpg", b"x") + b"--b--\r\n",
        _part("file", None, b"not a file") + b"--b--\r\n",
        _part("file", "a.jpg", b"abc")[:-2],
        _part("file", "a.jpg", b"x") + _part("file", "b.jpg", b"y") + b"--b--\r\n",
        b"this is not multipart at all",
    ],
    ids=["other-field", "not-a-file", "unfinished", "two-files", "garbage"],
)
async def test_a_malformed_form_is_refused_and_nothing_is_stored(
    gql: GraphQLClient, http: AsyncClient, runtime: Runtime, body: bytes
) -> None:
    nurse = await gql.login("nurse.sato")
    before = await rows(runtime)
    response = await http.post(
        "/uploads",
        content=body,
        headers={
            "Authorization": f"Bearer {nurse.token}",
            "Content-Type": "multipart/form-data; boundary=b",
        },
    )
    assert refused(response, 400)["field"] == "file"
    not_multipart = await http.post(
        "/uploads", json={"file": "x"}, headers={"Authorization": f"Bearer {nurse.token}"}
    )
    refused(not_multipart, 400)
    assert await rows(runtime) == before


# --- who may upload -------------------------------------------------------------------------


async def test_signed_out_uploads_are_unauthenticated(http: AsyncClient, runtime: Runtime) -> None:
    before = await rows(runtime)
    refused(await post_photo(http, jpeg()), 401, "UNAUTHENTICATED")
    refused(await post_photo(http, jpeg(), token="not-a-token"), 401, "UNAUTHENTICATED")
    assert await rows(runtime) == before


async def test_a_cookie_upload_must_come_from_our_origin(database_url: str) -> None:
    origin = "https://renraku.example"
    async with serve(database_url, base_url=origin) as served:
        http = served.client
        assert (await cookie_login(http, "nurse.sato")).status_code == 200
        assert http.cookies.get("__Host-renraku_session")
        before = await rows(served.runtime)
        refused(await post_photo(http, jpeg()), 403, "FORBIDDEN")
        evil = {"Origin": "https://evil.example"}
        refused(await post_photo(http, jpeg(), headers=evil), 403, "FORBIDDEN")
        assert await rows(served.runtime) == before
        ours = await post_photo(http, jpeg(), headers={"Origin": origin})
        assert ours.status_code == 201
        # Reading it back with the cookie needs no Origin (an <img> sends none).
        assert (await http.get(f"/uploads/{ours.json()['id']}")).status_code == 200


@pytest.mark.parametrize("username", ["manager.gamagori", "planner.gamagori", "operator"])
async def test_accounts_outside_care_teams_cannot_upload(
    gql: GraphQLClient, http: AsyncClient, runtime: Runtime, username: str
) -> None:
    client = await gql.login(username)
    before = await rows(runtime)
    refused(await post_photo(http, jpeg(), token=client.token), 403, "FORBIDDEN")
    assert await rows(runtime) == before


async def test_family_members_may_upload(gql: GraphQLClient, http: AsyncClient) -> None:
    family = await gql.login("family.ito")
    assert (await post_photo(http, jpeg(), token=family.token)).status_code == 201


async def test_uploads_past_the_hourly_allowance_are_rate_limited(database_url: str) -> None:
    async with serve(database_url, upload_per_hour=2) as served:
        nurse = await GraphQLClient(served.client).login("nurse.sato")
        first = await uploaded(served.client, nurse.token, jpeg())
        await uploaded(served.client, nurse.token, jpeg())
        before = await rows(served.runtime)
        response = await post_photo(served.client, jpeg(), token=nurse.token)
        refused(response, 429, "RATE_LIMITED")
        assert int(response.headers["Retry-After"]) > 0
        assert await rows(served.runtime) == before
        # Another account has its own allowance; an hour later the first upload no longer counts.
        doctor = await GraphQLClient(served.client).login("dr.suzuki")
        await uploaded(served.client, doctor.token, jpeg())
        await age_upload(served.runtime, upload_pk(first), hours=2)
        await uploaded(served.client, nurse.token, jpeg())


# --- attaching and reading ------------------------------------------------------------------


async def test_a_post_takes_only_its_authors_fresh_uploads(
    gql: GraphQLClient, http: AsyncClient, runtime: Runtime
) -> None:
    patient = encode_id("Patient", await patient_pk(runtime, "pt-ito-haru"))
    nurse = await gql.login("nurse.sato")
    doctor = await gql.login("dr.suzuki")
    theirs = await uploaded(http, nurse.token, jpeg())
    before = await rows(runtime)
    result = await doctor.execute(
        CREATE,
        {
            "input": {
                "patientId": patient,
                "clientId": "photo-1",
                "category": "SKIN",
                "uploadIds": [theirs],
            }
        },
    )
    assert error_codes(result) == ["BAD_USER_INPUT"]
    assert result["errors"][0]["extensions"]["field"] == "uploadIds"
    assert await rows(runtime) == before

    post = await post_with(nurse, patient, theirs, family=False, client_id="photo-1")
    (photo,) = post["photos"]
    assert photo == {
        "id": theirs,
        "url": f"/uploads/{theirs}",
        "thumbnailUrl": f"/uploads/{theirs}/thumbnail",
        "width": 40,
        "height": 20,
        "contentType": "image/jpeg",
    }
    row = await upload_row(runtime, upload_pk(theirs))
    assert row is not None and row.post_id == decode_id("Post", str(post["id"]))


async def test_photos_are_not_found_for_anyone_who_may_not_read_them(
    gql: GraphQLClient, http: AsyncClient, runtime: Runtime
) -> None:
    patient = encode_id("Patient", await patient_pk(runtime, "pt-ito-haru"))
    nurse = await gql.login("nurse.sato")
    attached = await uploaded(http, nurse.token, jpeg())
    post = await post_with(nurse, patient, attached, family=True, client_id="photo-2")
    loose = await uploaded(http, nurse.token, jpeg())
    outsider = await gql.login("nurse.kimura")  # a nurse of another municipality
    colleague = await gql.login("dr.suzuki")  # on the team, but the upload is not on a post yet
    manager = await gql.login("manager.gamagori")

    async def get(path: str, token: str | None) -> Response:
        return await http.get(path, headers={"Authorization": f"Bearer {token}"})

    missing = await get(f"/uploads/{encode_id('Upload', 999_999)}", nurse.token)
    assert missing.status_code == 404
    hidden = [
        await get(f"/uploads/{attached}", outsider.token),
        await get(f"/uploads/{attached}/thumbnail", outsider.token),
        await get(f"/uploads/{attached}", manager.token),
        await get(f"/uploads/{loose}", colleague.token),
        await get("/uploads/%25%25%25", nurse.token),
        await get(f"/uploads/{post['id']}", nurse.token),  # a Post id, not an Upload id
        await get(f"/uploads/{'A' * 5000}", nurse.token),
    ]
    for response in hidden:
        assert response.status_code == 404
        assert response.content == missing.content
        assert "image" not in response.headers["content-type"]
    assert (await get(f"/uploads/{attached}", colleague.token)).status_code == 200
    assert (await http.get(f"/uploads/{attached}")).status_code == 401


async def test_family_see_the_photos_of_family_posts_only(
    gql: GraphQLClient, http: AsyncClient, runtime: Runtime
) -> None:
    patient = encode_id("Patient", await patient_pk(runtime, "pt-ito-haru"))
    nurse = await gql.login("nurse.sato")
    shared = await uploaded(http, nurse.token, jpeg())
    clinical = await uploaded(http, nurse.token, png())
    shared_post = await post_with(nurse, patient, shared, family=True, client_id="fam-1")
    clinical_post = await post_with(nurse, patient, clinical, family=False, client_id="pro-1")

    family = await gql.login("family.ito")
    seen = await photos_by_post(family, patient)
    assert seen[str(shared_post["id"])] == [{"id": shared, "url": f"/uploads/{shared}"}]
    assert str(clinical_post["id"]) not in seen
    assert all(photo["id"] != clinical for photos in seen.values() for photo in photos)
    auth = {"Authorization": f"Bearer {family.token}"}
    assert (await http.get(f"/uploads/{shared}", headers=auth)).status_code == 200
    assert (await http.get(f"/uploads/{shared}/thumbnail", headers=auth)).status_code == 200
    assert (await http.get(f"/uploads/{clinical}", headers=auth)).status_code == 404
    assert (await http.get(f"/uploads/{clinical}/thumbnail", headers=auth)).status_code == 404

    doctor = await gql.login("dr.suzuki")
    seen = await photos_by_post(doctor, patient)
    assert seen[str(clinical_post["id"])] == [{"id": clinical, "url": f"/uploads/{clinical}"}]
    assert seen[str(shared_post["id"])] == [{"id": shared, "url": f"/uploads/{shared}"}]


async def test_each_photo_request_leaves_one_read_or_deny_record(
    gql: GraphQLClient, http: AsyncClient, runtime: Runtime
) -> None:
    pid = await patient_pk(runtime, "pt-ito-haru")
    nurse = await gql.login("nurse.sato")
    photo = await uploaded(http, nurse.token, jpeg())
    await post_with(nurse, encode_id("Patient", pid), photo, family=False, client_id="aud-1")
    doctor = await gql.login("dr.suzuki")
    outsider = await gql.login("nurse.kimura")

    before = await last_id(runtime)
    response = await http.get(
        f"/uploads/{photo}", headers={"Authorization": f"Bearer {doctor.token}"}
    )
    assert response.status_code == 200
    (record,) = await records_after(runtime, before, username="dr.suzuki")
    assert (record.action, record.decision, record.object_ids) == ("read", "allow", [pid])
    assert record.detail["operation"] == "upload"
    assert "timeline" in record.detail["objects"]
    assert record.detail["basis"] == {"member": [pid]}

    before = await last_id(runtime)
    thumb = f"/uploads/{photo}/thumbnail"
    response = await http.get(thumb, headers={"Authorization": f"Bearer {outsider.token}"})
    assert response.status_code == 404
    (record,) = await records_after(runtime, before, username="nurse.kimura")
    assert (record.action, record.decision, record.object_ids) == ("read", "deny", [pid])
    assert record.detail["operation"] == "upload.thumbnail"


async def test_a_retracted_posts_photos_are_gone(
    gql: GraphQLClient, http: AsyncClient, runtime: Runtime
) -> None:
    patient = encode_id("Patient", await patient_pk(runtime, "pt-ito-haru"))
    nurse = await gql.login("nurse.sato")
    photo = await uploaded(http, nurse.token, jpeg())
    post = await post_with(nurse, patient, photo, family=False, client_id="ret-1")
    auth = {"Authorization": f"Bearer {nurse.token}"}
    assert (await http.get(f"/uploads/{photo}", headers=auth)).status_code == 200
    await retract(runtime, decode_id("Post", str(post["id"])))
    result = await nurse.execute(POST, {"id": post["id"]})
    assert result["data"]["post"]["retractedAt"] is not None
    assert result["data"]["post"]["photos"] == []
    assert (await http.get(f"/uploads/{photo}", headers=auth)).status_code == 404


# --- cleanup --------------------------------------------------------------------------------


async def test_cleanup_removes_only_old_uploads_no_post_took(
    gql: GraphQLClient, http: AsyncClient, runtime: Runtime
) -> None:
    assert {j.name: j.every_seconds for j in jobs.all_jobs()}["upload-cleanup"] == 3600
    patient = encode_id("Patient", await patient_pk(runtime, "pt-ito-haru"))
    nurse = await gql.login("nurse.sato")
    existing = set(await upload_ids(runtime))
    old_loose, old_posted, fresh, nearly = [
        upload_pk(await uploaded(http, nurse.token, jpeg())) for _ in range(4)
    ]
    await post_with(
        nurse, patient, encode_id("Upload", old_posted), family=False, client_id="keep-1"
    )
    for pk, hours in ((old_loose, 30), (old_posted, 30), (nearly, 23)):
        await age_upload(runtime, pk, hours=hours)
    before = await last_id(runtime)

    assert await jobs.run_once(runtime, [uploads.job()]) == {"upload-cleanup": 1}
    assert set(await upload_ids(runtime)) == existing | {old_posted, fresh, nearly}
    assert await jobs.run_once(runtime, [uploads.job()]) == {"upload-cleanup": 0}
    async with runtime.db.session() as session:
        (record,) = (
            await session.exec(
                select(AuditRecord).where(
                    col(AuditRecord.id) > before, AuditRecord.action == "feed.uploads_removed"
                )
            )
        ).all()
    assert (record.actor_kind, record.object_type, record.object_ids) == (
        "system",
        "upload",
        [old_loose],
    )
