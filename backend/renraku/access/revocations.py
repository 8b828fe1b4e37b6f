"""The signal that someone lost access to patients, sent once the change is committed.

Whatever takes access away (ending a membership, offboarding, archiving a patient, ending an
emergency) calls `revoke_on_commit` in its transaction; live subscriptions listen on CHANNEL and
re-check the named users' access to the named patients at once, instead of at their next event.
The signal only hurries that re-check: access is decided from the database every time, so a
signal lost with a broker connection delays an ending, never extends access.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from redis.exceptions import RedisError
from sqlmodel.ext.asyncio.session import AsyncSession

from renraku.db import publish_on_commit
from renraku.realtime.broker import Broker, Message
from renraku.runtime import Runtime

log = logging.getLogger("renraku.access")

CHANNEL = "access"
EVENT = "access.revoked"


class RevocationReason(StrEnum):
    MEMBERSHIP_ENDED = "membership_ended"
    OFFBOARDED = "offboarded"
    PATIENT_ARCHIVED = "patient_archived"
    EMERGENCY_ENDED = "emergency_ended"


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
    runtime_or_broker: Runtime | Broker,
    *,
    user_id: int | None = None,
    user_ids: Iterable[int] = (),
    patient_ids: Iterable[int],
    reason: RevocationReason,
) -> None:
    """Publish that `user_id` (and/or `user_ids`) lost `patient_ids`, once `session` commits."""
    broker = (
        runtime_or_broker.broker if isinstance(runtime_or_broker, Runtime) else runtime_or_broker
    )
    users = sorted({*user_ids, *([user_id] if user_id is not None else [])})
    patients = sorted(set(patient_ids))
    if not users or not patients:
        return
    message = Revocation(tuple(users), tuple(patients), reason).to_message()

    async def publish() -> None:
        try:
            await broker.publish(CHANNEL, message)
        except (RedisError, OSError) as exc:
            # The change is committed and access already ends with it (see the module docstring);
            # failing the request now would only tell the client it did not happen.
            log.warning("revocation not published: %s", type(exc).__name__)

    publish_on_commit(session, publish)
