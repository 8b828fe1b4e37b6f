"""What the hub re-checks besides each event: sessions that ended (announced, or lapsed) close
their sockets, and a subscriber taken off a patient's team loses that patient's subscription."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from renraku import revocations
from renraku.access.notebook import scope_of
from renraku.access.scopes import roles_by_user
from renraku.accounts.service import live_session_ids
from renraku.realtime.subscriptions import LiveSubscription, Socket
from renraku.runtime import Runtime

SESSION_ENDED_CODE = 4401


async def on_access_message(
    runtime: Runtime,
    message: dict[str, Any],
    sockets: Iterable[Socket],
    by_patient: Mapping[int, set[LiveSubscription]],
    lose: Callable[[LiveSubscription], None],
) -> None:
    """A message on the revocations channel: ended sessions, or memberships ended."""
    if message.get("event") == revocations.SESSION_ENDED:
        ended = {int(s) for s in message.get("session_ids", [])}
        for socket in list(sockets):
            if socket.actor.session_id in ended:
                socket.close_soon(SESSION_ENDED_CODE, "session ended")
        return
    revocation = revocations.Revocation.from_message(message)
    if revocation is None:
        return
    users = set(revocation.user_ids)
    for patient_id in revocation.patient_ids:
        subs = [s for s in by_patient.get(patient_id, ()) if s.actor.user_id in users]
        if not subs:
            continue
        async with runtime.db.session() as session:
            roles = await roles_by_user(session, patient_id)
        for sub in subs:
            if scope_of(roles.get(sub.actor.user_id, frozenset())) is None:
                lose(sub)


async def close_lapsed_sessions(runtime: Runtime, sockets: Iterable[Socket]) -> None:
    """Close the sockets whose session expired or was revoked since they opened."""
    signed_in = [s for s in sockets if s.actor.session_id is not None]
    if not signed_in:
        return
    ids = sorted({s.actor.session_id for s in signed_in if s.actor.session_id is not None})
    async with runtime.db.session() as session:
        live = await live_session_ids(session, ids, runtime.settings)
    for socket in signed_in:
        if socket.actor.session_id not in live:
            socket.close_soon(SESSION_ENDED_CODE, "session ended")
