"""The priority list of an incident: every eligible person scored, explained and ranked.

Eligible are the live patients inside the incident's area (`incident_patient`, kept current as
areas and homes change). The hazard is the incident's: its level, the kinds named by its alerts
in force (or by the declaration's reason), the soonest onset. Each person is scored by the model
of overlay/priority_model.py with the weights of policies/priority.toml for the incident's
municipality. Only a planner may ask (policies/roles.csv: incident, priority), and only while the
incident is in force: a pending, ended or past incident has no list. Register entries without a
care team will join the list when the register is imported.

Ranking 200,000 people one Person at a time takes seconds, so the whole list is ranked over
arrays: each person's vulnerability points V from their kept-ready record (overlay/points.py)
and the weights, then score and tier from V, the straight-to-P1 rules and the safety status.
Score and tier depend on nothing else, so they are taken from `priority_model.score` itself, run
once for one person of each distinct (V, straight to P1, resolved); that person's V and rule
must come out as the arrays said, or the list is refused rather than shown in another order.
Ties are broken by depth inside the area (a distance to the area's boundary, costly at this
scale), computed only for the groups of equal tier and score that a page reaches. The entries of
the page returned are scored by the model from their rows, with one reason per factor.
tests/overlay/test_priority_ranking.py checks the arrays against the model on the demo world
and on random profiles.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, get_args

import numpy as np
import shapely
from numpy.typing import NDArray
from shapely.geometry.base import BaseGeometry
from sqlalchemy import text
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from renraku.access.actor import Actor
from renraku.alerts.models import Alert
from renraku.errors import Forbidden
from renraku.ids import encode_id
from renraku.kinds import LandslideZone, Living, Mobility
from renraku.overlay.areas import parse_area
from renraku.overlay.declarations import access_incident
from renraku.overlay.incidents import alert_in_force, alerts_of
from renraku.overlay.models import Incident, SafetyCheck, in_force
from renraku.overlay.points import (
    AIR_CONDITIONING,
    CARE_LEVELS,
    DEMENTIA,
    DEVICE_KINDS,
    EPOCH,
    LANDSLIDE_ZONES,
    LIVINGS,
    MOBILITIES,
    NO_VISIT,
    SENSORY,
    SUPPORTER,
    TSUNAMI,
    Points,
    Records,
    micros,
)
from renraku.overlay.points import load as load_points
from renraku.overlay.priority_model import (
    RESOLVED_STATUSES,
    Hazard,
    MatchedBy,
    Person,
    Rank,
    Scored,
    Tier,
    Weights,
    default_weights,
    hazard_kinds,
    rank_key,
    score,
)
from renraku.teams.models import Patient, RiskProfile
from renraku.timeutil import utcnow

# Degrees to metres, near enough at Japan's latitudes for ordering ties by depth inside an area.
METRES_PER_DEGREE = 111_000


class NotInForce(Forbidden):
    message = "The incident is not in force: its priority list is shown only while it is."


@dataclass(frozen=True)
class Entry:
    patient: Patient
    scored: Scored
    rank: Rank


def _hazard(incident: Incident, alerts: list[Alert]) -> Hazard:
    assert incident.id is not None
    texts = [incident.reason]
    for alert in alerts:
        texts += [alert.event, alert.headline]
        for info in alert.infos:
            texts += [str(info.get("event", "")), *map(str, info.get("kinds", {}) or {})]
    onsets = [a.onset for a in alerts if a.onset is not None]
    label = alerts[0].headline or alerts[0].event if alerts else incident.reason
    return Hazard(
        level=incident.level,
        kinds=hazard_kinds(" ".join(t for t in texts if t)),
        onset=min(onsets) if onsets else None,
        label=label[:120],
        source=encode_id("Incident", incident.id),
    )


def _person(patient: Patient, risk: RiskProfile | None, safety: str) -> Person:
    source = encode_id("Patient", patient.id or 0)
    if risk is None:
        return Person(source=source, last_visit_at=patient.last_visit_at, safety=safety)
    return Person(
        source=source,
        care_level=risk.care_level,
        mobility=risk.mobility,
        dementia=risk.dementia,
        sensory_impairment=risk.sensory_impairment,
        living=risk.living,
        devices=tuple((d["kind"], d.get("battery_hours")) for d in risk.devices),
        floor=risk.floor,
        landslide_zone=risk.landslide_zone,
        flood_depth_m=risk.flood_depth_m,
        tsunami_zone=risk.tsunami_zone,
        air_conditioning=risk.air_conditioning,
        supporter=risk.supporter,
        last_visit_at=patient.last_visit_at,
        safety=safety,
    )


def _matched_by(incident: Incident, patient: Patient) -> MatchedBy:
    if incident.area is None:
        return "declared" if incident.declared else "geocode"
    return "polygon" if patient.location_confidence == "high" else "geocode"


TIERS: tuple[Tier, ...] = get_args(Tier)
DAY = 86_400_000_000  # microseconds
Ints = NDArray[np.int64]


class ModelMismatch(RuntimeError):
    """The arrays and priority_model.score disagree: a change to one was not made to the other."""


def person_of(record: Any, devices_of: Records, *, source: str, safety: str = "unknown") -> Person:
    """The priority model's Person for a kept-ready record and its device records
    (overlay/points.py)."""
    flags = int(record["flags"])
    mine = devices_of[devices_of["id"] == record["id"]]
    devices = tuple(
        (DEVICE_KINDS[int(kind)].value, None if np.isnan(hours) else float(hours))
        for kind, hours in zip(mine["kind"].tolist(), mine["battery"].tolist(), strict=True)
    )
    visit = int(record["visit"])
    return Person(
        source=source,
        care_level=CARE_LEVELS[int(record["care_level"])].value,
        mobility=MOBILITIES[int(record["mobility"])].value,
        dementia=bool(flags & DEMENTIA),
        sensory_impairment=bool(flags & SENSORY),
        living=LIVINGS[int(record["living"])].value,
        devices=devices,
        floor=int(record["floor"]),
        landslide_zone=LANDSLIDE_ZONES[int(record["landslide"])].value,
        flood_depth_m=float(record["flood_depth"]),
        tsunami_zone=bool(flags & TSUNAMI),
        air_conditioning=bool(flags & AIR_CONDITIONING),
        supporter="named" if flags & SUPPORTER else "",
        last_visit_at=None if visit == NO_VISIT else EPOCH + timedelta(microseconds=visit),
        safety=safety,
    )


def vulnerability(
    points: Points, hazard: Hazard, weights: Weights, now: datetime
) -> tuple[Ints, NDArray[np.bool_]]:
    """Each record's vulnerability points V (capped) and whether a rule sends it straight to P1,
    as priority_model.score works them out, over arrays."""
    records, devices = points.records, points.devices
    kinds, lists = hazard.kinds, weights.hazards
    n = len(records)
    raw = np.zeros(n, dtype=np.int64)
    cut = kinds & lists["power_loss"]
    by_kind = weights.outage_hours
    outage = max((by_kind.get(kind, by_kind["default"]) for kind in cut), default=0)
    has_devices = records["devices"] > 0
    weight = weights.points
    if cut and len(devices):
        table = np.array([weight["device"][kind] for kind in DEVICE_KINDS], dtype=np.int64)
        hours = devices["battery"]
        short = np.isnan(hours) | (hours < outage)
        value = table[devices["kind"]] + np.where(short, weight["device"]["battery_bonus"], 0)
        np.add.at(raw, np.searchsorted(records["id"], devices["id"]), value)
    moving = np.array([weight["mobility"][m] for m in MOBILITIES], dtype=np.int64)
    care = np.array([weight["care_level"][c] for c in CARE_LEVELS], dtype=np.int64)
    living = np.array([weight["living"][v] for v in LIVINGS], dtype=np.int64)
    raw += np.maximum(moving[records["mobility"]], care[records["care_level"]])
    raw += living[records["living"]]
    flags = records["flags"]
    depth = weights.numbers["flood_depth_m"]
    deep = records["flood_depth"] >= depth["deep"]
    shallow = ~deep & (records["flood_depth"] >= depth["shallow"])
    slide = records["landslide"]
    special = slide == LANDSLIDE_ZONES.index(LandslideZone.SPECIAL)
    zone = slide == LANDSLIDE_ZONES.index(LandslideZone.ZONE)
    factors: list[tuple[str, str, NDArray[np.bool_]]] = [
        ("", "person.dementia", (flags & DEMENTIA) != 0),
        ("", "person.sensory_impairment", (flags & SENSORY) != 0),
        ("", "person.no_supporter", (flags & SUPPORTER) == 0),
        ("landslide", "zone.landslide_special", special),
        ("landslide", "zone.landslide", zone),
        ("flood", "zone.flood_deep", deep),
        ("flood", "zone.flood_shallow", shallow),
        ("ground_floor", "person.ground_floor", records["floor"] <= 1),
        ("tsunami", "zone.tsunami", (flags & TSUNAMI) != 0),
        ("heat", "heat.no_air_conditioning", (flags & AIR_CONDITIONING) == 0),
    ]
    for needs, factor, test in factors:
        if not needs or kinds & lists[needs]:
            table_name, key = factor.split(".")
            raw += weight[table_name][key] * test
    visit = records["visit"]
    never = visit == NO_VISIT
    days = (micros(now) - np.where(never, 0, visit)) // DAY
    stale = never | (days > weight["visit"]["stale_after_days"])
    raw += weight["visit"]["stale_points"] * stale
    levels = weight["straight_to_p1"]
    straight = np.zeros(n, dtype=np.bool_)
    if cut and hazard.level >= levels["device_min_level"]:
        straight |= has_devices
    if hazard.level >= levels["bedridden_alone_min_level"]:
        bedridden = records["mobility"] == MOBILITIES.index(Mobility.BEDRIDDEN)
        straight |= bedridden & (records["living"] == LIVINGS.index(Living.ALONE))
    capped: Ints = np.minimum(raw, weight["vulnerability"]["cap"])
    return capped, straight


def tiers_and_scores(
    points: Points,
    resolved: NDArray[np.bool_],
    hazard: Hazard,
    weights: Weights,
    now: datetime,
) -> tuple[NDArray[np.int8], NDArray[np.float64]]:
    """Each record's tier (its index in TIERS) and score, exactly as priority_model.score gives
    them; ModelMismatch if the model disagrees with the arrays."""
    records = points.records
    v, straight = vulnerability(points, hazard, weights, now)
    tier = np.zeros(len(records), dtype=np.int8)
    value = np.zeros(len(records), dtype=np.float64)
    if not len(records):
        return tier, value
    combined = (v << 2) | (straight.astype(np.int64) << 1) | resolved.astype(np.int64)
    kinds, first, inverse = np.unique(combined, return_index=True, return_inverse=True)
    tiers, scores = [], []
    for key, at in zip(kinds.tolist(), first.tolist(), strict=True):
        safety = "safe" if key & 1 else "unknown"
        person = person_of(records[at], points.devices, source="", safety=safety)
        scored = score(person, hazard, weights, now)
        if scored.vulnerability != key >> 2 or scored.straight_to_p1 != bool(key & 2):
            raise ModelMismatch(
                f"record {int(records[at]['id'])}: the arrays give V={key >> 2}, straight "
                f"{bool(key & 2)}; the model V={scored.vulnerability}, {scored.straight_to_p1}"
            )
        tiers.append(TIERS.index(scored.tier))
        scores.append(scored.score)
    tier[:] = np.array(tiers, dtype=np.int8)[inverse]
    value[:] = np.array(scores, dtype=np.float64)[inverse]
    return tier, value


@dataclass
class Ranking:
    """An incident's whole list ranked by tier and score; pages are cut from it on demand."""

    incident: Incident
    hazard: Hazard
    weights: Weights
    now: datetime
    area: BaseGeometry | None
    records: Records  # the eligible, sorted by (tier, -score, id)
    tier: NDArray[np.int8]
    score: NDArray[np.float64]
    safety: dict[int, str]

    @property
    def total(self) -> int:
        return len(self.records)

    @property
    def tier_counts(self) -> list[int]:
        counts = np.bincount(self.tier, minlength=len(TIERS)).tolist()
        return [int(c) for c in counts]

    def _group_keys(self, a: int, b: int) -> list[tuple[float, ...]]:
        """The rank keys (rank_key's, then the patient id) of the entries a..b-1: one group of
        equal tier and score, whose order within is by depth inside the area."""
        rows = self.records[a:b]
        when = float("-inf") if self.hazard.onset is None else self.hazard.onset.timestamp()
        depth: NDArray[np.float64] = np.zeros(b - a)
        if self.area is not None:
            homes = shapely.points(rows["longitude"], rows["latitude"])
            depth = np.asarray(shapely.distance(self.area.boundary, homes)) * METRES_PER_DEGREE
        tier, value = int(self.tier[a]), float(self.score[a])
        return [
            (tier, -value, when, -(d or 0.0), pid)
            for d, pid in zip(depth.tolist(), rows["id"].tolist(), strict=True)
        ]

    def keys_after(self, after: Sequence[float] | None, size: int) -> list[tuple[float, ...]]:
        """The rank keys of up to `size` entries after the cursor `after`, in order."""
        found: list[tuple[float, ...]] = []
        changes = (self.tier[1:] != self.tier[:-1]) | (self.score[1:] != self.score[:-1])
        starts = [0, *(np.flatnonzero(changes) + 1).tolist()]
        ends = [*starts[1:], len(self.records)]
        for group_start, group_end in zip(starts, ends, strict=True):
            if len(found) >= size or group_start >= group_end:
                break
            tier, value = int(self.tier[group_start]), float(self.score[group_start])
            if after is not None and (tier, -value) < (after[0], after[1]):
                continue
            keys = sorted(self._group_keys(group_start, group_end))
            if after is not None:
                cursor = tuple(after)
                keys = [k for k in keys if k > cursor]
            found += keys
        return found[:size]

    async def page(
        self, session: AsyncSession, *, after: Sequence[float] | None, size: int
    ) -> tuple[list[Entry], bool]:
        """The entries after the cursor, each scored by the model with its reasons; and whether
        more follow."""
        keys = self.keys_after(after, size + 1)
        more, keys = len(keys) > size, keys[:size]
        ids = [int(k[-1]) for k in keys]
        if not ids:
            return [], more
        rows = await session.exec(
            select(Patient, RiskProfile)
            .join(RiskProfile, col(RiskProfile.patient_id) == col(Patient.id), isouter=True)
            .where(col(Patient.id).in_(ids))
        )
        found = {patient.id: (patient, risk) for patient, risk in rows.all()}
        onset = self.hazard.onset
        entries = []
        for key in keys:
            patient, risk = found[int(key[-1])]
            matched = _matched_by(self.incident, patient)
            person = _person(patient, risk, self.safety.get(int(key[-1]), "unknown"))
            scored = score(person, replace(self.hazard, matched_by=matched), self.weights, self.now)
            depth = None if self.area is None else -key[3]
            entries.append(Entry(patient, scored, rank_key(scored, onset, depth)))
        return entries, more


async def _eligible_ids(session: AsyncSession, incident_id: int) -> Ints:
    """The incident's `incident_patient` ids, sorted, read as one value rather than a row each
    (200,000 rows cost ten times as much)."""
    conn = await session.connection()
    if conn.dialect.name == "postgresql":
        found = await conn.execute(
            text("SELECT array_agg(patient_id) FROM incident_patient WHERE incident_id = :i"),
            {"i": incident_id},
        )
        return np.sort(np.array(found.scalar() or [], dtype=np.int64))
    found = await conn.execute(
        text("SELECT group_concat(patient_id) FROM incident_patient WHERE incident_id = :i"),
        {"i": incident_id},
    )
    listed = found.scalar()
    ids = np.fromstring(listed, dtype=np.int64, sep=",") if listed else np.zeros(0, np.int64)
    return np.sort(ids)


async def access_priority_list(
    session: AsyncSession, *, actor: Actor, incident_id: int, now: datetime | None = None
) -> tuple[Incident, Ranking]:
    """The incident's ranked list, highest priority first; Forbidden unless a planner may see it."""
    now = now or utcnow()
    incident = await access_incident(session, actor=actor, incident_id=incident_id, act="priority")
    if not in_force(incident, now):
        raise NotInForce
    assert incident.id is not None
    alerts = [a for a in await alerts_of(session, incident.id) if alert_in_force(a, now)]
    hazard = _hazard(incident, alerts)
    weights = default_weights().weights_for(incident.municipality_code)
    area = parse_area(incident.area) if incident.area is not None else None
    eligible = (await load_points(session)).having(await _eligible_ids(session, incident.id))
    records = eligible.records
    checks = await session.exec(
        select(SafetyCheck.patient_id, SafetyCheck.status).where(
            SafetyCheck.incident_id == incident.id
        )
    )
    safety = dict(checks.all())
    resolved_ids = [pid for pid, status in safety.items() if status in RESOLVED_STATUSES]
    resolved = np.isin(records["id"], resolved_ids)
    tier, value = tiers_and_scores(eligible, resolved, hazard, weights, now)
    order = np.lexsort((records["id"], -value, tier))
    ranking = Ranking(
        incident=incident,
        hazard=hazard,
        weights=weights,
        now=now,
        area=area,
        records=records[order],
        tier=tier[order],
        score=value[order],
        safety=safety,
    )
    return incident, ranking
