"""Incidents: declared by hand or started by alerts, ended, and their patient lists kept current.

One concept whatever started it (DESIGN.md "Priority model"): an Actual alert at level 3 or above
from a trusted source that touches a municipality opens an incident there, or joins the one
already open (its area grows to hold the alert's, its level rises); an untrusted source's alert
opens (or joins) a pending one that unlocks nothing until a planner confirms it, and never
changes an incident in force. An update replaces the alert
it references in the incident's area; when the last alert in force is cancelled or expires, an
incident no planner declared ends after the grace period.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import numpy as np
import shapely
from numpy.typing import NDArray
from shapely.geometry import MultiPolygon, Polygon, shape
from shapely.geometry.base import BaseGeometry
from shapely.ops import unary_union
from sqlalchemy import func, or_, text
from sqlmodel import col, delete, select
from sqlmodel.ext.asyncio.session import AsyncSession

from renraku.access.actor import Actor
from renraku.alerts.models import Alert
from renraku.audit import changes
from renraku.errors import BadInput, NotFound
from renraku.geo import boundaries
from renraku.overlay.announcements import do_announce
from renraku.overlay.areas import parse_area, to_geojson
from renraku.overlay.models import (
    ALERT,
    Incident,
    IncidentAlert,
    IncidentPatient,
    is_open,
    open_incident,
)
from renraku.overlay.points import load as load_points
from renraku.overlay.points import refresh as refresh_points
from renraku.teams.models import Patient
from renraku.text import clean_text, visible_length
from renraku.timeutil import utcnow

MAX_INCIDENT_HOURS = 24 * 14
MAX_REASON_LENGTH = 400
# The level at which elderly people must leave (高齢者等避難): an alert from it opens an incident.
TRIGGER_LEVEL = 3
LEVELS = range(1, 6)
# An alert without an expiry is taken to hold this long from when it was sent.
UNBOUNDED_ALERT_HOURS = 24
# The outcomes of an import whose area is in force (alerts/imports.py), and an Exercise's.
IN_FORCE = ("accepted", "updated")
DRILL_STATUS = "drill"


def validate_declaration(
    *, reason: str, ends_at: datetime, level: int = TRIGGER_LEVEL, now: datetime | None = None
) -> str:
    now = now or utcnow()
    reason = clean_text(reason, multiline=True)
    if not visible_length(reason):
        raise BadInput("Give the reason for the incident.", field="reason")
    if len(reason) > MAX_REASON_LENGTH:
        raise BadInput(f"The reason is longer than {MAX_REASON_LENGTH} characters.", field="reason")
    if level not in LEVELS:
        raise BadInput("The level is one of the warning scale's 1 to 5.", field="level")
    if ends_at.tzinfo is None:
        raise BadInput("The end time needs a time zone.", field="endsAt")
    if ends_at <= now:
        raise BadInput("The end time must be in the future.", field="endsAt")
    if ends_at > now + timedelta(hours=MAX_INCIDENT_HOURS):
        raise BadInput(
            f"An incident lasts at most {MAX_INCIDENT_HOURS} hours; declare it again after.",
            field="endsAt",
        )
    return reason


def _inside(
    area: BaseGeometry | None, longitudes: NDArray[np.float64], latitudes: NDArray[np.float64]
) -> NDArray[np.bool_]:
    """Which of the homes the area holds (all of them for None: the whole municipality)."""
    if area is None:
        return np.ones(len(longitudes), dtype=np.bool_)
    minx, miny, maxx, maxy = area.bounds
    near = (longitudes >= minx) & (longitudes <= maxx) & (latitudes >= miny) & (latitudes <= maxy)
    shapely.prepare(area)
    inside = np.zeros(len(longitudes), dtype=np.bool_)
    inside[near] = shapely.contains_xy(area, longitudes[near], latitudes[near])
    return inside


async def _members(session: AsyncSession, incident_id: int) -> NDArray[np.int64]:
    """The ids in `incident_patient` for the incident, read as one value rather than a row
    each (200,000 rows cost ten times as much)."""
    conn = await session.connection()
    if conn.dialect.name == "postgresql":
        found = await conn.execute(
            text("SELECT array_agg(patient_id) FROM incident_patient WHERE incident_id = :i"),
            {"i": incident_id},
        )
        return np.array(found.scalar() or [], dtype=np.int64)
    found = await conn.execute(
        text("SELECT group_concat(patient_id) FROM incident_patient WHERE incident_id = :i"),
        {"i": incident_id},
    )
    listed = found.scalar()
    return np.fromstring(listed, dtype=np.int64, sep=",") if listed else np.zeros(0, np.int64)


# Many ids as one parameter: a PostgreSQL array, or a JSON array for SQLite's json_each.
_IDS_PG = "unnest(CAST(:ids AS INTEGER[]))"
_IDS_SQLITE = "(SELECT value FROM json_each(:ids))"


async def _change_members(
    session: AsyncSession, incident_id: int, *, add: NDArray[np.int64], drop: NDArray[np.int64]
) -> None:
    """Add and remove `incident_patient` rows in one statement each, whatever their number."""
    conn = await session.connection()
    postgresql = conn.dialect.name == "postgresql"
    for ids, statement in (
        (drop, "DELETE FROM incident_patient WHERE incident_id = :i AND patient_id IN {ids}"),
        (add, "INSERT INTO incident_patient (incident_id, patient_id) SELECT :i, {bare}"),
    ):
        if not len(ids):
            continue
        values = np.sort(ids).tolist()
        if postgresql:
            sql = statement.format(ids=f"(SELECT {_IDS_PG})", bare=_IDS_PG)
            await conn.execute(text(sql), {"i": incident_id, "ids": values})
        else:
            # A list of ints prints as a JSON array, several times faster than json.dumps.
            sql = statement.format(ids=_IDS_SQLITE, bare="value FROM json_each(:ids)")
            await conn.execute(text(sql), {"i": incident_id, "ids": str(values)})


async def _place_all(session: AsyncSession, incident: Incident) -> int:
    """Put exactly the municipality's live patients inside the incident's area into it: their
    kept-ready homes (overlay/points.py) tested at once, and only the difference written."""
    assert incident.id is not None
    homes = (await load_points(session)).of([incident.municipality_code]).records
    area = parse_area(incident.area) if incident.area is not None else None
    wanted = homes["id"][_inside(area, homes["longitude"], homes["latitude"])]
    current = await _members(session, incident.id)
    await _change_members(
        session,
        incident.id,
        add=np.setdiff1d(wanted, current, assume_unique=True),
        drop=np.setdiff1d(current, wanted, assume_unique=True),
    )
    return len(wanted)


async def do_declare_incident(
    session: AsyncSession,
    *,
    actor: Actor | None,
    municipality_code: str,
    area: BaseGeometry | None,
    reason: str,
    ends_at: datetime,
    level: int = TRIGGER_LEVEL,
    drill: bool = False,
) -> Incident:
    """Declare an incident, or a drill (authorisation is the caller's, through renraku.access)."""
    reason = validate_declaration(reason=reason, ends_at=ends_at, level=level)
    if municipality_code not in boundaries():
        raise BadInput("Unknown municipality code.", field="municipalityCode")
    if area is not None and not area.intersects(boundaries()[municipality_code]):
        raise BadInput("The area does not touch the municipality.", field="area")
    declared_area = to_geojson(area) if area is not None else None
    incident = Incident(
        municipality_code=municipality_code,
        area=declared_area,
        declared=True,
        declared_area=declared_area,
        reason=reason,
        level=level,
        drill=drill,
        ends_at=ends_at,
        declared_by=actor.user_id if actor else None,
    )
    session.add(incident)
    await session.flush()
    assert incident.id is not None
    inside = await _place_all(session, incident)
    await changes.record(
        session,
        actor=actor,
        action="overlay.incident_declared",
        object_type="incident",
        object_ids=[incident.id],
        detail={
            "municipality": municipality_code,
            "patients": inside,
            "level": level,
            "drill": drill,
        },
    )
    await do_announce(session, incident=incident, inside=inside)
    return incident


async def do_end_incident(session: AsyncSession, *, actor: Actor, incident: Incident) -> Incident:
    if not is_open(incident):
        raise NotFound
    incident.ended_at = utcnow()
    incident.ended_by = actor.user_id
    session.add(incident)
    assert incident.id is not None
    await changes.record(
        session,
        actor=actor,
        action="overlay.incident_ended",
        object_type="incident",
        object_ids=[incident.id],
    )
    return incident


async def do_confirm_incident(
    session: AsyncSession, *, actor: Actor, incident: Incident
) -> Incident:
    """A planner confirms what an untrusted source's alert opened: names unlock from now."""
    if not incident.pending or not is_open(incident):
        raise NotFound
    incident.pending = False
    incident.confirmed_by = actor.user_id
    session.add(incident)
    assert incident.id is not None
    await changes.record(
        session,
        actor=actor,
        action="overlay.incident_confirmed",
        object_type="incident",
        object_ids=[incident.id],
    )
    inside = await session.exec(
        select(func.count())
        .select_from(IncidentPatient)
        .where(IncidentPatient.incident_id == incident.id)
    )
    await do_announce(session, incident=incident, inside=inside.one())
    return incident


async def do_place_patient(session: AsyncSession, *, patient: Patient) -> None:
    """Put a new or moved patient into exactly the open incidents whose area holds them; their
    kept-ready point is rewritten with them."""
    assert patient.id is not None
    await session.flush()
    await refresh_points(session)
    await session.exec(delete(IncidentPatient).where(col(IncidentPatient.patient_id) == patient.id))
    if patient.archived_at is not None:
        return
    incidents = (
        await session.exec(
            select(Incident).where(
                Incident.municipality_code == patient.municipality_code, open_incident()
            )
        )
    ).all()
    for incident in incidents:
        area = parse_area(incident.area) if incident.area is not None else None
        if area is None or shapely.contains_xy(area, patient.longitude, patient.latitude):
            assert incident.id is not None
            session.add(IncidentPatient(incident_id=incident.id, patient_id=patient.id))


async def list_incidents(
    session: AsyncSession, *, municipality_code: str, active: bool | None
) -> list[Incident]:
    query = select(Incident).where(Incident.municipality_code == municipality_code)
    if active is True:
        query = query.where(open_incident())
    elif active is False:
        now = utcnow()
        query = query.where(or_(col(Incident.ended_at).is_not(None), col(Incident.ends_at) <= now))
    return list((await session.exec(query.order_by(col(Incident.starts_at).desc()))).all())


# --- Alerts ----------------------------------------------------------------------------------


def alert_in_force(alert: Alert, now: datetime) -> bool:
    """An alert whose area is in force now: an Actual one accepted or updated, or an Exercise
    (which only ever joins a drill incident)."""
    real = alert.cap_status == "Actual" and alert.status in IN_FORCE
    drill = alert.cap_status == "Exercise" and alert.status == DRILL_STATUS
    return (
        (real or drill)
        and alert.superseded_by is None
        and alert.cancelled_by is None
        and alert.ended_at is None
        and (alert.expires is None or alert.expires > now)
    )


def _alert_until(alert: Alert) -> datetime:
    return alert.expires or alert.sent + timedelta(hours=UNBOUNDED_ALERT_HOURS)


def _alert_part(alert: Alert, municipality_code: str) -> BaseGeometry | None:
    """The part of the municipality an alert covers; None for all of it (placed by geocode)."""
    if alert.area is None:
        return None
    found = shape(alert.area)
    parts = getattr(found, "geoms", [found])
    polygons = [p for p in parts if isinstance(p, (Polygon, MultiPolygon))]
    if not polygons:
        return None
    return unary_union(polygons).intersection(boundaries()[municipality_code])


async def alerts_of(session: AsyncSession, incident_id: int) -> list[Alert]:
    rows = await session.exec(
        select(Alert)
        .join(IncidentAlert, col(IncidentAlert.alert_id) == col(Alert.id))
        .where(IncidentAlert.incident_id == incident_id)
    )
    return list(rows.all())


async def _refresh(
    session: AsyncSession, incident: Incident, *, now: datetime, grace: timedelta
) -> int:
    """Recompute an incident's area, level and end from its declaration and its alerts in force."""
    assert incident.id is not None
    in_force = [a for a in await alerts_of(session, incident.id) if alert_in_force(a, now)]
    whole = False
    parts: list[BaseGeometry] = []
    if incident.declared:
        if incident.declared_area is None:
            whole = True
        else:
            parts.append(parse_area(incident.declared_area))
    for alert in in_force:
        part = _alert_part(alert, incident.municipality_code)
        if part is None:
            whole = True
        elif not part.is_empty:
            parts.append(part)
    if in_force:
        incident.level = max([incident.level, *(a.level or TRIGGER_LEVEL for a in in_force)])
        incident.ends_at = max(incident.ends_at, *(_alert_until(a) + grace for a in in_force))
    elif not incident.declared:
        # Its last alert was cancelled or has expired: carers report back for the grace period.
        incident.ends_at = min(incident.ends_at, now + grace)
    if whole:
        incident.area = None
    elif parts:
        incident.area = to_geojson(unary_union(parts))
    # else: an incident ending without a declaration keeps the area its alerts last had.
    session.add(incident)
    return await _place_all(session, incident)


async def do_follow_alert(
    session: AsyncSession,
    *,
    alert: Alert,
    municipalities: Sequence[str],
    served: Sequence[str],
    grace: timedelta,
    now: datetime | None = None,
) -> list[int]:
    """Open, join or end incidents after an alert was stored; the ids of the incidents touched.

    `municipalities` are those the alert touches, `served` those that have a `municipality`
    row (only there can an incident be). An Exercise opens or joins only a drill incident; Test,
    Draft and System messages and alerts below the trigger open nothing.
    """
    now = now or utcnow()
    assert alert.id is not None
    touched: list[int] = []
    # Incidents holding an alert this one replaces or cancels are refreshed too.
    earlier = await session.exec(
        select(IncidentAlert.incident_id)
        .join(Alert, col(Alert.id) == col(IncidentAlert.alert_id))
        .where(or_(col(Alert.superseded_by) == alert.id, col(Alert.cancelled_by) == alert.id))
        .distinct()
    )
    following = set(earlier.all())
    # An Exercise opens or joins a drill incident, never a real one, and the other way round.
    drill = alert.cap_status == "Exercise"
    opens = (alert.level or 0) >= TRIGGER_LEVEL and alert_in_force(alert, now)
    if opens:
        for code in sorted(set(municipalities) & set(served)):
            incident = (
                await session.exec(
                    select(Incident)
                    .where(
                        Incident.municipality_code == code,
                        col(Incident.drill).is_(drill),
                        # An untrusted source's alert never touches an incident in force: it
                        # could grow the area and unlock names. It joins or opens a pending one.
                        col(Incident.pending).is_(not alert.trusted),
                        open_incident(now),
                    )
                    .order_by(col(Incident.starts_at).desc())
                )
            ).first()
            if incident is None:
                incident = Incident(
                    municipality_code=code,
                    origin=ALERT,
                    reason=(alert.headline or alert.event or "alert")[:MAX_REASON_LENGTH],
                    level=alert.level or TRIGGER_LEVEL,
                    pending=not alert.trusted,
                    drill=drill,
                    starts_at=now,
                    ends_at=_alert_until(alert) + grace,
                )
                session.add(incident)
                await session.flush()
                action = "overlay.incident_opened"
            else:
                action = "overlay.incident_joined"
            assert incident.id is not None
            session.add(IncidentAlert(incident_id=incident.id, alert_id=alert.id))
            await session.flush()
            following.discard(incident.id)
            inside = await _refresh(session, incident, now=now, grace=grace)
            await changes.record(
                session,
                actor=None,
                action=action,
                object_type="incident",
                object_ids=[incident.id],
                detail={
                    "alert": alert.id,
                    "level": incident.level,
                    "patients": inside,
                    "pending": incident.pending,
                },
            )
            if action == "overlay.incident_opened":
                await do_announce(session, incident=incident, inside=inside)
            touched.append(incident.id)
    for incident_id in sorted(following):
        incident = await session.get(Incident, incident_id)
        if incident is None or incident.ended_at is not None or incident.ends_at <= now:
            continue
        inside = await _refresh(session, incident, now=now, grace=grace)
        await changes.record(
            session,
            actor=None,
            action="overlay.incident_updated",
            object_type="incident",
            object_ids=[incident_id],
            detail={"alert": alert.id, "level": incident.level, "patients": inside},
        )
        touched.append(incident_id)
    return touched
