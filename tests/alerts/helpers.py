"""Shared by the alert tests: the sample files, and what the database holds about alerts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import func
from sqlmodel import select

from renraku.alerts.models import Alert, AlertMunicipality, AlertPatient, AlertSource
from renraku.audit.models import AuditRecord
from renraku.db import Database
from renraku.overlay.models import Incident, IncidentAlert, IncidentPatient

DATA = Path(__file__).parent.parent / "data" / "alerts"
SENDER = "bousai@example.invalid"
GAMAGORI = "232149"
NISHIO_OR_NEIGHBOUR = "232131"


def sample(name: str) -> bytes:
    return (DATA / name).read_bytes()


def real_samples() -> list[str]:
    return sorted(p.name for p in DATA.glob("*.xml") if not p.name.startswith("synthetic-"))


async def state(db: Database) -> tuple[int, ...]:
    """Row counts of every table an import writes to, the audit log and incidents included."""
    counts = []
    async with db.session() as session:
        for model in (
            Alert,
            AlertMunicipality,
            AlertPatient,
            AlertSource,
            AuditRecord,
            Incident,
            IncidentAlert,
            IncidentPatient,
        ):
            counts.append((await session.exec(select(func.count()).select_from(model))).one())
    return tuple(counts)


async def alert_row(db: Database, alert_id: int) -> Alert:
    async with db.session() as session:
        found = await session.get(Alert, alert_id)
    assert found is not None
    return found


def demo_homes(
    demo: dict[str, Any], *, municipality: str | None = None
) -> dict[str, tuple[float, float]]:
    return {
        p["key"]: (p["location"][0], p["location"][1])
        for p in demo["patients"]
        if municipality is None or p["municipality"] == municipality
    }


def inside_box(
    homes: dict[str, tuple[float, float]], lat: tuple[float, float], lon: tuple[float, float]
) -> set[str]:
    return {
        key for key, (la, lo) in homes.items() if lat[0] <= la <= lat[1] and lon[0] <= lo <= lon[1]
    }
