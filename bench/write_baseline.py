"""The write baseline of bench/feed.py's "through the API" row: a bare Starlette endpoint, in a
process of its own, served by uvicorn as `renraku serve` is.

It takes createPost's JSON as our /graphql does (the query is not parsed: only the variables'
`input` is read), looks up the bearer token's session row with its user as ours does (live,
active), and writes the rows ours writes for a post in one transaction with plain SQL through
the database's own async driver (aiosqlite, asyncpg): the post, its audit record chained by hash
to the previous one with the record's patient index row, and its feed event numbered after the
last. No GraphQL, no ORM, no access check, no live feed. Appends are serialised as ours are
(SQLite: BEGIN IMMEDIATE behind one writer; PostgreSQL: a transaction advisory lock), so the audit
chain it writes verifies like ours.

    python bench/write_baseline.py PORT DATABASE_URL
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import sys
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import aiosqlite
import asyncpg
import uvicorn
from sqlalchemy.engine import make_url
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

GENESIS = "0" * 64
# Any constant: one lock serialises both the audit chain and the feed's ids here.
LOCK = 0x52454E42
IDLE = timedelta(hours=12)  # Settings.session_idle_minutes' default
ACTION = "feed.post_created"
SESSION = """
SELECT s.id, s.last_seen_at, s.expires_at, s.revoked_at, u.id, u.kind, u.active
FROM authsession s JOIN app_user u ON u.id = s.user_id WHERE s.token_hash = {0}"""


def digest(fields: dict[str, Any]) -> str:
    """The audit record's hash, as renraku.audit.chain computes it."""
    body = {**fields, "at": fields["at"].isoformat(), "object_ids": list(fields["object_ids"])}
    canonical = json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def global_id(type_name: str, pk: int) -> str:
    return base64.urlsafe_b64encode(f"{type_name}:{pk}".encode()).decode().rstrip("=")


def local_id(global_id: str) -> int:
    padded = global_id + "=" * (-len(global_id) % 4)
    return int(base64.urlsafe_b64decode(padded).decode().split(":", 1)[1])


class Store(Protocol):
    async def user_of(self, token_hash: str) -> tuple[int, str] | None: ...

    async def write(self, actor: tuple[int, str], draft: dict[str, Any]) -> int: ...

    async def close(self) -> None: ...


def live(row: tuple[Any, ...], now: datetime) -> tuple[int, str] | None:
    """(user id, kind) if the session row is live and its user active."""
    _, last_seen, expires, revoked, user_id, kind, active = row
    if revoked is not None or expires <= now or last_seen + IDLE <= now or not active:
        return None
    return user_id, kind


def audit_row(
    actor: tuple[int, str], post_id: int, draft: dict[str, Any], last: tuple[int, str] | None
) -> dict[str, Any]:
    last_id, prev_hash = last or (0, GENESIS)
    fields: dict[str, Any] = {
        "id": last_id + 1,
        "at": datetime.now(UTC),
        "actor_id": actor[0],
        "actor_kind": actor[1],
        "action": ACTION,
        "object_type": "patient",
        "object_ids": [draft["patient_id"]],
        "decision": "allow",
        "reason": "",
        "detail": {
            "post_id": post_id,
            "category": draft["category"],
            "urgent": draft["urgent"],
        },
        "prev_hash": prev_hash,
    }
    fields["hash"] = digest(fields)
    return fields


# The rows createPost writes, the same for both databases ("?" becomes "$1", "$2", ... for
# asyncpg: numbered()); times go in as each driver takes them.
POST = (
    "INSERT INTO post (patient_id, author_id, client_id, category, body, vitals, vitals_flags, "
    "urgent, visible_to_family, created_at, revision, retract_reason) "
    "VALUES (?, ?, ?, ?, ?, 'null', '[]', ?, ?, ?, 1, '')"
)
CHAIN_END = "SELECT id, hash FROM auditrecord ORDER BY id DESC LIMIT 1"
AUDIT = (
    "INSERT INTO auditrecord (id, at, actor_id, actor_kind, action, object_type, object_ids, "
    "decision, reason, detail, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
SUBJECT = "INSERT INTO auditsubject (audit_id, patient_id) VALUES (?, ?)"
EVENT = (
    "INSERT INTO feedevent (id, patient_id, kind, audience, post_id, actor_id, created_at) "
    "SELECT coalesce(max(id), 0) + 1, ?, ?, ?, ?, ?, ? FROM feedevent"
)


def numbered(sql: str) -> str:
    """`sql` with asyncpg's placeholders."""
    head, *rest = sql.split("?")
    return head + "".join(f"${n}{part}" for n, part in enumerate(rest, start=1))


Stamp = Callable[[datetime], Any]


def same(at: datetime) -> datetime:
    return at


def post_params(actor: tuple[int, str], draft: dict[str, Any], stamp: Stamp) -> tuple[Any, ...]:
    return (
        draft["patient_id"],
        actor[0],
        draft["client_id"],
        draft["category"],
        draft["body"],
        draft["urgent"],
        draft["visible_to_family"],
        stamp(datetime.now(UTC)),
    )


def audit_params(record: dict[str, Any], stamp: Stamp) -> tuple[Any, ...]:
    return (
        record["id"],
        stamp(record["at"]),
        record["actor_id"],
        record["actor_kind"],
        record["action"],
        record["object_type"],
        json.dumps(record["object_ids"]),
        record["decision"],
        record["reason"],
        json.dumps(record["detail"]),
        record["prev_hash"],
        record["hash"],
    )


def event_params(
    actor: tuple[int, str], draft: dict[str, Any], post_id: int, stamp: Stamp
) -> tuple[Any, ...]:
    return (
        draft["patient_id"],
        ACTION,
        "team" if draft["visible_to_family"] else "professionals",
        post_id,
        actor[0],
        stamp(datetime.now(UTC)),
    )


def naive(at: datetime) -> str:
    """A time as SQLAlchemy stores it on SQLite (UTC, no offset)."""
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def parsed(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


class SQLite:
    def __init__(self, path: str) -> None:
        self.path = path
        # SQLite takes one writer at a time: this process's writers queue here.
        self.writers = asyncio.Lock()

    async def open(self) -> None:
        self.reader = await self._connect()
        self.writer = await self._connect()

    async def _connect(self) -> aiosqlite.Connection:
        conn = await aiosqlite.connect(self.path, isolation_level=None)
        for pragma in (
            "journal_mode=WAL",
            "synchronous=NORMAL",
            "busy_timeout=10000",
            "foreign_keys=ON",
        ):
            await conn.execute(f"PRAGMA {pragma}")
        return conn

    async def user_of(self, token_hash: str) -> tuple[int, str] | None:
        rows = list(await self.reader.execute_fetchall(SESSION.format("?"), (token_hash,)))
        if not rows:
            return None
        row = list(rows[0])
        for k in (1, 2, 3):
            row[k] = None if row[k] is None else parsed(row[k])
        return live(tuple(row), datetime.now(UTC))

    async def write(self, actor: tuple[int, str], draft: dict[str, Any]) -> int:
        db = self.writer
        async with self.writers:
            await db.execute("BEGIN IMMEDIATE")
            try:
                (post_id,) = await db.execute_insert(POST, post_params(actor, draft, naive)) or (
                    None,
                )
                assert post_id is not None
                last = await db.execute_fetchall(CHAIN_END)
                end = next(iter(last), None)
                record = audit_row(actor, post_id, draft, None if end is None else (end[0], end[1]))
                await db.execute(AUDIT, audit_params(record, naive))
                await db.execute(SUBJECT, (record["id"], draft["patient_id"]))
                await db.execute(EVENT, event_params(actor, draft, post_id, naive))
                await db.execute("COMMIT")
            except BaseException:
                await db.execute("ROLLBACK")
                raise
        return int(post_id)

    async def close(self) -> None:
        await self.reader.close()
        await self.writer.close()


class PostgreSQL:
    def __init__(self, url: str) -> None:
        self.url = url

    async def open(self) -> None:
        self.pool = await asyncpg.create_pool(self.url, min_size=10, max_size=10)

    async def user_of(self, token_hash: str) -> tuple[int, str] | None:
        row = await self.pool.fetchrow(SESSION.format("$1"), token_hash)
        return None if row is None else live(tuple(row), datetime.now(UTC))

    async def write(self, actor: tuple[int, str], draft: dict[str, Any]) -> int:
        async with self.pool.acquire() as db, db.transaction():
            post_id: int = await db.fetchval(
                numbered(POST) + " RETURNING id", *post_params(actor, draft, same)
            )
            await db.execute("SELECT pg_advisory_xact_lock($1)", LOCK)
            last = await db.fetchrow(CHAIN_END)
            record = audit_row(actor, post_id, draft, None if last is None else (last[0], last[1]))
            await db.execute(numbered(AUDIT), *audit_params(record, same))
            await db.execute(numbered(SUBJECT), record["id"], draft["patient_id"])
            await db.execute(numbered(EVENT), *event_params(actor, draft, post_id, same))
        return post_id

    async def close(self) -> None:
        await self.pool.close()


def store_for(database_url: str) -> SQLite | PostgreSQL:
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        assert url.database is not None
        return SQLite(url.database)
    return PostgreSQL(url.set(drivername="postgresql").render_as_string(hide_password=False))


def refused(code: str, status: int = 200) -> Response:
    return JSONResponse({"data": None, "errors": [{"extensions": {"code": code}}]}, status)


def build(database_url: str) -> Starlette:
    store = store_for(database_url)

    async def create_post(request: Request) -> Response:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            return refused("UNAUTHENTICATED")
        actor = await store.user_of(hashlib.sha256(token.encode()).hexdigest())
        if actor is None:
            return refused("UNAUTHENTICATED")
        given = json.loads(await request.body())["variables"]["input"]
        draft = {
            "patient_id": local_id(given["patientId"]),
            "client_id": given["clientId"],
            "category": given["category"].lower(),
            "body": given.get("body", ""),
            "urgent": bool(given.get("urgent", False)),
            "visible_to_family": bool(given.get("visibleToFamily", False)),
        }
        post_id = await store.write(actor, draft)
        return JSONResponse({"data": {"createPost": {"id": global_id("Post", post_id)}}})

    async def healthz(_request: Request) -> Response:
        return JSONResponse({"ok": True})

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        await store.open()
        yield
        await store.close()

    return Starlette(
        routes=[
            Route("/graphql", create_post, methods=["POST"]),
            Route("/healthz", healthz),
        ],
        lifespan=lifespan,
    )


if __name__ == "__main__":
    port, url = int(sys.argv[1]), sys.argv[2]
    uvicorn.run(build(url), host="127.0.0.1", port=port, log_config=None, access_log=False)
