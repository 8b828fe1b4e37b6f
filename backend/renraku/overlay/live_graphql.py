"""`incidentUpdates(incidentId)`: a planner's board hears that its incident changed.

Served by the live hub's WebSocket (realtime/incident_watch.py), which checks the subscriber may
see the incident's list when it subscribes and again before every update it sends."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from datetime import datetime
from enum import Enum

import strawberry

from renraku.errors import BadInput
from renraku.overlay.live import IncidentChange


@strawberry.enum
class IncidentChangeKind(Enum):
    LIST = IncidentChange.LIST.value
    SAFETY = IncidentChange.SAFETY.value
    ENDED = IncidentChange.ENDED.value


@strawberry.type(description="Something changed: ask priorityList or safetyProgress again.")
class IncidentUpdate:
    incident_id: strawberry.ID
    kind: IncidentChangeKind
    patient_id: strawberry.ID | None = strawberry.field(
        description="The person whose safety check changed, for SAFETY."
    )
    at: datetime


async def _served_by_the_hub() -> AsyncGenerator[IncidentUpdate, None]:
    raise BadInput("Subscribe over the WebSocket at /graphql (graphql-transport-ws).")
    yield  # pragma: no cover - makes this an async generator


@strawberry.type
class Subscription:
    @strawberry.subscription(
        description="An incident's changes, for those who may see its priority list; ends "
        "with an ENDED update when the incident ends or the subscriber loses the list."
    )
    def incident_updates(self, incident_id: strawberry.ID) -> AsyncGenerator[IncidentUpdate, None]:
        return _served_by_the_hub()
