"""GraphQL for notices: `myNotices` and `markNoticesRead`, only ever on the signed-in user's own."""

from __future__ import annotations

from datetime import datetime

import strawberry
from strawberry.scalars import JSON

from renraku.context import Info
from renraku.errors import NotFound
from renraku.ids import decode_id, encode_id
from renraku.notices import actions, service
from renraku.notices.models import Notice as NoticeRow
from renraku.page_info import PageInfo
from renraku.teams import service as teams_service
from renraku.teams.graphql import Patient


def _camel(key: str) -> str:
    head, *rest = key.split("_")
    return head + "".join(word.capitalize() for word in rest)


def client_data(data: dict[str, int | str]) -> dict[str, int | str]:
    """A notice's data as clients see it: camelCase keys, ids as opaque global ids."""
    shown: dict[str, int | str] = {}
    for key, value in data.items():
        type_name = actions.ID_TYPES.get(key)
        if type_name is not None and isinstance(value, int):
            value = encode_id(type_name, value)
        shown[_camel(key)] = value
    return shown


@strawberry.type
class Notice:
    row: strawberry.Private[NoticeRow]

    @strawberry.field
    def id(self) -> strawberry.ID:
        assert self.row.id is not None
        return strawberry.ID(encode_id("Notice", self.row.id))

    @strawberry.field(description="What happened, e.g. glass_opened.")
    def kind(self) -> str:
        return self.row.kind

    @strawberry.field
    def patient_id(self) -> strawberry.ID | None:
        if self.row.patient_id is None:
            return None
        return strawberry.ID(encode_id("Patient", self.row.patient_id))

    @strawberry.field(description="The patient, while you may still see it; otherwise null.")
    async def patient(self, info: Info) -> Patient | None:
        if self.row.patient_id is None:
            return None
        # `may`, not `require`: a patient no longer visible is no refused attempt, just null.
        if not await info.context.gate.may(self.row.patient_id, "patient", "read"):
            # A notice outlives the reader's access; it then names the patient by id only.
            return None
        try:
            async with info.context.runtime.db.session() as session:
                row = await teams_service.get_live_patient(session, self.row.patient_id)
        except NotFound:
            return None
        return Patient(row=row)

    @strawberry.field(description="Ids (as global ids) and kinds only, never names or text.")
    def data(self) -> JSON:
        return JSON(client_data(self.row.data))

    @strawberry.field
    def created_at(self) -> datetime:
        return self.row.created_at

    @strawberry.field
    def read_at(self) -> datetime | None:
        return self.row.read_at


@strawberry.type
class NoticeEdge:
    cursor: str
    node: Notice


@strawberry.type
class NoticeConnection:
    edges: list[NoticeEdge]
    page_info: PageInfo
    unread_count: int


@strawberry.type
class Query:
    @strawberry.field(description="Your notices, newest first.")
    async def my_notices(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        unread_only: bool | None = None,
    ) -> NoticeConnection:
        actor = info.context.require_actor()
        async with info.context.runtime.db.session() as session:
            page = await service.list_my_notices(
                session, actor=actor, first=first, after=after, unread_only=bool(unread_only)
            )
            unread = await service.count_unread(session, actor=actor)
        edges = [NoticeEdge(cursor=c, node=Notice(row=n)) for n, c in page.items]
        end = edges[-1].cursor if edges else None
        return NoticeConnection(
            edges=edges,
            page_info=PageInfo(has_next_page=page.has_next_page, end_cursor=end),
            unread_count=unread,
        )


@strawberry.type
class Mutation:
    @strawberry.mutation(
        description="Mark your notices read; returns how many were unread. An id that is not "
        "one of your notices answers NOT_FOUND and nothing is marked."
    )
    async def mark_notices_read(self, info: Info, ids: list[strawberry.ID]) -> int:
        actor = info.context.require_actor()
        actions.validate_count(len(ids))
        notice_ids = [decode_id("Notice", i) for i in ids]
        return await actions.check_mark_read(
            info.context.runtime, actor=actor, notice_ids=notice_ids
        )
