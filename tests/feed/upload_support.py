"""For the photo tests: images made with Pillow in the test, uploads over HTTP, row snapshots."""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
from PIL import ExifTags, Image, ImageCms
from sqlalchemy import select as core_select
from sqlalchemy import update
from sqlmodel import col, select

from renraku.audit.models import AuditRecord
from renraku.feed.models import Post, Upload
from renraku.ids import decode_id
from renraku.runtime import Runtime
from renraku.tables import table_of
from renraku.timeutil import utcnow

RED = (255, 0, 0)
BLUE = (0, 0, 255)
# Somewhere in Gamagori: what a phone's GPS writes into a photo taken in a patient's home.
GPS = {
    ExifTags.GPS.GPSLatitudeRef: "N",
    ExifTags.GPS.GPSLatitude: (34.0, 46.0, 31.8),
    ExifTags.GPS.GPSLongitudeRef: "E",
    ExifTags.GPS.GPSLongitude: (137.0, 10.0, 48.0),
}
COMMENT = b"patient-home-comment"
XMP = b'<x:xmpmeta xmlns:x="adobe:ns:meta/">patient-home-xmp</x:xmpmeta>'
# Pieces of metadata that must not be found anywhere in a stored photo.
LEAKS = (b"Exif", COMMENT, b"patient-home-xmp", b"acsp", b"ns.adobe.com")


def halves(size: tuple[int, int] = (40, 20)) -> Image.Image:
    """Red on the left half, blue on the right: shows which way a photo was turned."""
    image = Image.new("RGB", size, BLUE)
    image.paste(RED, (0, 0, size[0] // 2, size[1]))
    return image


def srgb_profile() -> bytes:
    profile: bytes = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    return profile


def jpeg_with_metadata(image: Image.Image, *, orientation: int = 1) -> bytes:
    """A JPEG as a phone writes it: EXIF orientation and GPS, XMP, an ICC profile, a comment."""
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = orientation
    exif[ExifTags.Base.GPSInfo] = GPS
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif, icc_profile=srgb_profile(), comment=COMMENT, xmp=XMP)
    return out.getvalue()


def encode(image: Image.Image, kind: str, **params: Any) -> bytes:
    out = io.BytesIO()
    image.save(out, kind, **params)
    return out.getvalue()


def heic(image: Image.Image, *, orientation: int = 1) -> bytes:
    """An HEIC as a phone writes it, with orientation and GPS in EXIF."""
    import pillow_heif

    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = orientation
    exif[ExifTags.Base.GPSInfo] = GPS
    out = io.BytesIO()
    pillow_heif.from_pillow(image).save(out, quality=80, exif=exif.tobytes())
    return out.getvalue()


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_claiming(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims `width` x `height` pixels and whose data is not deflate.

    Decoding it fails (400), so a 413 for it shows it was refused before decoding.
    """
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", b"not deflate data")
        + _chunk(b"IEND", b"")
    )


def opened(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def upload_pk(global_id: str) -> int:
    return decode_id("Upload", global_id)


async def post_photo(
    client: httpx.AsyncClient,
    data: bytes,
    *,
    token: str | None = None,
    filename: str = "photo.jpg",
    content_type: str = "image/jpeg",
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    sent = dict(headers or {})
    if token is not None:
        sent["Authorization"] = f"Bearer {token}"
    files = {"file": (filename, data, content_type)}
    return await client.post("/uploads", files=files, headers=sent)


def multipart(data: bytes, *, boundary: str = "renraku-test-boundary") -> tuple[bytes, str]:
    """A multipart body with one `file` field, built by hand (for streamed and broken bodies)."""
    body = (
        (
            f"--{boundary}\r\n"
            'Content-Disposition: form-data; name="file"; filename="photo.jpg"\r\n'
            "Content-Type: image/jpeg\r\n\r\n"
        ).encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return body, f"multipart/form-data; boundary={boundary}"


class CountingBody:
    """A request body sent in chunks, remembering how many the server asked for."""

    def __init__(self, body: bytes, chunk: int = 64 * 1024) -> None:
        self.chunks = [body[i : i + chunk] for i in range(0, len(body), chunk)]
        self.sent = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for piece in self.chunks:
            self.sent += 1
            yield piece


async def rows(runtime: Runtime) -> dict[str, list[tuple[Any, ...]]]:
    """Every upload and post, and the audit records of changes: what a refusal must not move."""
    found: dict[str, list[tuple[Any, ...]]] = {}
    async with runtime.db.session() as session:
        for model in (Upload, Post, AuditRecord):
            table = table_of(model)
            query = core_select(table).order_by(*table.primary_key.columns)
            if model is AuditRecord:
                # Reads and refusals are audited per request on purpose; changes are the point.
                query = query.where(table.c.action.not_in(("read", "write")))
            found[table.name] = [
                tuple(r) for r in (await (await session.connection()).execute(query)).all()
            ]
    return found


async def upload_row(runtime: Runtime, pk: int) -> Upload | None:
    async with runtime.db.session() as session:
        return await session.get(Upload, pk)


async def age_upload(runtime: Runtime, pk: int, *, hours: float) -> None:
    """Move an upload's creation `hours` into the past (instead of waiting)."""
    async with runtime.db.transaction() as session:
        await session.exec(
            update(Upload)
            .where(col(Upload.id) == pk)
            .values(created_at=utcnow() - timedelta(hours=hours))
        )


async def retract(runtime: Runtime, post_pk: int) -> None:
    """Mark a post retracted in place (what the retraction mutation leaves behind)."""
    async with runtime.db.transaction() as session:
        await session.exec(
            update(Post).where(col(Post.id) == post_pk).values(retracted_at=utcnow())
        )


async def upload_ids(runtime: Runtime) -> list[int]:
    async with runtime.db.session() as session:
        found = (await session.exec(select(Upload.id).order_by(col(Upload.id)))).all()
    return [i for i in found if i is not None]
