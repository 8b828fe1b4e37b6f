"""Telling an incident's live subscribers that something changed: the incident's id, a kind and
at most a person's id travel through the broker once the change is committed, never data. Each
subscriber then asks again through the audited queries (`priorityList`, `safetyProgress`), so
what it sees is decided for it at that moment, as any read.

A lost signal only delays a board's refresh (the web app also refreshes on a timer).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from redis.exceptions import RedisError
from sqlmodel.ext.asyncio.session import AsyncSession

from renraku.broker import Broker
from renraku.db import publish_on_commit
from renraku.timeutil import utcnow

log = logging.getLogger("renraku.overlay")

CHANNEL = "incidents"
EVENT = "incident_update"


class IncidentChange(StrEnum):
    LIST = "list"  # who is inside, the level, the area, the alerts in force
    SAFETY = "safety"  # a safety status or the call's assignment
    ENDED = "ended"  # ended by hand, or no longer in force


@dataclass(frozen=True)
class IncidentUpdate:
    incident_id: int
    change: IncidentChange
    patient_id: int | None
    at: float

    @classmethod
    def from_message(cls, message: dict[str, Any]) -> IncidentUpdate | None:
        if message.get("event") != EVENT:
            return None
        try:
            patient = message.get("patient_id")
            return cls(
                incident_id=int(message["incident_id"]),
                change=IncidentChange(message["change"]),
                patient_id=int(patient) if patient is not None else None,
                at=float(message["at"]),
            )
        except (KeyError, TypeError, ValueError):
            return None


def announce_on_commit(
    session: AsyncSession,
    broker: Broker,
    *,
    incident_id: int,
    change: IncidentChange,
    patient_id: int | None = None,
) -> None:
    message = {
        "event": EVENT,
        "incident_id": incident_id,
        "change": change.value,
        "patient_id": patient_id,
    }

    async def publish() -> None:
        try:
            await broker.publish(CHANNEL, {**message, "at": utcnow().timestamp()})
        except (RedisError, OSError) as exc:
            log.warning("incident update not published: %s", type(exc).__name__)

    publish_on_commit(session, publish)
