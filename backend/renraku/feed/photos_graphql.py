"""Post.photos: what a client needs to show a post's photos; the bytes come from /uploads/{id}.

The post was already found readable (feed/service.py), so its photos need no check of their own
here, and GET /uploads/{id} checks again when the image is fetched.
"""

from __future__ import annotations

import strawberry

from renraku.access.fields import with_object
from renraku.context import Info
from renraku.feed.models import Post as PostRow
from renraku.feed.uploads import PhotoInfo
from renraku.ids import encode_id


@with_object
@strawberry.type
class Photo:
    row: strawberry.Private[PhotoInfo]

    @strawberry.field
    def id(self) -> strawberry.ID:
        return strawberry.ID(encode_id("Upload", self.row.id))

    @strawberry.field(description="Relative URL of the photo (access-checked).")
    def url(self) -> str:
        return f"/uploads/{encode_id('Upload', self.row.id)}"

    @strawberry.field(description="Relative URL of a JPEG at most 320 pixels on its longer edge.")
    def thumbnail_url(self) -> str:
        return f"/uploads/{encode_id('Upload', self.row.id)}/thumbnail"

    @strawberry.field
    def width(self) -> int:
        return self.row.width

    @strawberry.field
    def height(self) -> int:
        return self.row.height

    @strawberry.field(description="image/jpeg or image/png.")
    def content_type(self) -> str:
        return self.row.content_type


async def photos_of(info: Info, post: PostRow) -> list[Photo]:
    """The post's photos in the order they were added; none once it is retracted."""
    if post.retracted_at is not None or post.id is None:
        return []
    return [Photo(row=p) for p in await info.context.loaders.photos.load(post.id)]
