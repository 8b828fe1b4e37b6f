"""The demo world's `[[alerts]]`: CAP files under seed/, imported as from a trusted source with
their times moved to the moment of seeding, so that the demo incident is active.

Seeding stays idempotent: an alert whose earlier copy is still in force is not imported again;
once that copy has expired, seeding imports a fresh one (its identifier gets the seeding time, as
a sender's new message would have a new identifier).
"""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlmodel import col, select

from renraku.alerts.imports import Origin, import_document
from renraku.alerts.models import Alert
from renraku.db import Database
from renraku.timeutil import utcnow

DEMO_ORIGIN = Origin(trusted=True, source_name="demo")
_TIMES = re.compile(r"<(sent|effective|onset|expires)>([^<]+)</\1>")
_SENDER = re.compile(r"<sender>([^<]+)</sender>")
_IDENTIFIER = re.compile(r"<identifier>([^<]+)</identifier>")


def moved_to(text: str, now: datetime) -> str:
    """The document with every time shifted by the same amount, so that `sent` is `now`."""
    sent = _TIMES.search(text)
    if sent is None or sent.group(1) != "sent":
        raise ValueError("a demo alert needs <sent> before its other times")
    shift = now - datetime.fromisoformat(sent.group(2).strip())

    def moved(found: re.Match[str]) -> str:
        when = datetime.fromisoformat(found.group(2).strip()) + shift
        return f"<{found.group(1)}>{when.isoformat(timespec='seconds')}</{found.group(1)}>"

    return _TIMES.sub(moved, text)


async def _in_force(db: Database, sender: str, identifier: str, now: datetime) -> bool:
    async with db.session() as session:
        found = await session.exec(
            select(Alert.id).where(
                Alert.sender == sender,
                col(Alert.identifier).startswith(identifier),
                col(Alert.ended_at).is_(None),
                col(Alert.superseded_by).is_(None),
                col(Alert.expires) > now,
            )
        )
        return found.first() is not None


async def load_demo_alerts(db: Database, world: dict[str, Any], folder: Path) -> int:
    """Import each demo alert not in force already; how many were imported."""
    imported = 0
    for spec in world.get("alerts", []):
        text = (folder / spec["file"]).read_text(encoding="utf-8")
        sender, identifier = _SENDER.search(text), _IDENTIFIER.search(text)
        if sender is None or identifier is None:
            raise ValueError(f"{spec['file']}: a demo alert needs <sender> and <identifier>")
        now = utcnow().replace(microsecond=0)
        if await _in_force(db, sender.group(1), identifier.group(1), now):
            continue
        fresh = f"{identifier.group(1)}:{now:%Y%m%dT%H%M%S}"
        text = _IDENTIFIER.sub(f"<identifier>{fresh}</identifier>", moved_to(text, now), count=1)
        result = await import_document(db, text.encode("utf-8"), DEMO_ORIGIN)
        if result.alert_id is None:
            raise ValueError(f"{spec['file']}: {result.status}: {result.reason}")
        imported += 1
    return imported
