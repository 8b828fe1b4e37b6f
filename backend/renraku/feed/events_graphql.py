"""GraphQL for the live feed: FeedEvent and the subscriptions `patientEvents` and `myEvents`.

The subscriptions are served by renraku/realtime (ws.py speaks graphql-transport-ws, hub.py fans
events out): it executes the subscription document once per event and audience with the event as
the root value, which strawberry's subscription fields hand straight to the FeedEvent type. The
resolvers below only exist so that the schema describes them; called any other way they refuse.
"""

from __future__ import annotations

from base64 import urlsafe_b64encode
from collections.abc import AsyncGenerator
from datetime import datetime
from typing import cast

import strawberry

from renraku.access.fields import with_object
from renraku.accounts.graphql import User, user_or_none
from renraku.context import Info
from renraku.errors import BadInput
from renraku.feed.events import EVENT_PREFIX
from renraku.feed.graphql import Post
from renraku.feed.models import FeedEvent as FeedEventRow
from renraku.feed.models import Post as PostRow
from renraku.ids import encode_id
from renraku.kinds import FeedEventKind
from renraku.loaders import load_now_or_later
from renraku.paging import decode_cursor

strawberry.enum(FeedEventKind)


def event_cursor(event_id: int) -> str:
    """`encode_cursor([event_id])`, spelled out: the live feed makes one per event and audience,
    and the JSON encoder cost most of it. The same string (tests compare the two)."""
    return urlsafe_b64encode(b"[%d]" % event_id).decode().rstrip("=")


def decode_event_cursor(cursor: str | None) -> int | None:
    """The event id inside an `after` cursor; BAD_USER_INPUT if it is not one of ours."""
    key = decode_cursor(cursor, types=(int,))
    if key is None:
        return None
    if key[0] < 0:
        raise BadInput("The cursor is not valid.", field="after")
    return int(key[0])


@with_object
@strawberry.type
class FeedEvent:
    row: strawberry.Private[FeedEventRow]

    @strawberry.field(description="Resume after this event: pass it as `after` when resubscribing.")
    def cursor(self) -> str:
        assert self.row.id is not None
        return event_cursor(self.row.id)

    @strawberry.field
    def kind(self) -> FeedEventKind:
        return FeedEventKind(self.row.kind.removeprefix(EVENT_PREFIX))

    @strawberry.field
    def patient_id(self) -> strawberry.ID:
        return strawberry.ID(encode_id("Patient", self.row.patient_id))

    @strawberry.field
    def at(self) -> datetime:
        return self.row.created_at

    @strawberry.field(
        description="The post the event is about, as it was when the event was sent live (a "
        "replay sends what live subscribers received), or as it is now if no one with the same "
        "selection was listening; later changes arrive as later events."
    )
    def post(self, info: Info) -> Post | None:
        if self.row.post_id is None:
            return None
        # Possibly a coroutine, which graphql-core awaits (see load_now_or_later).
        return cast(
            "Post | None",
            load_now_or_later(info.context.loaders.posts, self.row.post_id, _post),
        )

    @strawberry.field(description="Whom a receipt or membership change is about.")
    def subject_user(self, info: Info) -> User | None:
        if self.row.subject_user_id is None:
            return None
        return cast(
            "User | None",
            load_now_or_later(info.context.loaders.users, self.row.subject_user_id, user_or_none),
        )


def _post(row: PostRow | None) -> Post | None:
    return Post(row=row) if row else None


async def _served_elsewhere() -> AsyncGenerator[FeedEvent, None]:
    raise BadInput("Subscribe over the WebSocket at /graphql (graphql-transport-ws).")
    yield  # pragma: no cover - makes this an async generator


@strawberry.type
class Subscription:
    @strawberry.subscription(
        description="A patient's notebook events. `after`: a cursor to replay from (null: live "
        "only). Ends with NOT_FOUND when the subscriber loses access to the patient."
    )
    def patient_events(
        self, patient_id: strawberry.ID, after: str | None = None
    ) -> AsyncGenerator[FeedEvent, None]:
        return _served_elsewhere()

    @strawberry.subscription(
        description="Notebook events of every patient the subscriber may read, as they happen."
    )
    def my_events(self, after: str | None = None) -> AsyncGenerator[FeedEvent, None]:
        return _served_elsewhere()
