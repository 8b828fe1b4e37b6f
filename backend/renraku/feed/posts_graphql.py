"""GraphQL mutations on posts: create, edit, retract, read, acknowledge.

Resolvers decode ids and hand over to feed/posts.py, feed/changes.py and feed/receipts.py, which
decide.
"""

from __future__ import annotations

import strawberry

from renraku.context import Info
from renraku.errors import BadInput, NotFound
from renraku.feed import changes, posts, receipts
from renraku.feed.changes import PostEdit
from renraku.feed.graphql import Post
from renraku.feed.posts import PostDraft
from renraku.feed.vitals_graphql import VitalsInput
from renraku.ids import decode_id
from renraku.kinds import PostCategory


@strawberry.input
class CreatePostInput:
    patient_id: strawberry.ID
    client_id: str = strawberry.field(
        description="Made by the client once per post; a retry with it returns the stored post."
    )
    category: PostCategory
    body: str = ""
    vitals: VitalsInput | None = None
    urgent: bool = False
    visible_to_family: bool = False
    reply_to: strawberry.ID | None = None
    upload_ids: list[strawberry.ID] = strawberry.field(default_factory=list)
    mention_ids: list[strawberry.ID] = strawberry.field(default_factory=list)

    def to_draft(self) -> PostDraft:
        return PostDraft(
            patient_id=decode_id("Patient", self.patient_id),
            client_id=self.client_id,
            category=self.category,
            body=self.body,
            vitals=self.vitals.values() if self.vitals else {},
            urgent=self.urgent,
            visible_to_family=self.visible_to_family,
            reply_to=decode_id("Post", self.reply_to) if self.reply_to else None,
            upload_ids=tuple(_ids("Upload", self.upload_ids, "uploadIds")),
            mention_ids=tuple(_ids("User", self.mention_ids, "mentionIds")),
        )


def _ids(type_name: str, ids: list[strawberry.ID], field: str) -> list[int]:
    if len(ids) > 100:
        raise BadInput("Too many ids.", field=field)
    try:
        return [decode_id(type_name, i) for i in ids]
    except NotFound:
        raise BadInput("An id is not valid.", field=field) from None


@strawberry.input(description="What to change in your post; a field left out stays as it is.")
class EditPostInput:
    post_id: strawberry.ID
    body: str | None = None
    category: PostCategory | None = None
    vitals: VitalsInput | None = strawberry.field(
        default=strawberry.UNSET, description="New vitals; null removes them."
    )
    urgent: bool | None = None
    visible_to_family: bool | None = None

    def to_edit(self) -> PostEdit:
        vitals = self.vitals
        return PostEdit(
            post_id=decode_id("Post", self.post_id),
            body=self.body,
            category=self.category,
            vitals=vitals.values() if vitals else None,
            clear_vitals=vitals is None,
            urgent=self.urgent,
            visible_to_family=self.visible_to_family,
        )


@strawberry.type
class Mutation:
    @strawberry.mutation(description="Post to a patient's notebook (idempotent by clientId).")
    async def create_post(self, info: Info, input: CreatePostInput) -> Post:
        info.context.require_actor()
        row = await posts.check_create_post(
            info.context.runtime, gate=info.context.gate, draft=input.to_draft()
        )
        return Post(row=row)

    @strawberry.mutation(description="Edit your own post; the earlier version stays in history.")
    async def edit_post(self, info: Info, input: EditPostInput) -> Post:
        info.context.require_actor()
        row = await changes.check_edit_post(
            info.context.runtime, gate=info.context.gate, edit=input.to_edit()
        )
        return Post(row=row)

    @strawberry.mutation(
        description="Retract a post (yours, or as the team's coordinator): it stays, emptied, "
        "with the reason."
    )
    async def retract_post(self, info: Info, post_id: strawberry.ID, reason: str) -> Post:
        info.context.require_actor()
        row = await changes.check_retract_post(
            info.context.runtime,
            gate=info.context.gate,
            post_id=decode_id("Post", post_id),
            reason=reason,
        )
        return Post(row=row)

    @strawberry.mutation(description="Mark posts read (既読); returns how many were newly read.")
    async def mark_posts_read(self, info: Info, post_ids: list[strawberry.ID]) -> int:
        info.context.require_actor()
        if len(post_ids) > receipts.MAX_MARKED:
            raise BadInput(f"postIds may hold at most {receipts.MAX_MARKED} ids.", field="postIds")
        return await receipts.check_mark_posts_read(
            info.context.runtime,
            gate=info.context.gate,
            post_ids=[decode_id("Post", i) for i in post_ids],
        )

    @strawberry.mutation(
        description="Mark your unread posts of a patient read (at most 500 per call); returns how "
        "many were newly read."
    )
    async def mark_patient_read(self, info: Info, patient_id: strawberry.ID) -> int:
        info.context.require_actor()
        return await receipts.check_mark_patient_read(
            info.context.runtime,
            gate=info.context.gate,
            patient_id=decode_id("Patient", patient_id),
        )

    @strawberry.mutation(description="Acknowledge an instruction (確認しました); it is read too.")
    async def acknowledge_post(self, info: Info, post_id: strawberry.ID) -> Post:
        info.context.require_actor()
        row = await receipts.check_acknowledge_post(
            info.context.runtime, gate=info.context.gate, post_id=decode_id("Post", post_id)
        )
        return Post(row=row)
