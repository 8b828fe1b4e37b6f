"""Importing one alert document: parse, store, follow its references, place it, count patients.

Whatever the entry (the operator's `alerts import`, `POST /alerts`), a document goes through
`import_document`, which either stores it whole in one transaction or, when rejected, stores
nothing at all. DESIGN.md ("The contract that tools, tests and scripts rely on") fixes the result.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import shapely
from shapely.geometry import MultiPolygon, Polygon, mapping
from shapely.geometry.base import BaseGeometry
from shapely.ops import unary_union
from sqlalchemy import insert, true
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from renraku.accounts.models import Municipality
from renraku.alerts.documents import parse_document
from renraku.alerts.geometry import touched_municipalities
from renraku.alerts.models import Alert, AlertMunicipality, AlertPatient
from renraku.alerts.parsed import ACTUAL, EXERCISE, IGNORED_STATUSES, ParsedAlert, Reference
from renraku.alerts.xml_safety import Rejected
from renraku.audit.changes import record
from renraku.broker import Broker
from renraku.db import Database
from renraku.overlay.incidents import do_follow_alert
from renraku.overlay.live import IncidentChange, announce_on_commit
from renraku.overlay.points import load as load_points
from renraku.overlay.points import municipality_number
from renraku.settings import Settings
from renraku.tables import table_of
from renraku.timeutil import utcnow

ACCEPTED = "accepted"
UPDATED = "updated"
CANCELLED = "cancelled"
DRILL = "drill"
IGNORED = "ignored"
REJECTED = "rejected"
# Outcomes whose area is in force (by its own times): the patients inside are counted.
COVERING = frozenset({ACCEPTED, UPDATED, DRILL})
MAX_REASON_NOTES = 40
DEFAULT_GRACE = timedelta(hours=Settings.incident_grace_hours)


@dataclass(frozen=True)
class ImportResult:
    status: str
    reason: str
    alert_id: int | None = None
    matched_patients: int = 0
    # The incidents the alert opened, joined, changed or ended.
    incident_ids: tuple[int, ...] = ()


@dataclass(frozen=True)
class Origin:
    """Who sent the document: the operator's command (source None, trusted) or a source."""

    trusted: bool
    source_id: int | None = None
    source_name: str = "operator"


@dataclass(frozen=True)
class Placed:
    """A parsed document with where it lies, worked out before any transaction opens."""

    parsed: ParsedAlert
    shapes: BaseGeometry | None
    # The polygonal part of the shapes, in which homes lie (a circle of radius 0 holds none).
    covering: BaseGeometry | None
    municipalities: set[str]
    digest: str


def place_document(data: bytes) -> Placed:
    """Parse and place a document (CPU only, no I/O); Rejected when it is refused."""
    parsed = parse_document(data)
    shapes = unary_union(parsed.shapes) if parsed.shapes else None
    municipalities = set(parsed.geocoded_municipalities)
    if shapes is not None:
        municipalities |= touched_municipalities(shapes)
    covering = _polygonal(parsed.shapes)
    return Placed(parsed, shapes, covering, municipalities, hashlib.sha256(data).hexdigest())


async def import_document(
    db: Database,
    data: bytes,
    origin: Origin,
    *,
    incident_grace: timedelta = DEFAULT_GRACE,
    broker: Broker | None = None,
) -> ImportResult:
    """Import one document; `broker` (a server's) tells the incidents' live boards it touched."""
    try:
        # Up to 5 MB of XML and its shapes: off the event loop, which serves everyone else.
        placed = await asyncio.to_thread(place_document, data)
    except Rejected as rejected:
        return ImportResult(REJECTED, rejected.reason)
    try:
        async with db.transaction() as session:
            return await _store(session, placed, origin, incident_grace, broker)
    except IntegrityError:
        # The same message arrived twice at once and the other copy committed first: this one
        # now finds it and answers as for a repeat.
        async with db.transaction() as session:
            return await _store(session, placed, origin, incident_grace, broker)


def _outcome(parsed: ParsedAlert) -> str:
    if parsed.cap_status in IGNORED_STATUSES or parsed.msg_type in ("Ack", "Error"):
        return IGNORED
    if parsed.cap_status == EXERCISE:
        return DRILL
    if parsed.msg_type == "Cancel" or parsed.all_clear:
        return CANCELLED
    if parsed.msg_type == "Update":
        return UPDATED
    return ACCEPTED


def _polygonal(shapes: list[BaseGeometry]) -> BaseGeometry | None:
    parts = [s for s in shapes if isinstance(s, (Polygon, MultiPolygon))]
    return unary_union(parts) if parts else None


async def _store(
    session: AsyncSession,
    placed: Placed,
    origin: Origin,
    incident_grace: timedelta,
    broker: Broker | None,
) -> ImportResult:
    parsed, shapes, digest = placed.parsed, placed.shapes, placed.digest
    municipalities = placed.municipalities
    existing = (
        await session.exec(
            select(Alert).where(
                Alert.sender == parsed.sender, Alert.identifier == parsed.identifier
            )
        )
    ).first()
    if existing is not None:
        note = (
            "already imported"
            if existing.document_sha256 == digest
            else ("already imported with different content; the first copy is kept")
        )
        return ImportResult(existing.status, note, existing.id, existing.matched_patients)

    status = _outcome(parsed)
    notes = list(parsed.notes)
    now = utcnow()
    if parsed.msg_type == "Update" and parsed.all_clear:
        notes.append("an Update that clears everything (AllClear) ends what it references")
    if parsed.expires is not None and parsed.expires <= now:
        notes.append("already expired")
    alert = Alert(
        source_id=origin.source_id,
        trusted=origin.trusted,
        format=parsed.format,
        sender=parsed.sender,
        identifier=parsed.identifier,
        sent=parsed.sent,
        cap_status=parsed.cap_status,
        msg_type=parsed.msg_type,
        status=status,
        references=[r.__dict__ for r in parsed.references],
        thread=parsed.thread,
        event=parsed.event,
        headline=parsed.headline,
        language=parsed.language,
        infos=parsed.infos,
        level=parsed.level,
        onset=parsed.onset,
        expires=parsed.expires,
        area=_geojson(shapes),
        location_confidence="high" if shapes is not None else "low",
        document_sha256=digest,
    )
    session.add(alert)
    await session.flush()
    assert alert.id is not None
    if status != IGNORED:
        # A Test or Draft never ends or replaces anything, whatever it references.
        ended = status == CANCELLED
        notes += await _follow_references(session, alert, parsed.references, ended=ended, now=now)
        replaced = await _follow_thread(session, alert, ended=ended, now=now)
        if replaced and status == ACCEPTED:
            status = alert.status = UPDATED
        if not municipalities and status != CANCELLED:
            notes.append("touches no bundled municipality")
    if municipalities and status != IGNORED:
        await (await session.connection()).execute(
            insert(table_of(AlertMunicipality)),
            [{"alert_id": alert.id, "municipality_code": c} for c in sorted(municipalities)],
        )
    matched = 0
    if status in COVERING:
        patients = await _patients_inside(
            session, placed.covering, parsed.geocoded_municipalities, municipalities
        )
        if patients:
            await (await session.connection()).execute(
                insert(table_of(AlertPatient)),
                [{"alert_id": alert.id, "patient_id": p} for p in sorted(patients)],
            )
        matched = len(patients)
    alert.matched_patients = matched
    alert.reason = _reason(notes)
    session.add(alert)
    incidents: list[int] = []
    if status != IGNORED:
        served = await session.exec(
            select(Municipality.code).where(col(Municipality.code).in_(sorted(municipalities)))
        )
        incidents = await do_follow_alert(
            session,
            alert=alert,
            municipalities=sorted(municipalities),
            served=list(served.all()),
            grace=incident_grace,
            now=now,
        )
        if broker is not None:
            for incident_id in incidents:
                announce_on_commit(
                    session, broker, incident_id=incident_id, change=IncidentChange.LIST
                )
    await record(
        session,
        actor=None,
        action="alert.import",
        object_type="alert",
        object_ids=[alert.id],
        detail={
            "source": origin.source_name,
            "trusted": origin.trusted,
            "status": status,
            "matched_patients": matched,
            "sha256": digest,
            "incidents": incidents,
        },
    )
    return ImportResult(status, alert.reason, alert.id, matched, tuple(incidents))


def _reason(notes: list[str]) -> str:
    if len(notes) > MAX_REASON_NOTES:
        notes = [*notes[:MAX_REASON_NOTES], f"and {len(notes) - MAX_REASON_NOTES} more notes"]
    return "; ".join(notes)


def _geojson(shape: BaseGeometry | None) -> dict[str, object] | None:
    if shape is None or shape.is_empty:
        return None
    # shapely's tuples become lists, as the JSON column would return them.
    loaded: dict[str, object] = json.loads(json.dumps(mapping(shape)))
    return loaded


async def _follow_references(
    session: AsyncSession,
    alert: Alert,
    references: list[Reference],
    *,
    ended: bool,
    now: datetime,
) -> list[str]:
    notes: list[str] = []
    for reference in references:
        if (reference.sender, reference.identifier) == (alert.sender, alert.identifier):
            notes.append(f"<references>: '{reference.identifier[:80]}' is this message itself")
            continue
        earlier = (
            await session.exec(
                select(Alert).where(
                    Alert.sender == reference.sender, Alert.identifier == reference.identifier
                )
            )
        ).first()
        if earlier is None:
            notes.append(f"<references>: '{reference.identifier[:80]}' was never seen")
            continue
        if (earlier.cap_status == ACTUAL) != (alert.cap_status == ACTUAL):
            notes.append(
                f"<references>: '{reference.identifier[:80]}' is {earlier.cap_status}; left alone"
            )
            continue
        if earlier.trusted and not alert.trusted:
            # An untrusted message never ends or replaces a trusted one: its sender field is
            # only what it says, and ending an alert would close a board people are working.
            notes.append(
                f"<references>: '{reference.identifier[:80]}' came from a trusted source; "
                "an untrusted message leaves it alone"
            )
            continue
        _end_or_replace(earlier, alert, ended=ended, now=now)
        session.add(earlier)
        if ended:
            # A cancel of a message that was since updated ends the updates too.
            await _end_updates_of(session, earlier, alert, now=now)
    return notes


async def _end_updates_of(
    session: AsyncSession, earlier: Alert, alert: Alert, *, now: datetime
) -> None:
    seen = {earlier.id}
    following = earlier.superseded_by
    while following is not None and following not in seen and following != alert.id:
        seen.add(following)
        update = await session.get(Alert, following)
        if update is None:
            return
        _end_or_replace(update, alert, ended=True, now=now)
        session.add(update)
        following = update.superseded_by


async def _follow_thread(
    session: AsyncSession, alert: Alert, *, ended: bool, now: datetime
) -> bool:
    """A JMA message replaces the earlier ones of its thread still in force (JMA messages carry
    no references: each one states everything in force for its kind, office and event)."""
    if not alert.thread:
        return False
    earlier = (
        await session.exec(
            select(Alert).where(
                Alert.thread == alert.thread,
                Alert.cap_status == alert.cap_status,
                col(Alert.id) != alert.id,
                col(Alert.sent) <= alert.sent,
                col(Alert.superseded_by).is_(None),
                col(Alert.ended_at).is_(None),
                # An untrusted message replaces only untrusted ones (see _follow_references).
                col(Alert.trusted).is_(False) if not alert.trusted else true(),
            )
        )
    ).all()
    for previous in earlier:
        _end_or_replace(previous, alert, ended=ended, now=now)
        session.add(previous)
    return bool(earlier)


def _end_or_replace(earlier: Alert, alert: Alert, *, ended: bool, now: datetime) -> None:
    # History is kept: the earlier row stays, marked by what replaced or ended it.
    if ended:
        earlier.cancelled_by = alert.id
        earlier.ended_at = earlier.ended_at or now
    else:
        earlier.superseded_by = alert.id


async def _patients_inside(
    session: AsyncSession,
    area: BaseGeometry | None,
    geocoded: set[str],
    touched: set[str],
) -> set[int]:
    """Patients whose home lies in the area; where only the area code of a home is known (low
    confidence), or the alert was only placed by geocode, the municipality decides. Homes are
    the kept-ready points (overlay/points.py), tested at once."""
    if area is None and not geocoded:
        return set()
    homes = (await load_points(session)).records
    code = homes["municipality"]
    found = np.isin(code, [municipality_number(c) for c in geocoded])
    if area is not None:
        high = homes["high"].astype(np.bool_)
        lon, lat = homes["longitude"], homes["latitude"]
        minx, miny, maxx, maxy = area.bounds
        near = high & (lon >= minx) & (lon <= maxx) & (lat >= miny) & (lat <= maxy)
        inside = np.zeros(len(homes), dtype=np.bool_)
        shapely.prepare(area)
        inside[near] = shapely.contains_xy(area, lon[near], lat[near])
        found |= inside | (~high & np.isin(code, [municipality_number(c) for c in touched]))
    return set(homes["id"][found].tolist())
