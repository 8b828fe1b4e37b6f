"""The Relay PageInfo type, shared by every connection in the schema."""

from __future__ import annotations

import strawberry


@strawberry.type
class PageInfo:
    has_next_page: bool
    end_cursor: str | None
