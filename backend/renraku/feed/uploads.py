"""Photos: recognised by content, decoded within limits, re-encoded without metadata, stored.

Only decoded pixels are written back, so nothing that rode along in the file survives: EXIF
(GPS included), XMP, ICC profiles, comments, or whatever a polyglot appended after the image.
The bytes live in the database and leave it only through feed/uploads_http.py's access check.
"""

from __future__ import annotations

import asyncio
import io
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from typing import Any

from PIL import Image, ImageOps
from sqlalchemy import delete, func
from sqlalchemy.orm import load_only
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from renraku.access.actor import Actor
from renraku.access.enforcer import allowed
from renraku.access.gate import Gate
from renraku.audit import changes
from renraku.errors import BadInput, Forbidden, NotFound, RateLimited, RenrakuError
from renraku.feed import service
from renraku.feed.models import Upload
from renraku.feed.posts import UPLOAD_TTL_SECONDS
from renraku.job import Job
from renraku.runtime import Runtime
from renraku.timeutil import utcnow

JPEG_QUALITY = 85
THUMBNAIL_EDGE = 320
THUMBNAIL_QUALITY = 80
VOLUME_WINDOW = timedelta(hours=1)
# Removed a while after createPost stops accepting them, so a post never loses one it is taking.
CLEANUP_AFTER = timedelta(seconds=UPLOAD_TTL_SECONDS) + timedelta(hours=1)
CLEANUP_BATCH = 500
CLEANUP_JOB = "upload-cleanup"
CLEANUP_EVERY_SECONDS = 3600
FIELD = "file"

_JPEG = b"\xff\xd8\xff"
_PNG = b"\x89PNG\r\n\x1a\n"
_HEIC_BRANDS = frozenset({b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"hevm", b"hevs"})
# Images we recognise but do not take: told apart from "not an image" for a clearer answer.
_OTHER_PREFIXES = (b"GIF87a", b"GIF89a", b"II*\x00", b"MM\x00*", b"\x00\x00\x01\x00")
_OTHER_BRANDS = frozenset({b"avif", b"avis"})


class ImageKind(StrEnum):
    JPEG = "jpeg"
    PNG = "png"
    HEIC = "heic"
    OTHER = "other"


class UnsupportedImage(BadInput):
    """An image in a format we do not take (answered 415)."""


class TooLarge(BadInput):
    """Over a size limit, in bytes or in pixels (answered 413); refused before decoding."""


NOT_AN_IMAGE = "The file is not a photo, or it is damaged or incomplete."
ACCEPTED = "Send a JPEG, PNG or HEIC photo."


@dataclass(frozen=True)
class Photo:
    content_type: str
    width: int
    height: int
    data: bytes
    thumbnail: bytes


@dataclass(frozen=True)
class PhotoInfo:
    """What a post lists of a photo: never its bytes."""

    id: int
    width: int
    height: int
    content_type: str


def sniff(data: bytes) -> ImageKind | None:
    """The kind of image the bytes begin as, whatever the file's name or declared type says."""
    if data.startswith(_JPEG):
        return ImageKind.JPEG
    if data.startswith(_PNG):
        return ImageKind.PNG
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return ImageKind.OTHER
    if data.startswith(_OTHER_PREFIXES):
        return ImageKind.OTHER
    brands = _iso_brands(data)
    if brands & _HEIC_BRANDS:
        return ImageKind.HEIC
    if brands & _OTHER_BRANDS:
        return ImageKind.OTHER
    return None


def _iso_brands(data: bytes) -> set[bytes]:
    """The major and compatible brands of an ISO media file's leading `ftyp` box."""
    if data[4:8] != b"ftyp":
        return set()
    size = int.from_bytes(data[:4], "big")
    if not 16 <= size <= min(len(data), 4096):
        return set()
    return {data[8:12]} | {data[i : i + 4] for i in range(16, size - 3, 4)}


def process_image(data: bytes, *, max_pixels: int) -> Photo:
    """The photo re-encoded (JPEG stays JPEG, PNG stays PNG, HEIC becomes JPEG) with a thumbnail."""
    kind = sniff(data)
    if kind is None:
        raise BadInput(NOT_AN_IMAGE, field=FIELD)
    if kind is ImageKind.OTHER:
        raise UnsupportedImage(ACCEPTED, field=FIELD)
    try:
        image = _decode(kind, data, max_pixels=max_pixels)
        # Turned upright first: the orientation tag goes with the rest of the metadata.
        image = ImageOps.exif_transpose(image)
        if kind is ImageKind.PNG:
            content_type, encoded = "image/png", _png(image)
        else:
            content_type, encoded = "image/jpeg", _jpeg(image, quality=JPEG_QUALITY)
        thumb = image.copy()
        thumb.thumbnail((THUMBNAIL_EDGE, THUMBNAIL_EDGE), Image.Resampling.LANCZOS)
        thumbnail = _jpeg(thumb, quality=THUMBNAIL_QUALITY)
    except RenrakuError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        # Pillow's own guard (its limit is above ours unless configured otherwise).
        raise TooLarge(_too_many_pixels(max_pixels), field=FIELD) from None
    except Exception:
        # Decoders of hostile input fail in many ways (OSError, SyntaxError, ValueError,
        # struct.error, ...); each means the same to the client, and none is logged.
        raise BadInput(NOT_AN_IMAGE, field=FIELD) from None
    return Photo(content_type, image.width, image.height, encoded, thumbnail)


def _decode(kind: ImageKind, data: bytes, *, max_pixels: int) -> Image.Image:
    if kind is ImageKind.HEIC:
        try:
            # Imported on the first HEIC photo: an optional native library a server may lack.
            import pillow_heif
        except ImportError:
            raise UnsupportedImage(
                "This server cannot convert HEIC photos: send a JPEG or PNG.", field=FIELD
            ) from None
        heif = pillow_heif.open_heif(io.BytesIO(data), convert_hdr_to_8bit=True)
        _validate_pixels(heif.size, max_pixels)
        # libheif applies the file's rotation and mirroring while decoding.
        return heif.to_pillow()
    image = Image.open(io.BytesIO(data), formats=[kind.name])
    # Image.open reads the header only: the size is known before any pixel is decoded.
    _validate_pixels(image.size, max_pixels)
    image.load()
    return image


def _validate_pixels(size: tuple[int, int], max_pixels: int) -> None:
    if size[0] * size[1] > max_pixels:
        raise TooLarge(_too_many_pixels(max_pixels), field=FIELD)


def _too_many_pixels(max_pixels: int) -> str:
    return f"The photo has more than {max_pixels // 1_000_000} million pixels."


def _flattened(image: Image.Image) -> Image.Image:
    """RGB (or greyscale) for JPEG: transparent areas become white."""
    if image.mode in ("RGB", "L"):
        return image
    if image.has_transparency_data:
        rgba = image.convert("RGBA")
        flat = Image.new("RGB", rgba.size, (255, 255, 255))
        flat.paste(rgba, mask=rgba.getchannel("A"))
        return flat
    return image.convert("RGB")


def _jpeg(image: Image.Image, *, quality: int) -> bytes:
    flat = _flattened(image)
    # Pillow writes comments, ICC and XMP back from `info` unless it is emptied.
    flat.info = {}
    out = io.BytesIO()
    flat.save(out, "JPEG", quality=quality)
    return out.getvalue()


def _png(image: Image.Image) -> bytes:
    if image.mode not in ("L", "LA", "RGB", "RGBA"):
        # Palette and other modes carry transparency in `info`, which is emptied below.
        image = image.convert("RGBA" if image.has_transparency_data else "RGB")
    image.info = {}
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


async def _process(runtime: Runtime, data: bytes) -> Photo:
    """process_image off the event loop, a few at a time in the process (Runtime.decodes)."""
    async with runtime.decodes:
        return await asyncio.to_thread(
            process_image, data, max_pixels=runtime.settings.upload_max_pixels
        )


def may_upload(actor: Actor) -> bool:
    """Accounts that post to a care team's notebook may upload photos for it (policies/)."""
    return allowed({f"kind.{actor.kind.value}"}, "upload", "create")


async def check_volume(runtime: Runtime, *, actor: Actor) -> None:
    """RateLimited once the actor has uploaded their hourly allowance."""
    since = utcnow() - VOLUME_WINDOW
    async with runtime.db.session() as session:
        count, oldest = (
            await session.exec(
                select(func.count(), func.min(Upload.created_at)).where(
                    col(Upload.uploader_id) == actor.user_id, col(Upload.created_at) >= since
                )
            )
        ).one()
    if count >= runtime.settings.upload_per_hour:
        wait = (oldest - since).total_seconds() if oldest is not None else 60
        raise RateLimited(max(1, int(wait) + 1))


async def check_create_upload(runtime: Runtime, *, actor: Actor, data: bytes) -> Upload:
    """Store the photo in `data` for the actor, to be attached by createPost."""
    if not may_upload(actor):
        raise Forbidden
    await check_volume(runtime, actor=actor)
    photo = await _process(runtime, data)
    async with runtime.db.transaction() as session:
        return await do_create_upload(session, actor=actor, photo=photo)


async def do_create_upload(session: AsyncSession, *, actor: Actor, photo: Photo) -> Upload:
    upload = Upload(
        uploader_id=actor.user_id,
        content_type=photo.content_type,
        width=photo.width,
        height=photo.height,
        byte_size=len(photo.data),
        data=photo.data,
        thumbnail=photo.thumbnail,
    )
    session.add(upload)
    await session.flush()
    assert upload.id is not None
    await changes.record(
        session,
        actor=actor,
        action="feed.upload_created",
        object_type="upload",
        object_ids=[upload.id],
        detail={"content_type": photo.content_type, "byte_size": len(photo.data)},
    )
    return upload


async def access_upload(
    session: AsyncSession, *, gate: Gate, upload_id: int, thumbnail: bool
) -> tuple[str, bytes]:
    """The stored bytes (content type, data) if the actor may see the photo; NotFound otherwise.

    The uploader sees it until a post takes it; then whoever may read that post, while it stands.
    """
    meta = (
        await session.exec(
            select(Upload.uploader_id, Upload.post_id, Upload.content_type).where(
                col(Upload.id) == upload_id
            )
        )
    ).first()
    if meta is None:
        raise NotFound
    uploader_id, post_id, content_type = meta
    if post_id is None:
        if uploader_id != gate.actor.user_id:
            raise NotFound
    else:
        post, _ = await service.access_post(session, gate=gate, post_id=post_id)
        if post.retracted_at is not None:
            raise NotFound
    column: Any = Upload.thumbnail if thumbnail else Upload.data
    data = (await session.exec(select(column).where(col(Upload.id) == upload_id))).one()
    return ("image/jpeg" if thumbnail else content_type), bytes(data)


async def list_photo_info(
    session: AsyncSession, *, post_ids: list[int]
) -> dict[int, list[PhotoInfo]]:
    """Each post's photos in upload order, without reading any image bytes."""
    if not post_ids:
        return {}
    # The image columns stay unloaded, and touching one would raise rather than read it.
    # (getattr: SQLModel types the class attributes as their values, not as columns.)
    columns = [getattr(Upload, n) for n in ("id", "post_id", "width", "height", "content_type")]
    rows = await session.exec(
        select(Upload)
        .options(load_only(*columns, raiseload=True))
        .where(col(Upload.post_id).in_(post_ids))
        .order_by(col(Upload.id))
    )
    photos: dict[int, list[PhotoInfo]] = {}
    for row in rows.all():
        if row.post_id is not None and row.id is not None:
            photos.setdefault(row.post_id, []).append(
                PhotoInfo(
                    id=row.id, width=row.width, height=row.height, content_type=row.content_type
                )
            )
    return photos


async def remove_stale_uploads(runtime: Runtime) -> int:
    """The `upload-cleanup` job: delete uploads no post took within a day. How many went."""
    cutoff = utcnow() - CLEANUP_AFTER
    removed = 0
    while True:
        async with runtime.db.transaction() as session:
            stale = (
                select(Upload.id)
                .where(col(Upload.post_id).is_(None), col(Upload.created_at) < cutoff)
                .limit(CLEANUP_BATCH)
            )
            # RETURNING names what this round deleted, so two workers never audit the same row.
            result = await session.exec(
                delete(Upload)
                .where(col(Upload.id).in_(stale), col(Upload.post_id).is_(None))
                .returning(col(Upload.id))
            )
            ids = sorted(result.scalars().all())
            if ids:
                await changes.record(
                    session,
                    actor=None,
                    action="feed.uploads_removed",
                    object_type="upload",
                    object_ids=ids,
                )
        removed += len(ids)
        if len(ids) < CLEANUP_BATCH:
            return removed


def job() -> Job:
    return Job(name=CLEANUP_JOB, every_seconds=CLEANUP_EVERY_SECONDS, run=remove_stale_uploads)
