"""Relay-style paging: `first` (default 20, at most 100) and an opaque `after` cursor."""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from renraku.errors import BadInput

DEFAULT_FIRST = 20
MAX_FIRST = 100
T = TypeVar("T")


def page_size(first: int | None) -> int:
    if first is None:
        return DEFAULT_FIRST
    if first < 0 or first > MAX_FIRST:
        raise BadInput(f"first must be between 0 and {MAX_FIRST}.", field="first")
    return first


def encode_cursor(key: list[Any]) -> str:
    raw = json.dumps(key, ensure_ascii=False, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str | None, *, types: tuple[type, ...]) -> list[Any] | None:
    """The sort key inside `cursor`, checked against the expected `types`; BadInput otherwise."""
    if cursor is None:
        return None
    try:
        if len(cursor) > 400:
            raise ValueError
        padded = cursor + "=" * (-len(cursor) % 4)
        key = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
        if not isinstance(key, list) or len(key) != len(types):
            raise ValueError
        if not all(
            isinstance(v, t) and not isinstance(v, bool) for v, t in zip(key, types, strict=True)
        ):
            raise ValueError
        # Only the spelling encode_cursor gives: the decoders forgive padding, stray characters,
        # spaces and other spellings of the same key, which would give one position many cursors.
        if encode_cursor(key) != cursor:
            raise ValueError
    except (ValueError, binascii.Error, UnicodeError):
        raise BadInput("The cursor is not valid.", field="after") from None
    return key


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[tuple[T, str]]  # each item with its cursor
    has_next_page: bool
