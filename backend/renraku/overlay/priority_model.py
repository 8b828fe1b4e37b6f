"""DESIGN.md "Priority model (disaster overlay)", pure: the caller passes each eligible person with
their hazard and `default_weights().weights_for(municipality_code)` (policies/priority.toml).

Beyond DESIGN.md: a person whose `safety` is in RESOLVED_STATUSES is scored but has tier "resolved",
which `rank_key` puts after P3. One Reason per factor: `factor` a stable key for the web app to
translate (the policy's key where there is one: "device.oxygen", "mobility.bedridden"; else
"hazard.level", "time.onset", "visit.stale", "straight.device", ...), `text` English for logs and
as a fallback, `points` (summing to `vulnerability`; "vulnerability.cap" takes off the excess) and
`params` for a UI. Mobility and care level are one factor, the higher. Each device counts; unknown
battery hours earn the battery bonus. Exposure counts only under the hazards the policy's `hazards`
lists name, as DESIGN.md has it for devices and heat; an event no keyword names is "unknown". Stale
counts whole days since the last visit; none recorded is stale.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from functools import cache
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model

from renraku.kinds import CareLevel, DeviceKind, LandslideZone, Living, Mobility
from renraku.package_data import POLICIES, package_folder

Tier = Literal["P1", "P2", "P3", "resolved"]
MatchedBy = Literal["polygon", "geocode", "declared"]
Param = str | int | float | None
Kinds = frozenset[str]
Rank = tuple[float, ...]
RESOLVED_STATUSES = frozenset({"safe", "evacuated", "hospitalised"})
JST = timezone(timedelta(hours=9), "JST")  # the reason texts' clock; Japan keeps no summer time
Points = Annotated[int, Field(ge=0)]
Level = Annotated[int, Field(ge=1, le=5)]
Number = Annotated[float, Field(ge=0)]
Words = list[Annotated[str, Field(min_length=1)]]
# The policy's tables: the type of their values, and their keys.
TABLES: dict[str, tuple[Any, tuple[str, ...]]] = {
    "vulnerability": (Points, ("cap",)),
    "device": (Points, (*DeviceKind, "battery_bonus")),
    "mobility": (Points, tuple(Mobility)),
    "care_level": (Points, tuple(CareLevel)),
    "living": (Points, tuple(Living)),
    "person": (Points, ("dementia", "sensory_impairment", "no_supporter", "ground_floor")),
    "heat": (Points, ("no_air_conditioning",)),
    "zone": (Points, ("landslide_special", "landslide", "tsunami", "flood_deep", "flood_shallow")),
    "visit": (Points, ("stale_after_days", "stale_points")),
    "straight_to_p1": (Level, ("device_min_level", "bedridden_alone_min_level")),
    "flood_depth_m": (Number, ("deep", "shallow")),
    "tiers": (Number, ("p1", "p2")),
    "time": (Number, ("near_hours", "near", "soon_hours", "soon", "later")),
}
# The `hazards` lists: under which hazard kinds a factor counts.
HAZARD_LISTS = ("power_loss", "heat", "landslide", "flood", "tsunami", "ground_floor")
FLOOD = "flood depth {p.flood_depth_m:g} m"
# Yes-or-no factors, by their policy key: (the `hazards` list they need or "", text, test). A test
# sees the person and marks: their flood band ("deep", "shallow" or "") and landslide zone value.
FACTORS: dict[str, tuple[str, str, Callable[[Person, str], bool]]] = {
    "person.dementia": ("", "dementia", lambda p, _: p.dementia),
    "person.sensory_impairment": ("", "sensory impairment", lambda p, _: p.sensory_impairment),
    "person.no_supporter": ("", "no named supporter", lambda p, _: not p.supporter.strip()),
    "zone.landslide_special": ("landslide", "special landslide zone", lambda _, m: "special" in m),
    "zone.landslide": ("landslide", "landslide zone", lambda _, m: "zone" in m),
    "zone.flood_deep": ("flood", FLOOD, lambda _, m: "deep" in m),
    "zone.flood_shallow": ("flood", FLOOD, lambda _, m: "shallow" in m),
    "person.ground_floor": ("ground_floor", "ground floor", lambda p, _: p.floor <= 1),
    "zone.tsunami": ("tsunami", "tsunami zone", lambda p, _: p.tsunami_zone),
    "heat.no_air_conditioning": ("heat", "no air conditioner", lambda p, _: not p.air_conditioning),
}
DEVICE_TEXT = {"oxygen": "oxygen concentrator", "home_dialysis": "home dialysis"}
LIVING_TEXT = {"alone": "lives alone", "elderly_only": "only another elderly person at home"}
ENUMS = dict(care_level=CareLevel, mobility=Mobility, living=Living, landslide_zone=LandslideZone)


class PolicyError(ValueError):
    """The priority policy is malformed; the message names the file and the key."""


def _model(name: str, fields: Mapping[str, Any]) -> type[BaseModel]:
    config = ConfigDict(extra="forbid", strict=True)
    required: dict[str, Any] = {str(key): (kind, ...) for key, kind in fields.items()}
    return create_model(name, __config__=config, **required)


POLICY = _model(
    "priority.toml",
    {name: _model(name, dict.fromkeys(keys, kind)) for name, (kind, keys) in TABLES.items()}
    | {"hazards": _model("hazards", dict.fromkeys(("kinds", *HAZARD_LISTS), Words))}
    | {"outage_hours": dict[str, Number], "keywords": dict[str, Words]},
)


@dataclass(frozen=True)
class Weights:
    points: Mapping[str, Mapping[str, int]]  # TABLES of Points, Level: points["living"]["alone"]
    numbers: Mapping[str, Mapping[str, float]]  # TABLES of Number
    hazards: Mapping[str, Kinds]  # HAZARD_LISTS and "kinds"
    outage_hours: Mapping[str, float]  # by hazard kind, and "default"
    keywords: Mapping[str, frozenset[str]]
    overrides: Mapping[str, Weights] = field(default_factory=dict, compare=False, repr=False)

    def weights_for(self, municipality_code: str | None) -> Weights:
        """These weights with the municipality's overrides applied, if it has any."""
        return self.overrides.get(municipality_code or "", self)

    def tier(self, score: float) -> Tier:
        p1, p2 = self.numbers["tiers"]["p1"], self.numbers["tiers"]["p2"]
        return "P1" if score >= p1 else "P2" if score >= p2 else "P3"


def _parse(data: Mapping[str, Any], where: str) -> Weights:
    try:
        policy = POLICY.model_validate(data).model_dump()
    except ValidationError as bad:
        error, key = bad.errors()[0], ".".join(map(str, bad.errors()[0]["loc"]))
        got = "" if error["type"] == "missing" else f" (got {error['input']!r})"
        raise PolicyError(f"{where}{key}: {error['msg']}{got}") from None
    hazards, kinds = policy["hazards"], frozenset(policy["hazards"]["kinds"])
    named = [(f"hazards.{name}", set(hazards[name])) for name in HAZARD_LISTS]
    named += [("outage_hours", set(policy["outage_hours"]) - {"default"})]
    for key, names in [*named, ("keywords", set(policy["keywords"]))]:
        if unknown := sorted(names - kinds):
            raise PolicyError(f"{where}{key}: {unknown[0]!r} is not in hazards.kinds")
    checks = [("flood_depth_m", "shallow", "deep"), ("tiers", "p2", "p1")]
    for table, lower, upper in [*checks, ("time", "near_hours", "soon_hours")]:
        if policy[table][lower] > policy[table][upper]:
            raise PolicyError(f"{where}{table}.{lower}: must not exceed {table}.{upper}")
    if "default" not in policy["outage_hours"]:
        raise PolicyError(f"{where}outage_hours.default: Field required")
    points = {name: policy[name] for name, (kind, _) in TABLES.items() if kind is not Number}
    numbers = {name: policy[name] for name, (kind, _) in TABLES.items() if kind is Number}
    lists = {name: frozenset(words) for name, words in hazards.items()}
    words = {kind: frozenset(words) for kind, words in policy["keywords"].items()}
    return Weights(points, numbers, lists, policy["outage_hours"], words)


def load_weights(path: Path) -> Weights:
    """A policy file's weights, each municipality's overrides checked and applied on load."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as bad:
        raise PolicyError(f"{path.name}: not TOML: {bad}") from None
    found = data.pop("municipalities", {})
    municipalities: dict[str, Any] = found if isinstance(found, dict) else {"?": None}
    base, overrides = _parse(data, f"{path.name}: "), {}
    for code, over in municipalities.items():
        where = f'{path.name}: municipalities."{code}".'
        ok = isinstance(over, dict) and all(isinstance(t, dict) for t in over.values())
        if not (ok and len(code) == 6 and code.isdigit()) or {"hazards", "keywords"} & {*over}:
            raise PolicyError(f"{where[:-1]}: wants a 6-digit code; tables, not hazards/keywords")
        merged = {name: {**data.get(name, {}), **table} for name, table in over.items()}
        overrides[code] = _parse(data | merged, where)
    return replace(base, overrides=overrides)


@cache
def default_weights() -> Weights:
    """The weights of the package's policies/priority.toml."""
    return load_weights(package_folder(POLICIES) / "priority.toml")


def hazard_kinds(event_text: str, jma_hazard: str = "", weights: Weights | None = None) -> Kinds:
    """An alert's hazard kinds: its jma_levels.csv `hazard` and the kinds whose keywords occur in
    its CAP `event` text; {"unknown"} when there are none."""
    text, keywords = event_text.casefold(), (weights or default_weights()).keywords
    found = {kind for kind, words in keywords.items() if any(w.casefold() in text for w in words)}
    return frozenset(found | {jma_hazard} - {""}) or frozenset({"unknown"})


@dataclass(frozen=True)
class Hazard:
    level: int  # 1-5 (DESIGN.md "Priority model" 2)
    kinds: Kinds  # hazard_kinds()
    onset: datetime | None  # None: in force now
    label: str  # for the reason text: "heavy-rain warning"
    source: str  # the alert's or the incident's id
    matched_by: MatchedBy = "polygon"


@dataclass(frozen=True)
class Person:
    """A RiskProfile's attributes (renraku.teams.models), the last visit and the safety status."""

    source: str  # the record the reasons name: the patient's id
    care_level: str = "none"
    mobility: str = "independent"
    dementia: bool = False
    sensory_impairment: bool = False
    living: str = "with_family"
    devices: tuple[tuple[str, float | None], ...] = ()  # (DeviceKind, battery hours or None)
    floor: int = 1
    landslide_zone: str = "none"
    flood_depth_m: float = 0.0
    tsunami_zone: bool = False
    air_conditioning: bool = True
    supporter: str = ""
    last_visit_at: datetime | None = None
    safety: str = "unknown"  # the safety board's status

    def __post_init__(self) -> None:
        values = [(name, getattr(self, name), kind) for name, kind in ENUMS.items()]
        values += [("device", device, DeviceKind) for device, _ in self.devices]
        for name, value, kind in values:
            if value not in kind.__members__.values():
                raise ValueError(f"{self.source}: {name} {value!r} is not one of {', '.join(kind)}")


@dataclass(frozen=True)
class Reason:
    factor: str  # a stable key the web app translates: "device.oxygen"
    points: int  # added to V; 0 for the multipliers and the flags
    text: str  # English
    source: str  # the record it comes from: the person's or the hazard's
    params: Mapping[str, Param] = field(default_factory=dict)


@dataclass(frozen=True)
class Scored:
    score: float
    tier: Tier
    vulnerability: int
    reasons: tuple[Reason, ...]
    stale: bool
    straight_to_p1: bool


def score(person: Person, hazard: Hazard, weights: Weights, now: datetime) -> Scored:
    """Score = V x H/5 x T, with one reason per factor (DESIGN.md "Priority model" 3-5)."""
    if hazard.level not in range(1, 6):
        raise ValueError(f"{hazard.source}: hazard level {hazard.level} is not 1 to 5")
    p, points, counted = person, weights.points, list[Reason]()

    def add(factor: str, value: int, text: str, **params: Param) -> None:
        if value or factor.startswith("visit."):
            counted.append(Reason(factor, value, text, p.source, params))

    cut, by_kind = hazard.kinds & weights.hazards["power_loss"], weights.outage_hours
    outage = max((by_kind.get(kind, by_kind["default"]) for kind in cut), default=0)
    for kind, hours in p.devices if cut else ():
        bonus = points["device"]["battery_bonus"] if hours is None or hours < outage else 0
        battery = "battery unknown" if hours is None else f"{hours:g} h battery"
        text = f"{DEVICE_TEXT.get(kind, kind.replace('_', ' '))}, {battery}"
        params: dict[str, Param] = {"battery_hours": hours, "outage_hours": outage, "bonus": bonus}
        add(f"device.{kind}", points["device"][kind] + bonus, text, **params)
    moving, care = points["mobility"][p.mobility], points["care_level"][p.care_level]
    if moving >= care:
        add(f"mobility.{p.mobility}", moving, p.mobility.replace("_", " "))
    else:
        add(f"care_level.{p.care_level}", care, p.care_level.replace("_", " level "))
    add(f"living.{p.living}", points["living"][p.living], LIVING_TEXT.get(p.living, p.living))
    depth = weights.numbers["flood_depth_m"]
    band = next((band for band in ("deep", "shallow") if p.flood_depth_m >= depth[band]), "")
    for factor, (needs, text, test) in FACTORS.items():
        counts = not needs or hazard.kinds & weights.hazards[needs]
        if counts and test(p, f"{band} {p.landslide_zone}"):
            add(factor, points[factor.split(".")[0]][factor.split(".")[1]], text.format(p=p))
    days = None if p.last_visit_at is None else (now - p.last_visit_at).days
    stale = days is None or days > points["visit"]["stale_after_days"]
    ago = "today" if days == 0 else "1 day ago" if days == 1 else f"{days} days ago"
    visit = "no visit recorded" if days is None else f"last visit {ago}"
    extra = points["visit"]["stale_points"] * stale
    add("visit.stale" if stale else "visit.recent", extra, visit, days=days)
    raw, cap = sum(reason.points for reason in counted), points["vulnerability"]["cap"]
    add("vulnerability.cap", min(0, cap - raw), f"capped at {cap}", uncapped=raw)
    until = max(0.0, (hazard.onset - now).total_seconds() / 3600) if hazard.onset else 0.0
    t = weights.numbers["time"]
    time_factor = next((t[b] for b in ("near", "soon") if until <= t[f"{b}_hours"]), t["later"])
    value = round(min(raw, cap) * hazard.level / 5 * time_factor, 1)
    levels, flags = points["straight_to_p1"], []
    if cut and p.devices and hazard.level >= levels["device_min_level"]:
        flags.append(("straight.device", "straight to P1: powered device, power-loss hazard"))
    alone = p.mobility == Mobility.BEDRIDDEN and p.living == Living.ALONE
    if alone and hazard.level >= levels["bedridden_alone_min_level"]:
        flags.append(("straight.bedridden_alone", "straight to P1: bedridden and living alone"))
    straight, resolved = bool(flags), p.safety in RESOLVED_STATUSES
    if resolved:
        flags.append((f"safety.{p.safety}", f"resolved: {p.safety}"))
    tier: Tier = "resolved" if resolved else "P1" if straight else weights.tier(value)
    when = hazard.onset.astimezone(JST) if hazard.onset else None
    clock = f", {when:%H:%M}" if when else ""
    headline = f"Level {hazard.level} ({hazard.label}{clock}), matched by {hazard.matched_by}"
    level: dict[str, Param] = {"level": hazard.level, "multiplier": hazard.level / 5}
    level |= {"onset": when.isoformat() if when else None, "matched_by": hazard.matched_by}
    onset = f"onset in {until:.0f} h" if until else "under way"
    times: dict[str, Param] = {"hours": round(until, 1), "multiplier": time_factor}
    lead = [Reason("hazard.level", 0, headline, hazard.source, level)]
    lead += [Reason("time.onset", 0, onset, hazard.source, times)]
    tail = [Reason(key, 0, text, p.source) for key, text in flags]
    return Scored(value, tier, min(raw, cap), (*lead, *counted, *tail), stale, straight)


def rank_key(scored: Scored, onset: datetime | None, distance_inside_m: float | None) -> Rank:
    """P1, P2, P3 and then the resolved, higher scores first; ties by onset (the sooner first, an
    unknown one first of all), then by distance inside the area (deeper first; unknown counts 0)."""
    when = float("-inf") if onset is None else onset.timestamp()
    return (get_args(Tier).index(scored.tier), -scored.score, when, -(distance_inside_m or 0.0))
