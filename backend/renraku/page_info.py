"""The Relay PageInfo type, shared by every connection in the schema."""

from __future__ import annotations

import strawberry

from renraku.access.fields import with_object


@with_object
@strawberry.type
class PageInfo:
    has_next_page: bool
    end_cursor: str | None
