"""A live subscription as the hub holds it, and what the hub needs of its socket."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Any, Protocol

from graphql import DocumentNode, GraphQLError

from renraku.access.actor import Actor
from renraku.context import Context
from renraku.errors import NotFound
from renraku.feed.models import FeedEvent
from renraku.realtime.execution import Plan

PATIENT_EVENTS = "patientEvents"
MY_EVENTS = "myEvents"
INCIDENT_UPDATES = "incidentUpdates"
# Live deliveries are audited per subscription at most this often (one record each), each
# subscription on its own schedule (realtime/live_audit.py).
AUDIT_SECONDS = 60.0
# WebSocket close code "try again later": the subscriber fell too far behind and resubscribes
# from its own cursor.
SLOW_CONSUMER = 1013
TOO_FAR_BEHIND = "too far behind; resubscribe from your cursor"
NO_ROLES: frozenset[str] = frozenset()
# Viewers of one audience: the same selection, and the same answers to every rule it reaches on
# the event's patient (access.fields.answers).
Audience = tuple[str, Hashable]


class Socket(Protocol):
    """What the hub needs of a connection (realtime/ws.py)."""

    actor: Actor

    def context(self) -> Context: ...
    def send_next(self, sub_id: str, payload: str) -> None: ...
    async def send_next_waiting(self, sub_id: str, payload: str) -> None: ...
    def send_error(self, sub_id: str, errors: list[dict[str, Any]]) -> None: ...
    def end_subscription(self, sub_id: str) -> None: ...
    def close_soon(self, code: int, reason: str) -> None: ...


_subscriptions_made = itertools.count()
_GOLDEN = 0.6180339887


def first_audit_due() -> float:
    """A point in the next audit period, successive subscriptions' points spread evenly over it
    (the golden ratio's multiples, modulo 1): a thousand subscribing together are not audited
    together."""
    spread = (next(_subscriptions_made) * _GOLDEN) % 1.0
    return asyncio.get_running_loop().time() + AUDIT_SECONDS * spread


@dataclass(eq=False)
class LiveSubscription:
    socket: Socket
    sub_id: str
    field_name: str
    patient_id: int | None
    document: DocumentNode
    operation_name: str | None
    variables: dict[str, Any]
    # Subscribers with the same key and scope receive the same bytes.
    key: str
    last_id: int = 0
    replaying: bool = False
    buffer: list[tuple[FeedEvent, frozenset[str]]] = field(default_factory=list)
    # Delivered since the last audit record: patient ids and how many events.
    audit_patients: set[int] = field(default_factory=set)
    audit_events: int = 0
    # When its deliveries are next audited (event loop time); first ones spread over the period.
    audit_due: float = field(default_factory=first_audit_due)
    ended: bool = False
    # Registered with the hub (and counted in the subscriptions gauge).
    live: bool = False
    replay_task: asyncio.Task[None] | None = None
    # Its own plans (roles held, part), kept from batch to batch: each batch hands them its rows.
    plans: dict[tuple[frozenset[str], str], Plan] = field(default_factory=dict)

    @property
    def actor(self) -> Actor:
        return self.socket.actor

    def delivered(self, event: FeedEvent) -> None:
        assert event.id is not None
        self.delivered_id(event.id, event.patient_id)

    def delivered_id(self, event_id: int, patient_id: int) -> None:
        """`delivered` for an event's id and patient, read once for a whole audience."""
        self.last_id = event_id
        self.audit_patients.add(patient_id)
        self.audit_events += 1

    def take_audit(self) -> tuple[set[int], int]:
        """What was delivered since the last audit record, forgotten here."""
        taken = (self.audit_patients, self.audit_events)
        self.audit_patients, self.audit_events = set(), 0
        return taken


def not_found_errors() -> list[dict[str, Any]]:
    return [dict(GraphQLError(str(NotFound()), extensions=NotFound().extensions).formatted)]
