"""The /uploads routes: `POST /uploads` takes one photo, `GET /uploads/{id}[/thumbnail]` serves it.

Signed in as for /graphql (a bearer token, or the session cookie with our Origin on POST). The
body is read as it streams, up to the configured limit, into memory only: no temporary file ever
holds a photo. Anything a reader may not see answers exactly like an id that does not exist.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from renraku.access.actor import Actor
from renraku.access.gate import Gate
from renraku.accounts.http import error_response, resolve_actor, runtime_of
from renraku.errors import (
    BadInput,
    Forbidden,
    NotFound,
    RateLimited,
    RenrakuError,
    Unauthenticated,
)
from renraku.feed import uploads
from renraku.feed.uploads import FIELD, TooLarge, UnsupportedImage
from renraku.ids import decode_id, encode_id

if TYPE_CHECKING:
    from python_multipart.multipart import MultipartCallbacks

# The app-wide body limit leaves this path to the handler below (web/limits.py).
PATH = "/uploads"
# Room for the multipart framing around the file (boundaries, part headers).
MULTIPART_OVERHEAD = 16 * 1024
MAX_PART_HEADERS = 8
SERVED_HEADERS = {
    "Cache-Control": "private, max-age=300",
    "X-Content-Type-Options": "nosniff",
    "Content-Disposition": "inline",
    "Content-Security-Policy": "default-src 'none'",
}
SEND_ONE_FILE = "Send multipart/form-data with one field, file, holding the photo."
_STATUS = {
    "UNAUTHENTICATED": 401,
    "FORBIDDEN": 403,
    "NOT_FOUND": 404,
    "BAD_USER_INPUT": 400,
    "RATE_LIMITED": 429,
}


def status_of(error: RenrakuError) -> int:
    if isinstance(error, TooLarge):
        return 413
    if isinstance(error, UnsupportedImage):
        return 415
    return _STATUS.get(error.code, 400)


def failure(error: RenrakuError) -> Response:
    response = error_response(error, status_of(error))
    if isinstance(error, RateLimited):
        response.headers["Retry-After"] = str(error.retry_after)
    return response


async def _actor(request: Request) -> Actor:
    """The signed-in actor; Unauthenticated, or Forbidden for a cookie from another origin."""
    actor = await resolve_actor(request)
    if actor is None:
        raise Unauthenticated
    return actor


class _FilePart:
    """Collects the one `file` part of a multipart body, refusing anything else as it streams."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.data = bytearray()
        self.parts = 0
        self.ended = False
        self._header_name = bytearray()
        self._header_value = bytearray()
        self._disposition = b""

    def callbacks(self) -> MultipartCallbacks:
        return {
            "on_part_begin": self._part_begin,
            "on_header_field": self._header_field,
            "on_header_value": self._header_value_part,
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished,
            "on_part_data": self._part_data,
            "on_end": self._end,
        }

    def _part_begin(self) -> None:
        self.parts += 1
        if self.parts > 1:
            raise BadInput(SEND_ONE_FILE, field=FIELD)
        self._disposition = b""

    def _header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_name += data[start:end]

    def _header_value_part(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def _header_end(self) -> None:
        if bytes(self._header_name).lower() == b"content-disposition":
            self._disposition = bytes(self._header_value)
        self._header_name.clear()
        self._header_value.clear()

    def _headers_finished(self) -> None:
        kind, options = parse_options_header(self._disposition)
        # A file part has a filename; the declared content type is ignored (sniffed instead).
        if kind != b"form-data" or options.get(b"name") != FIELD.encode():
            raise BadInput(SEND_ONE_FILE, field=FIELD)
        if b"filename" not in options:
            raise BadInput(SEND_ONE_FILE, field=FIELD)

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        self.data += data[start:end]
        if len(self.data) > self.max_bytes:
            raise TooLarge(too_large(self.max_bytes), field=FIELD)

    def _end(self) -> None:
        self.ended = True


def too_large(max_bytes: int) -> str:
    return f"The photo is larger than {max_bytes / (1024 * 1024):.3g} MB."


async def read_file_field(request: Request, *, max_bytes: int) -> bytes:
    """The bytes of the body's one `file` field, read as they stream and never past the limit."""
    kind, options = parse_options_header(request.headers.get("content-type", ""))
    boundary = options.get(b"boundary")
    if kind != b"multipart/form-data" or not boundary:
        raise BadInput(SEND_ONE_FILE, field=FIELD)
    limit = max_bytes + MULTIPART_OVERHEAD
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise TooLarge(too_large(max_bytes), field=FIELD)
    part = _FilePart(max_bytes)
    try:
        parser = MultipartParser(
            boundary,
            part.callbacks(),
            max_header_count=MAX_PART_HEADERS,
        )
        received = 0
        async for chunk in request.stream():
            received += len(chunk)
            if received > limit:
                raise TooLarge(too_large(max_bytes), field=FIELD)
            parser.write(chunk)
        parser.finalize()
    except FormParserError:
        raise BadInput(SEND_ONE_FILE, field=FIELD) from None
    except ClientDisconnect:
        raise BadInput(SEND_ONE_FILE, field=FIELD) from None
    if not part.ended or part.parts != 1 or not part.data:
        raise BadInput(SEND_ONE_FILE, field=FIELD)
    return bytes(part.data)


async def create_upload(request: Request) -> Response:
    runtime = runtime_of(request)
    try:
        actor = await _actor(request)
        if not uploads.may_upload(actor):
            raise Forbidden
        # Counted before the body is read: a client over its allowance sends nothing more.
        await uploads.check_volume(runtime, actor=actor)
        data = await read_file_field(request, max_bytes=runtime.settings.upload_max_bytes)
        upload = await uploads.check_create_upload(runtime, actor=actor, data=data)
    except RenrakuError as error:
        return failure(error)
    assert upload.id is not None
    return JSONResponse(
        {
            "id": encode_id("Upload", upload.id),
            "width": upload.width,
            "height": upload.height,
            "contentType": upload.content_type,
        },
        status_code=201,
    )


async def _serve(request: Request, *, thumbnail: bool) -> Response:
    runtime = runtime_of(request)
    try:
        actor = await _actor(request)
    except RenrakuError as error:
        return failure(error)
    gate = Gate(actor, runtime.db)
    try:
        upload_id = decode_id("Upload", request.path_params["id"])
        async with runtime.db.session() as session:
            content_type, data = await uploads.access_upload(
                session, gate=gate, upload_id=upload_id, thumbnail=thumbnail
            )
    except RenrakuError:
        # Missing, malformed, another's, on a post the reader may not see: all the same.
        return failure(NotFound())
    finally:
        # One read (or deny) record for the request, as for a GraphQL operation.
        if gate.has_touched:
            operation = "upload.thumbnail" if thumbnail else "upload"
            await gate.flush(runtime.read_auditor, operation=operation)
    return Response(data, media_type=content_type, headers=SERVED_HEADERS)


async def serve_upload(request: Request) -> Response:
    return await _serve(request, thumbnail=False)


async def serve_thumbnail(request: Request) -> Response:
    return await _serve(request, thumbnail=True)


routes = [
    Route(PATH, create_upload, methods=["POST"]),
    Route("/uploads/{id}", serve_upload, methods=["GET"]),
    Route("/uploads/{id}/thumbnail", serve_thumbnail, methods=["GET"]),
]
