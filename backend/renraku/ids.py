"""Opaque global ids: base64url of "Type:number". Anything that does not decode is NOT_FOUND.

Each object has exactly one id: only the form `encode_id` produces decodes, so "Post:07", padding,
stray characters or other spellings of the same bytes name nothing.
"""

from __future__ import annotations

import base64
import binascii

from renraku.errors import NotFound

MAX_ID_LENGTH = 64
# Primary keys are 32-bit INTEGER columns; a larger number would be a database error, not a miss.
MAX_PK = 2**31 - 1


def encode_id(type_name: str, pk: int) -> str:
    return base64.urlsafe_b64encode(f"{type_name}:{pk}".encode()).decode().rstrip("=")


def decode_id(type_name: str, global_id: str) -> int:
    """The primary key behind `global_id` if it names a `type_name`; NotFound otherwise."""
    if not global_id or len(global_id) > MAX_ID_LENGTH:
        raise NotFound
    try:
        padded = global_id + "=" * (-len(global_id) % 4)
        raw = base64.urlsafe_b64decode(padded.encode("ascii")).decode("utf-8")
    except (binascii.Error, UnicodeError, ValueError):
        raise NotFound from None
    kind, _, number = raw.partition(":")
    # isdigit() alone also accepts digits like "²", which int() refuses.
    if kind != type_name or not (number.isascii() and number.isdigit()) or int(number) > MAX_PK:
        raise NotFound
    pk = int(number)
    # The decoder forgives leading zeros, padding, characters outside the alphabet and unused
    # trailing bits; only the canonical spelling is an id.
    if encode_id(type_name, pk) != global_id:
        raise NotFound
    return pk
