"""Who is asking: resolved once per request (or socket) and passed explicitly to every service."""

from __future__ import annotations

from dataclasses import dataclass

from renraku.kinds import UserKind


@dataclass(frozen=True, slots=True)
class Actor:
    user_id: int
    username: str
    kind: UserKind
    profession: str | None
    municipality_code: str | None
    session_id: int | None = None

    @property
    def is_professional(self) -> bool:
        return self.kind is UserKind.PROFESSIONAL

    @property
    def is_team_kind(self) -> bool:
        """Kinds whose access to patients comes from care-team membership."""
        return self.kind in (UserKind.PROFESSIONAL, UserKind.FAMILY, UserKind.PATIENT)


# The actor for work the system does on its own behalf (seeding, purges, imports from the CLI).
SYSTEM_ACTOR_KIND = "system"
