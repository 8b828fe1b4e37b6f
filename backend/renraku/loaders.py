"""Per-request (or per-event) batch loaders of rows by id, so lists and feeds read in bulk.

The rows are loaded without any access check: callers hand out only what the actor was already
allowed to see (a post found through feed/service.py, its author).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from sqlmodel import col, select
from strawberry.dataloader import DataLoader

from renraku.accounts.models import User
from renraku.accounts.service import users_by_id
from renraku.db import Database
from renraku.feed.models import Post

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
        self._family = family
        self.posts: DataLoader[int, Post | None] = DataLoader(load_fn=self._load_posts)
        self.users: DataLoader[int, User | None] = DataLoader(load_fn=self._load_users)

    def prime_posts(self, posts: dict[int, Post]) -> None:
        """Hand the loader posts already read (a feed batch's); for family readers, those not
        shared with family are primed as missing, as a load would find them."""
        self.posts.prime_many(
            {i: p if p.visible_to_family or not self._family else None for i, p in posts.items()}
        )

    async def _load_posts(self, ids: Sequence[int]) -> list[Post | None]:
        async with self._db.session() as session:
            query = select(Post).where(col(Post.id).in_(list(ids)))
            if self._family:
                query = query.where(col(Post.visible_to_family).is_(True))
            rows = await session.exec(query)
            found = {row.id: row for row in rows.all()}
        return [found.get(i) for i in ids]

    async def _load_users(self, ids: Sequence[int]) -> list[User | None]:
        async with self._db.session() as session:
            found = await users_by_id(session, ids)
        return [found.get(i) for i in ids]
