"""The phone web app's build (mobile-web/dist, `npm run build`) served at `/`.

Files of the build are served as they are, and the app's own pages (CLIENT_ROUTES, the paths
its router knows) get index.html, where the router takes over. Any other path stays unmatched (a
plain 404, counted as such). Every response carries a Content-Security-Policy with no
'unsafe-inline' or 'unsafe-eval': the build has no inline script or style, so an injected one
never runs.
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


# The paths mobile-web/src/lib/router.ts answers (and its service worker's APP_PAGES): a reload
# or a shared link on any of them must open the app.
CLIENT_ROUTES = (
    "/",
    "/home",
    "/patients",
    "/patients/{rest:path}",
    "/outbox",
    "/notices",
    "/feed",
    "/incidents",
    "/incidents/{rest:path}",
    "/safety",
)


def routes(dist: Path) -> list[Route]:
    """The app's pages and the build's files (its top-level files and folders as they are when
    the server starts); list them after every other route."""
    root = dist.resolve()
    index = root / "index.html"

    async def page(_request: Request) -> Response:
        return _file(index, PurePosixPath("index.html"))

    def folder(name: str) -> Route:
        async def serve(request: Request) -> Response:
            relative = PurePosixPath(name, request.path_params["path"])
            found = (root / relative).resolve()
            hidden = any(part.startswith(".") for part in relative.parts)
            if hidden or not found.is_relative_to(root) or not found.is_file():
                return _not_found()
            return _file(found, relative)

        return Route(f"/{name}/{{path:path}}", serve, methods=["GET"])

    def single(path: Path) -> Route:
        async def serve(_request: Request) -> Response:
            return _file(path, PurePosixPath(path.name))

        return Route(f"/{path.name}", serve, methods=["GET"])

    found: list[Route] = [Route(path, page, methods=["GET"]) for path in CLIENT_ROUTES]
    for entry in sorted(root.iterdir()):
        if entry.name.startswith(".") or entry == index:
            continue
        found.append(folder(entry.name) if entry.is_dir() else single(entry))
    return found


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
