"""`incidentUpdates`: one socket's watch on one incident, beside the notebook's hub.

The watch listens on the broker's incidents channel (overlay/live.py) from before it checks the
subscriber, so nothing committed after the check is missed. It sends an update only while the
subscriber may still see the incident's priority list (asked again before each one: the list is
for planners, and only while the incident is in force); when that ends, for whatever reason, it
sends one ENDED update and completes. Updates carry ids and a kind; the board asks again through
the audited queries.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from datetime import UTC, datetime
from typing import Any, Protocol

from graphql import DocumentNode, ExecutionResult, GraphQLError
from graphql.execution import Executor, execute_subscription_event

from renraku.access.actor import Actor
from renraku.context import Context
from renraku.errors import RenrakuError
from renraku.ids import encode_id
from renraku.overlay.declarations import access_incident
from renraku.overlay.live import CHANNEL, IncidentChange
from renraku.overlay.live import IncidentUpdate as Update
from renraku.overlay.live_graphql import IncidentChangeKind, IncidentUpdate
from renraku.overlay.models import in_force
from renraku.overlay.priority import NotInForce
from renraku.realtime.execution import payload
from renraku.runtime import Runtime
from renraku.schema import RenrakuSchema


class Watcher(Protocol):
    """What a watch needs of its socket (realtime/ws.py's Connection)."""

    runtime: Runtime
    schema: RenrakuSchema
    actor: Actor

    def context(self) -> Context: ...
    def send_next(self, sub_id: str, payload: str) -> None: ...
    def send_error(self, sub_id: str, errors: list[dict[str, Any]]) -> None: ...
    def send_complete(self, sub_id: str) -> None: ...
    def end_subscription(self, sub_id: str) -> None: ...


async def may_watch(runtime: Runtime, actor: Actor, incident_id: int) -> None:
    """Raises unless the actor may see the incident's priority list now."""
    async with runtime.db.session() as session:
        incident = await access_incident(
            session, actor=actor, incident_id=incident_id, act="priority"
        )
    if not in_force(incident):
        raise NotInForce


async def _payload(
    socket: Watcher,
    document: DocumentNode,
    operation_name: str | None,
    variables: dict[str, Any],
    update: Update,
) -> str:
    root = IncidentUpdate(
        incident_id=encode_id("Incident", update.incident_id),  # type: ignore[arg-type]  # an ID
        kind=IncidentChangeKind(update.change.value),
        patient_id=encode_id("Patient", update.patient_id)  # type: ignore[arg-type]  # an ID
        if update.patient_id is not None
        else None,
        at=datetime.fromtimestamp(update.at, UTC),
    )
    built = Executor.build(
        socket.schema._schema,
        document,
        context_value=socket.context(),
        raw_variable_values=variables,
        operation_name=operation_name,
    )
    if isinstance(built, list):
        return payload(ExecutionResult(data=None, errors=built))
    executed = execute_subscription_event(built.build_per_event_executor(root))
    return payload(await executed if isinstance(executed, Awaitable) else executed)


async def watch(
    socket: Watcher,
    sub_id: str,
    *,
    incident_id: int,
    document: DocumentNode,
    operation_name: str | None,
    variables: dict[str, Any],
    ready: asyncio.Event,
) -> None:
    """Run one watch until the incident leaves the subscriber's reach or the client stops it."""
    runtime = socket.runtime
    async with runtime.broker.subscribe(CHANNEL) as subscription:
        try:
            await may_watch(runtime, socket.actor, incident_id)
        except RenrakuError as error:
            socket.end_subscription(sub_id)
            socket.send_error(
                sub_id, [dict(GraphQLError(str(error), extensions=error.extensions).formatted)]
            )
            return
        finally:
            ready.set()
        async for message in subscription:
            update = Update.from_message(message)
            if update is None or update.incident_id != incident_id:
                continue
            ended = update.change is IncidentChange.ENDED
            if not ended:
                try:
                    await may_watch(runtime, socket.actor, incident_id)
                except RenrakuError:
                    ended = True
                    update = Update(incident_id, IncidentChange.ENDED, None, update.at)
            payload = await _payload(socket, document, operation_name, variables, update)
            socket.send_next(sub_id, payload)
            if ended:
                socket.end_subscription(sub_id)
                socket.send_complete(sub_id)
                return
