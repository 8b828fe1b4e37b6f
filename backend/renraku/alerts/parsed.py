"""What a parsed alert document says, in one shape for CAP and JMA, before anything is stored."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from shapely.geometry.base import BaseGeometry

# CAP <status> values and what an import makes of each (DESIGN.md, `alerts import` contract).
ACTUAL = "Actual"
EXERCISE = "Exercise"
IGNORED_STATUSES = frozenset({"Test", "Draft", "System"})
CAP_STATUSES = frozenset({ACTUAL, EXERCISE, *IGNORED_STATUSES})
MSG_TYPES = frozenset({"Alert", "Update", "Cancel", "Ack", "Error"})


@dataclass(frozen=True)
class Reference:
    sender: str
    identifier: str
    sent: str


@dataclass
class ParsedAlert:
    format: str  # "cap1.1", "cap1.2" or "jma"
    sender: str
    identifier: str
    sent: datetime
    cap_status: str
    msg_type: str
    references: list[Reference] = field(default_factory=list)
    # A JMA message replaces the earlier one of the same thread (its kind, office and event).
    thread: str = ""
    event: str = ""
    headline: str = ""
    language: str = ""
    infos: list[dict[str, Any]] = field(default_factory=list)
    level: int | None = None
    onset: datetime | None = None
    expires: datetime | None = None
    # Shapes that survived repair, in (longitude, latitude).
    shapes: list[BaseGeometry] = field(default_factory=list)
    # Municipality codes (6 digits) named by geocodes of areas without usable geometry.
    geocoded_municipalities: set[str] = field(default_factory=set)
    # What was repaired, dropped or assumed, for the import's `reason`.
    notes: list[str] = field(default_factory=list)
    # An Update that clears everything (CAP responseType AllClear, JMA 解除) ends what it
    # references.
    all_clear: bool = False
