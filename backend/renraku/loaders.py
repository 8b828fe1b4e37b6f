"""Per-request (or per-event) batch loaders of rows by id, so lists and feeds read in bulk.

The rows are loaded without any access check: callers hand out only what the actor was already
allowed to see (a post found through feed/service.py, its author).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from sqlmodel import col, select
from strawberry.dataloader import DataLoader

from renraku.access.notebook import Scope, shown, shown_filter
from renraku.accounts.models import User
from renraku.accounts.service import users_by_id
from renraku.db import Database
from renraku.feed.models import Post, PostMention
from renraku.feed.receipts import Unread, unread_by_key
from renraku.feed.uploads import PhotoInfo, list_photo_info
from renraku.overlay.models import SafetyCheck
from renraku.teams.models import Patient
from renraku.teams.service import live_patients

K = TypeVar("K")
V = TypeVar("V")
R = TypeVar("R")


def load_now_or_later(loader: DataLoader[K, V], key: K, then: Callable[[V], R]) -> R | Awaitable[R]:
    """`then` of the loaded value: at once if the loader already holds it (the live feed primes
    a batch's rows), else a coroutine that loads it. Returned by a resolver, graphql-core awaits
    the coroutine; a value ready now keeps the whole event's execution synchronous."""
    future = loader.cache_map.get(key)
    if future is not None and future.done() and not future.cancelled() and not future.exception():
        return then(future.result())

    async def later() -> R:
        return then(await loader.load(key))

    return later()


class Loaders:
    def __init__(self, db: Database, *, family: bool = False) -> None:
        self._db = db
        # For family readers: a post not shared with family is not there for them.
        self._scope = Scope.FAMILY if family else Scope.ALL
        self.posts: DataLoader[int, Post | None] = DataLoader(load_fn=self._load_posts)
        self.users: DataLoader[int, User | None] = DataLoader(load_fn=self._load_users)
        # Live (not archived) patients by id.
        self.patients: DataLoader[int, Patient | None] = DataLoader(load_fn=self._load_patients)
        # Unread counts by (user id, patient id, that user's scope on the patient): keyed by the
        # user, so one set of loaders may serve several viewers (the live feed asks for all the
        # viewers of an event at once, in one statement).
        self.unread: DataLoader[tuple[int, int, Scope], Unread] = DataLoader(
            load_fn=self._load_unread
        )
        # Photos by post id: a timeline page lists the photos of all its posts in one query.
        self.photos: DataLoader[int, list[PhotoInfo]] = DataLoader(load_fn=self._load_photos)
        # The users a post mentions, by post id.
        self.mentions: DataLoader[int, list[int]] = DataLoader(load_fn=self._load_mentions)
        # Safety checks by (incident id, patient id): a priority list page in one query.
        self.safety: DataLoader[tuple[int, int], SafetyCheck | None] = DataLoader(
            load_fn=self._load_safety
        )

    def prime_posts(self, posts: dict[int, Post]) -> None:
        """Hand the loader posts already read (a feed batch's); for family readers, those not
        shared with family are primed as missing, as a load would find them."""
        self.posts.prime_many({i: p if shown(p, self._scope) else None for i, p in posts.items()})

    async def _load_posts(self, ids: Sequence[int]) -> list[Post | None]:
        async with self._db.session() as session:
            query = select(Post).where(col(Post.id).in_(list(ids)), shown_filter(self._scope))
            rows = await session.exec(query)
            found = {row.id: row for row in rows.all()}
        return [found.get(i) for i in ids]

    async def _load_patients(self, ids: Sequence[int]) -> list[Patient | None]:
        async with self._db.session() as session:
            found = await live_patients(session, ids)
        return [found.get(i) for i in ids]

    async def _load_unread(self, keys: Sequence[tuple[int, int, Scope]]) -> list[Unread]:
        async with self._db.session() as session:
            counts = await unread_by_key(session, keys)
        return [counts[key] for key in keys]

    async def _load_photos(self, post_ids: Sequence[int]) -> list[list[PhotoInfo]]:
        async with self._db.session() as session:
            found = await list_photo_info(session, post_ids=list(post_ids))
        return [found.get(post_id, []) for post_id in post_ids]

    async def _load_mentions(self, post_ids: Sequence[int]) -> list[list[int]]:
        async with self._db.session() as session:
            rows = await session.exec(
                select(PostMention.post_id, PostMention.user_id)
                .where(col(PostMention.post_id).in_(post_ids))
                .order_by(col(PostMention.user_id))
            )
            found: dict[int, list[int]] = {}
            for post_id, user_id in rows.all():
                found.setdefault(post_id, []).append(user_id)
        return [found.get(pid, []) for pid in post_ids]

    async def _load_safety(self, keys: Sequence[tuple[int, int]]) -> list[SafetyCheck | None]:
        async with self._db.session() as session:
            rows = await session.exec(
                select(SafetyCheck).where(
                    col(SafetyCheck.incident_id).in_({i for i, _ in keys}),
                    col(SafetyCheck.patient_id).in_({p for _, p in keys}),
                )
            )
            found = {(c.incident_id, c.patient_id): c for c in rows.all()}
        return [found.get(key) for key in keys]

    async def _load_users(self, ids: Sequence[int]) -> list[User | None]:
        async with self._db.session() as session:
            found = await users_by_id(session, ids)
        return [found.get(i) for i in ids]
