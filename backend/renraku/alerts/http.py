"""`POST /alerts`: a configured source sends one CAP or JMA document with its sender credential.

The credential is checked before a byte of the body is read; the body is read as it streams and
refused past the document limit, so the app-wide body limit leaves this path to the handler.
The answer is the `alerts import --json` object without `file`. Each source may send
`alerts_per_minute` documents in a clock minute (throttle.py's WriteLimit, counted where the
sign-in throttle counts: in memory, or in Redis shared by every worker); past that it is answered
429 with Retry-After before its body is read.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from starlette.requests import ClientDisconnect, HTTPConnection, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from renraku.accounts.http import runtime_of
from renraku.alerts.imports import REJECTED, ImportResult, Origin, import_document
from renraku.alerts.sources import source_for_token
from renraku.alerts.xml_safety import MAX_DOCUMENT_BYTES
from renraku.errors import RateLimited
from renraku.throttle import FailureStore, MemoryFailureStore, RedisFailureStore, WriteLimit

PATH = "/alerts"
_log = logging.getLogger("renraku.alerts")


def _error(status: int, code: str, message: str) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(
        {"error": {"message": message, "code": code}}, status_code=status, headers=headers
    )


class _SourceKeys:
    """The throttle's store with the keys of alert sources apart from those of accounts."""

    def __init__(self, store: FailureStore) -> None:
        self._store = store

    async def get(self, key: str) -> tuple[int, float]:
        return await self._store.get(f"alert_source:{key}")

    async def add(self, key: str, window_seconds: int) -> None:
        await self._store.add(f"alert_source:{key}", window_seconds)

    async def clear(self, key: str) -> None:
        await self._store.clear(f"alert_source:{key}")


def source_limit(conn: HTTPConnection) -> WriteLimit:
    """The app's per-source document limit, made on first use."""
    state = conn.app.state
    limit: WriteLimit | None = getattr(state, "alert_source_limit", None)
    if limit is None:
        runtime = runtime_of(conn)
        store: FailureStore = (
            RedisFailureStore(runtime.redis) if runtime.redis else MemoryFailureStore()
        )
        limit = WriteLimit(_SourceKeys(store), runtime.settings.alerts_per_minute)
        state.alert_source_limit = limit
    return limit


def _bearer(request: Request) -> str:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


async def post_alert(request: Request) -> Response:
    runtime = runtime_of(request)
    token = _bearer(request)
    source = await source_for_token(runtime.db, token) if token else None
    if source is None:
        # Nothing of the request is logged: its credential, if any, is a secret.
        _log.warning("alert refused: no valid source credential")
        return _error(401, "UNAUTHENTICATED", "Send a source's credential as a Bearer token.")
    assert source.id is not None
    try:
        await source_limit(request).take(source.id, 1)
    except RateLimited as limited:
        _log.warning("alert refused: over the source's rate", extra={"source_id": source.id})
        response = _error(429, limited.code, str(limited))
        response.headers["Retry-After"] = str(limited.retry_after)
        return response
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_DOCUMENT_BYTES:
        return _too_large()
    body = bytearray()
    try:
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_DOCUMENT_BYTES:
                return _too_large()
    except ClientDisconnect:
        return Response(status_code=400)
    origin = Origin(trusted=source.trusted, source_id=source.id, source_name=source.name)
    grace = timedelta(hours=runtime.settings.incident_grace_hours)
    result = await import_document(
        runtime.db, bytes(body), origin, incident_grace=grace, broker=runtime.broker
    )
    # Status and ids only: a document's text may name people.
    _log.info(
        "alert received",
        extra={"source_id": source.id, "status": result.status, "alert_id": result.alert_id},
    )
    return _answer(result)


def _too_large() -> JSONResponse:
    result = ImportResult(
        REJECTED, f"document: over the {MAX_DOCUMENT_BYTES} byte limit; nothing was read"
    )
    return _answer(result, status=413)


def _answer(result: ImportResult, status: int | None = None) -> JSONResponse:
    if status is None:
        status = 422 if result.status == REJECTED else 200
    return JSONResponse(
        {
            "status": result.status,
            "reason": result.reason,
            "alert_id": result.alert_id,
            "matched_patients": result.matched_patients,
        },
        status_code=status,
    )


routes = [Route(PATH, post_alert, methods=["POST"])]
