"""The signal that someone lost access to patients, sent once the change is committed.

Whatever takes access away (ending a membership, offboarding, archiving a patient, ending an
incident) calls `revoke_on_commit` in its transaction; live subscriptions listen on CHANNEL and
re-check the named users' access to the named patients at once, instead of at their next event.
The signal only hurries that re-check: access is decided from the database every time, so a
signal lost with a broker connection delays an ending, never extends access. A logout sends
the same kind of signal for its session (`end_sessions_on_commit`), closing its sockets at once.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

from redis.exceptions import RedisError
from sqlmodel.ext.asyncio.session import AsyncSession

from renraku.broker import Broker, Message
from renraku.db import publish_on_commit

log = logging.getLogger("renraku.access")

CHANNEL = "access"
EVENT = "access.revoked"
SESSION_ENDED = "session.ended"


class HoldsBroker(Protocol):
    """A runtime: what a command has at hand (the broker is all this module needs of it)."""

    @property
    def broker(self) -> Broker: ...


class RevocationReason(StrEnum):
    MEMBERSHIP_ENDED = "membership_ended"
    OFFBOARDED = "offboarded"
    PATIENT_ARCHIVED = "patient_archived"
    INCIDENT_ENDED = "incident_ended"


@dataclass(frozen=True)
class Revocation:
    """These users may no longer see these patients (ids only: it travels through the broker)."""

    user_ids: tuple[int, ...]
    patient_ids: tuple[int, ...]
    reason: RevocationReason

    def to_message(self) -> Message:
        return {
            "event": EVENT,
            "user_ids": list(self.user_ids),
            "patient_ids": list(self.patient_ids),
            "reason": self.reason.value,
        }

    @classmethod
    def from_message(cls, message: dict[str, Any]) -> Revocation | None:
        """The revocation a broker message carries, or None if it is something else."""
        if message.get("event") != EVENT:
            return None
        return cls(
            user_ids=tuple(int(u) for u in message["user_ids"]),
            patient_ids=tuple(int(p) for p in message["patient_ids"]),
            reason=RevocationReason(message["reason"]),
        )


def revoke_on_commit(
    session: AsyncSession,
    runtime_or_broker: HoldsBroker | Broker,
    *,
    user_id: int | None = None,
    user_ids: Iterable[int] = (),
    patient_ids: Iterable[int],
    reason: RevocationReason,
) -> None:
    """Publish that `user_id` (and/or `user_ids`) lost `patient_ids`, once `session` commits."""
    broker = (
        runtime_or_broker if isinstance(runtime_or_broker, Broker) else runtime_or_broker.broker
    )
    users = sorted({*user_ids, *([user_id] if user_id is not None else [])})
    patients = sorted(set(patient_ids))
    if not users or not patients:
        return
    revocation = Revocation(tuple(users), tuple(patients), reason)
    _signal_on_commit(session, broker, revocation.to_message())


def end_sessions_on_commit(session: AsyncSession, broker: Broker, session_ids: list[int]) -> None:
    """Publish that these sign-in sessions ended (logout), once `session` commits: their live
    sockets close at once (4401) rather than at the server's next session check."""
    _signal_on_commit(session, broker, {"event": SESSION_ENDED, "session_ids": session_ids})


def _signal_on_commit(session: AsyncSession, broker: Broker, message: Message) -> None:
    async def publish() -> None:
        try:
            await broker.publish(CHANNEL, message)
        except (RedisError, OSError) as exc:
            # The change is committed and takes effect with it (see the module docstring);
            # failing the request now would only tell the client it did not happen.
            log.warning("%s not published: %s", message["event"], type(exc).__name__)

    publish_on_commit(session, publish)
