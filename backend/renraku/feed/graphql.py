"""GraphQL for the notebook: Post and its versions, and the timeline behind `Patient.timeline`.

A Post object is only ever built after its reader was allowed to see it (feed/service.py), so its
plain fields need no further check; receipts are checked per field (`post.receipts`).
"""

from __future__ import annotations

from datetime import datetime
from functools import cache
from typing import TYPE_CHECKING, Annotated, cast

import strawberry
from strawberry import LazyType

from renraku.access.fields import CheckedBy, Requires, with_object
from renraku.access.notebook import timeline_scope
from renraku.access.vocabulary import Act, Obj
from renraku.accounts.graphql import User, user_or_none
from renraku.context import Info
from renraku.errors import NotFound
from renraku.feed import changes, receipts, service, urgent
from renraku.feed.changes import Version
from renraku.feed.models import Post as PostRow
from renraku.feed.photos_graphql import Photo, photos_of
from renraku.feed.vitals_graphql import Vitals, vitals_of
from renraku.ids import encode_id
from renraku.kinds import PostCategory
from renraku.loaders import load_now_or_later
from renraku.page_info import PageInfo
from renraku.teams.models import Patient as PatientRow

if TYPE_CHECKING:
    from renraku.teams.graphql import Patient

# Patient (teams/graphql.py) lists the notebook (`Patient.timeline`, from this module) and a post
# names its patient, so the two types name each other. teams/graphql.py imports this module; this
# one names Patient lazily, as strawberry resolves the annotations, instead of importing it back.
_PATIENT: LazyType[str, str] = LazyType("Patient", "renraku.teams.graphql")

strawberry.enum(PostCategory)


@with_object
@strawberry.type(description="Someone's receipt: who read (or acknowledged) a post, and when.")
class Receipt:
    user: User
    at: datetime


@with_object
@strawberry.type(description="One version of a post; a retracted post's versions read as empty.")
class PostVersion:
    version: strawberry.Private[Version]

    @strawberry.field
    def revision(self) -> int:
        return self.version.revision

    @strawberry.field
    def category(self) -> PostCategory:
        return PostCategory(self.version.category)

    @strawberry.field
    def body(self) -> str:
        return self.version.body

    @strawberry.field
    def vitals(self) -> Vitals | None:
        return vitals_of(self.version)

    @strawberry.field
    def urgent(self) -> bool:
        return self.version.urgent

    @strawberry.field
    def visible_to_family(self) -> bool:
        return self.version.visible_to_family

    @strawberry.field
    async def written_by(self, info: Info) -> User | None:
        row = await info.context.loaders.users.load(self.version.written_by)
        return User(row=row) if row else None

    @strawberry.field
    def written_at(self) -> datetime:
        return self.version.written_at


@cache
def _patient_type() -> type[Patient]:
    return cast("type[Patient]", _PATIENT.resolve_type())


def live_patient(row: PatientRow | None) -> Patient:
    """The Patient object of a loaded row; NOT_FOUND once it is archived (or gone)."""
    if row is None:
        raise NotFound
    return _patient_type()(row=row)


async def _receipts(info: Info, rows: list[tuple[int, datetime]]) -> list[Receipt]:
    users = await info.context.loaders.users.load_many([uid for uid, _ in rows])
    return [Receipt(user=User(row=u), at=at) for u, (_, at) in zip(users, rows, strict=True) if u]


@with_object
@strawberry.type
class Post:
    row: strawberry.Private[PostRow]

    @property
    def pk(self) -> int:
        assert self.row.id is not None
        return self.row.id

    @property
    def patient_pk(self) -> int:
        return self.row.patient_id

    @strawberry.field
    def id(self) -> strawberry.ID:
        return strawberry.ID(encode_id("Post", self.pk))

    @strawberry.field(description="The id the client gave the post (retries carry the same).")
    def client_id(self) -> str:
        return self.row.client_id

    @strawberry.field
    def patient_id(self) -> strawberry.ID:
        return strawberry.ID(encode_id("Patient", self.row.patient_id))

    @strawberry.field
    def patient(
        self, info: Info
    ) -> Annotated[Patient, strawberry.lazy("renraku.teams.graphql")] | None:
        # Possibly a coroutine, which graphql-core awaits (see load_now_or_later).
        return cast(
            "Patient | None",
            load_now_or_later(info.context.loaders.patients, self.row.patient_id, live_patient),
        )

    @strawberry.field
    def author(self, info: Info) -> User | None:
        # Possibly a coroutine, which graphql-core awaits (see load_now_or_later).
        return cast(
            "User | None",
            load_now_or_later(info.context.loaders.users, self.row.author_id, user_or_none),
        )

    @strawberry.field(description="The team members the post mentions.")
    async def mentions(self, info: Info) -> list[User]:
        ids = await info.context.loaders.mentions.load(self.pk)
        users = await info.context.loaders.users.load_many(ids)
        return [User(row=u) for u in users if u is not None]

    @strawberry.field
    def category(self) -> PostCategory:
        return PostCategory(self.row.category)

    @strawberry.field(description="Empty once the post is retracted.")
    def body(self) -> str:
        return "" if self.row.retracted_at else self.row.body

    @strawberry.field
    def vitals(self) -> Vitals | None:
        return None if self.row.retracted_at else vitals_of(self.row)

    @strawberry.field
    def urgent(self) -> bool:
        return self.row.urgent

    @strawberry.field
    def visible_to_family(self) -> bool:
        return self.row.visible_to_family

    @strawberry.field
    def created_at(self) -> datetime:
        return self.row.created_at

    @strawberry.field
    def edited_at(self) -> datetime | None:
        return self.row.edited_at

    @strawberry.field
    def revision(self) -> int:
        return self.row.revision

    @strawberry.field
    def retracted_at(self) -> datetime | None:
        return self.row.retracted_at

    @strawberry.field
    def retract_reason(self) -> str | None:
        return self.row.retract_reason if self.row.retracted_at else None

    @strawberry.field(description="The thread's first post, for a reply.")
    def reply_to_id(self) -> strawberry.ID | None:
        if self.row.reply_to_id is None:
            return None
        return strawberry.ID(encode_id("Post", self.row.reply_to_id))

    @strawberry.field(description="The post's photos in the order added; none once retracted.")
    async def photos(self, info: Info) -> list[Photo]:
        return await photos_of(info, self.row)

    @strawberry.field(
        description="The replies of a thread's first post, oldest first.",
        extensions=[CheckedBy("access.notebook.require_post_read", asks=())],
    )
    async def replies(self, info: Info) -> list[Post]:
        async with info.context.runtime.db.session() as session:
            _, scope = await service.access_post(session, gate=info.context.gate, post_id=self.pk)
            rows = await service.list_replies(session, post_id=self.pk, scope=scope)
        return [Post(row=r) for r in rows]

    @strawberry.field(description="When this urgent post, unread, was raised to the coordinator.")
    def escalated_at(self) -> datetime | None:
        return self.row.escalated_at

    @strawberry.field(
        description="Every version of the post, oldest first, the current one last.",
        extensions=[CheckedBy("access.notebook.require_post_read", asks=())],
    )
    async def history(self, info: Info) -> list[PostVersion]:
        async with info.context.runtime.db.session() as session:
            _, scope = await service.access_post(session, gate=info.context.gate, post_id=self.pk)
            versions = await changes.list_history(session, post=self.row, scope=scope)
        return [PostVersion(version=v) for v in versions]

    @strawberry.field(
        description="Who read the post (既読), first reader first; not the author.",
        extensions=[Requires(Obj.POST_RECEIPTS)],
    )
    async def read_by(self, info: Info) -> list[Receipt] | None:
        async with info.context.runtime.db.session() as session:
            rows = await receipts.list_reads(session, post_id=self.pk)
        return await _receipts(info, rows)

    @strawberry.field(
        description="Who acknowledged this instruction (確認しました).",
        extensions=[Requires(Obj.POST_RECEIPTS)],
    )
    async def acknowledged_by(self, info: Info) -> list[Receipt] | None:
        async with info.context.runtime.db.session() as session:
            rows = await receipts.list_acknowledgements(session, post_id=self.pk)
        return await _receipts(info, rows)

    @strawberry.field(
        description="The team's professionals who have yet to acknowledge this instruction.",
        extensions=[Requires(Obj.POST_RECEIPTS)],
    )
    async def awaiting_acknowledgement(self, info: Info) -> list[User] | None:
        async with info.context.runtime.db.session() as session:
            rows = await receipts.awaiting_acknowledgement(session, post=self.row)
        return [User(row=u) for u in rows]

    @strawberry.field(
        description="An instruction someone has still not acknowledged in time; always false "
        "for those who may not see receipts.",
        extensions=[CheckedBy("access.gate.Gate.may", asks=[(Obj.POST_RECEIPTS, Act.READ)])],
    )
    async def overdue(self, info: Info) -> bool:
        cutoff = urgent.overdue_cutoff(info.context.runtime)
        if not urgent.is_overdue_candidate(self.row, cutoff):
            return False
        if not await info.context.gate.may(self.row.patient_id, "post.receipts", "read"):
            return False
        async with info.context.runtime.db.session() as session:
            return bool(await receipts.awaiting_acknowledgement(session, post=self.row))


@with_object
@strawberry.type
class PostEdge:
    cursor: str
    node: Post


@with_object
@strawberry.type
class PostConnection:
    edges: list[PostEdge]
    page_info: PageInfo


def connection(items: list[tuple[PostRow, str]], has_next_page: bool) -> PostConnection:
    edges = [PostEdge(cursor=c, node=Post(row=p)) for p, c in items]
    return PostConnection(
        edges=edges,
        page_info=PageInfo(
            has_next_page=has_next_page, end_cursor=edges[-1].cursor if edges else None
        ),
    )


async def timeline(
    info: Info, *, patient_id: int, first: int | None, after: str | None
) -> PostConnection:
    """Patient.timeline: FORBIDDEN for those who see the patient but not its notebook."""
    scope = await timeline_scope(info.context.gate, patient_id)
    async with info.context.runtime.db.session() as session:
        page = await service.timeline_page(
            session, patient_id=patient_id, scope=scope, first=first, after=after
        )
    return connection(page.items, page.has_next_page)
