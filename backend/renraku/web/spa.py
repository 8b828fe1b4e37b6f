"""The phone web app's build (mobile-web/dist, `npm run build`) served at `/`.

Files of the build are served as they are; any other path without a file extension is a client
route (/patients/..., /outbox) and gets index.html, where the app's router takes over. Every
response carries a Content-Security-Policy with no 'unsafe-inline' or 'unsafe-eval': the build
has no inline script or style, so an injected one never runs.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from starlette.requests import Request
from starlette.responses import FileResponse, PlainTextResponse, Response
from starlette.routing import Route

# connect-src 'self' covers the same-origin WebSocket (ws:/wss:) in CSP Level 3 browsers.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data: blob:",
        "connect-src 'self'",
        "worker-src 'self'",
        "manifest-src 'self'",
        "font-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
# Hashed file names never change content: cache them for good. The rest is revalidated, so a new
# build reaches phones at their next start.
IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
MEDIA_TYPES = {".webmanifest": "application/manifest+json", ".js": "text/javascript"}


def available(dist: Path) -> bool:
    return (dist / "index.html").is_file()


def routes(dist: Path) -> list[Route]:
    """The catch-all route serving `dist`; list it after every other route."""
    root = dist.resolve()

    async def serve(request: Request) -> Response:
        relative = PurePosixPath(request.path_params["path"])
        if any(part.startswith(".") for part in relative.parts):
            return _not_found()
        if relative.parts:
            found = (root / relative).resolve()
            if found.is_relative_to(root) and found.is_file():
                return _file(found, relative)
            if relative.suffix:  # a missing file, not a page
                return _not_found()
        return _file(root / "index.html", PurePosixPath("index.html"))

    return [Route("/{path:path}", serve, methods=["GET"])]


def _file(path: Path, relative: PurePosixPath) -> Response:
    immutable = relative.parts[:1] == ("assets",)
    response = FileResponse(path, media_type=MEDIA_TYPES.get(path.suffix))
    response.headers.update(SECURITY_HEADERS)
    response.headers["Cache-Control"] = IMMUTABLE if immutable else REVALIDATE
    return response


def _not_found() -> Response:
    response = PlainTextResponse("Not found.\n", status_code=404)
    response.headers.update(SECURITY_HEADERS)
    return response
