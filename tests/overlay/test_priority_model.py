"""The priority model (DESIGN.md "Priority model (disaster overlay)"), without a database: every
factor, the cap, the tiers and their boundaries, both straight-to-P1 rules, the time factor, the
battery bonus, stale visits, municipality overrides and a malformed policy file."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from renraku.overlay.priority_model import (
    Hazard,
    Person,
    PolicyError,
    Scored,
    Weights,
    default_weights,
    hazard_kinds,
    load_weights,
    rank_key,
    score,
)
from renraku.package_data import POLICIES, package_folder

NOW = datetime(2026, 7, 4, 2, 0, tzinfo=UTC)  # 11:00 in Japan
POLICY_TEXT = (package_folder(POLICIES) / "priority.toml").read_text(encoding="utf-8")
GAMAGORI, NISHIO = "232149", "232131"


def person(**changes: Any) -> Person:
    """Someone scoring nothing: walks unaided, lives with family, a named supporter, upstairs,
    air-conditioned, outside every zone, visited yesterday."""
    calm: dict[str, Any] = {"floor": 2, "supporter": "伊藤 健一"}
    calm["last_visit_at"] = NOW - timedelta(days=1)
    return Person("patient:1", **(calm | changes))


def hazard(*kinds: str, level: int = 5, onset: datetime | None = NOW, **changes: Any) -> Hazard:
    return Hazard(level, frozenset(kinds), onset, "heavy-rain warning", "alert:7", **changes)


def points_of(scored: Scored) -> dict[str, int]:
    return {reason.factor: reason.points for reason in scored.reasons if reason.points}


def with_near(weights: Weights, near: float) -> Weights:
    """The weights with another time factor for an onset within 6 h."""
    return replace(
        weights, numbers={**weights.numbers, "time": {**weights.numbers["time"], "near": near}}
    )


FACTORS = [
    # (person, hazard kinds, the one factor expected, its points)
    ({"devices": (("ventilator", 99.0),)}, ["heavy_rain"], "device.ventilator", 35),
    ({"devices": (("oxygen", 99.0),)}, ["heavy_rain"], "device.oxygen", 25),
    ({"devices": (("home_dialysis", 99.0),)}, ["typhoon"], "device.home_dialysis", 25),
    ({"devices": (("suction", 99.0),)}, ["outage"], "device.suction", 25),
    ({"devices": (("feeding_pump", 99.0),)}, ["earthquake"], "device.feeding_pump", 25),
    ({"mobility": "bedridden"}, ["heat"], "mobility.bedridden", 25),
    ({"mobility": "wheelchair"}, ["heat"], "mobility.wheelchair", 15),
    ({"mobility": "walks_with_aid"}, ["heat"], "mobility.walks_with_aid", 8),
    ({"care_level": "care_5"}, ["heat"], "care_level.care_5", 25),
    ({"care_level": "care_4"}, ["heat"], "care_level.care_4", 25),
    ({"care_level": "care_3"}, ["heat"], "care_level.care_3", 15),
    ({"dementia": True}, ["heat"], "person.dementia", 15),
    ({"sensory_impairment": True}, ["heat"], "person.sensory_impairment", 8),
    ({"living": "alone"}, ["heat"], "living.alone", 15),
    ({"living": "elderly_only"}, ["heat"], "living.elderly_only", 8),
    ({"supporter": " "}, ["heat"], "person.no_supporter", 10),
    ({"landslide_zone": "special"}, ["heavy_rain"], "zone.landslide_special", 20),
    ({"landslide_zone": "zone"}, ["landslide"], "zone.landslide", 15),
    ({"flood_depth_m": 3.0}, ["flood"], "zone.flood_deep", 20),
    ({"flood_depth_m": 2.99}, ["flood"], "zone.flood_shallow", 10),
    ({"flood_depth_m": 0.5}, ["flood"], "zone.flood_shallow", 10),
    ({"floor": 1}, ["tsunami"], "person.ground_floor", 5),
    ({"tsunami_zone": True}, ["tsunami"], "zone.tsunami", 20),
    ({"air_conditioning": False}, ["heat"], "heat.no_air_conditioning", 15),
    ({"last_visit_at": NOW - timedelta(days=15)}, ["heat"], "visit.stale", 5),
]


@pytest.mark.parametrize(("changes", "kinds", "factor", "points"), FACTORS)
def test_each_factor_adds_its_points_with_a_reason(
    changes: dict[str, Any], kinds: list[str], factor: str, points: int
) -> None:
    scored = score(person(**changes), hazard(*kinds), default_weights(), NOW)
    assert points_of(scored) == {factor: points}
    assert scored.vulnerability == points
    assert all(reason.source == "patient:1" for reason in scored.reasons[2:])


NOTHING = [
    ({"care_level": "care_2"}, ["heat"]),
    ({"flood_depth_m": 0.49}, ["flood"]),
    ({"devices": (("oxygen", 2.0),)}, ["heat"]),  # heat does not cut power
    ({"devices": (("oxygen", 2.0),)}, ["wave"]),
    ({"landslide_zone": "special"}, ["heat"]),
    ({"flood_depth_m": 5.0, "floor": 1}, ["heat"]),
    ({"tsunami_zone": True}, ["flood"]),
    ({"air_conditioning": False}, ["heavy_rain"]),
]


@pytest.mark.parametrize(("changes", "kinds"), NOTHING)
def test_a_factor_counts_only_under_the_hazards_it_matters_for(
    changes: dict[str, Any], kinds: list[str]
) -> None:
    scored = score(person(**changes), hazard(*kinds), default_weights(), NOW)
    assert points_of(scored) == {}
    assert (scored.vulnerability, scored.tier, scored.straight_to_p1) == (0, "P3", False)


def test_an_unrecognised_event_counts_every_exposure_but_heat() -> None:
    exposed = person(landslide_zone="zone", flood_depth_m=1.0, tsunami_zone=True)
    scored = score(
        replace(exposed, air_conditioning=False),
        hazard(*hazard_kinds("Drill")),
        default_weights(),
        NOW,
    )
    assert points_of(scored) == {"zone.landslide": 15, "zone.flood_shallow": 10, "zone.tsunami": 20}


@pytest.mark.parametrize(
    ("mobility", "care_level", "factor"),
    [
        ("bedridden", "care_3", "mobility.bedridden"),
        ("walks_with_aid", "care_4", "care_level.care_4"),
        ("wheelchair", "care_3", "mobility.wheelchair"),
    ],
)
def test_mobility_and_care_level_count_once_the_higher(
    mobility: str, care_level: str, factor: str
) -> None:
    scored = score(
        person(mobility=mobility, care_level=care_level), hazard("heat"), default_weights(), NOW
    )
    assert list(points_of(scored)) == [factor]


def test_vulnerability_is_capped_at_100_with_the_excess_taken_off_in_a_reason() -> None:
    everything = person(
        devices=(("ventilator", 1.0),),
        mobility="bedridden",
        dementia=True,
        living="alone",
        supporter="",
    )
    scored = score(everything, hazard("heavy_rain"), default_weights(), NOW)
    assert scored.vulnerability == 100
    assert points_of(scored)["vulnerability.cap"] == 100 - (45 + 25 + 15 + 15 + 10)
    assert sum(reason.points for reason in scored.reasons) == 100
    assert scored.score == 100.0


@pytest.mark.parametrize(
    ("value", "tier"),
    [(44.9, "P2"), (45.0, "P1"), (24.9, "P3"), (25.0, "P2"), (0.0, "P3"), (100.0, "P1")],
)
def test_tier_boundaries(value: float, tier: str) -> None:
    assert default_weights().tier(value) == tier


@pytest.mark.parametrize(
    ("changes", "near", "value", "tier"),
    [
        # wheelchair 15 + dementia 15 + lives alone 15 = 45 at level 5, onset now.
        ({"mobility": "wheelchair", "dementia": True, "living": "alone"}, 1.0, 45.0, "P1"),
        ({"mobility": "wheelchair", "dementia": True, "living": "alone"}, 0.998, 44.9, "P2"),
        ({"mobility": "bedridden"}, 1.0, 25.0, "P2"),
        ({"mobility": "bedridden"}, 0.996, 24.9, "P3"),
    ],
)
def test_scores_on_the_tier_boundaries(
    changes: dict[str, Any], near: float, value: float, tier: str
) -> None:
    weights = with_near(default_weights(), near)
    scored = score(person(**changes), hazard("heat"), weights, NOW)
    assert (scored.score, scored.tier, scored.straight_to_p1) == (value, tier, False)


def test_a_powered_device_under_a_power_loss_hazard_goes_straight_to_p1() -> None:
    oxygen = person(devices=(("oxygen", 99.0),))
    scored = score(
        oxygen, hazard("heavy_rain", level=1, onset=NOW + timedelta(days=3)), default_weights(), NOW
    )
    assert scored.score == round(25 * 1 / 5 * 0.6, 1)
    assert (scored.tier, scored.straight_to_p1) == ("P1", True)
    assert scored.reasons[-1].factor == "straight.device"
    in_heat = score(oxygen, hazard("heat", level=1), default_weights(), NOW)
    assert (in_heat.tier, in_heat.straight_to_p1, in_heat.vulnerability) == ("P3", False, 0)


@pytest.mark.parametrize(("level", "tier"), [(3, "P1"), (2, "P3")])
def test_bedridden_and_alone_goes_straight_to_p1_from_level_3(level: int, tier: str) -> None:
    alone = person(mobility="bedridden", living="alone")  # 40 points
    scored = score(
        alone, hazard("heat", level=level, onset=NOW + timedelta(days=2)), default_weights(), NOW
    )
    assert scored.score == round(40 * level / 5 * 0.6, 1) < 25
    assert (scored.tier, scored.straight_to_p1) == (tier, level == 3)
    with_family = score(
        replace(alone, living="with_family"), hazard("heat", level=level), default_weights(), NOW
    )
    assert not with_family.straight_to_p1


@pytest.mark.parametrize(
    ("onset", "factor"),
    [
        (None, 1.0),
        (NOW - timedelta(hours=3), 1.0),
        (NOW + timedelta(hours=6), 1.0),
        (NOW + timedelta(hours=6, seconds=1), 0.8),
        (NOW + timedelta(hours=24), 0.8),
        (NOW + timedelta(hours=24, seconds=1), 0.6),
        (NOW + timedelta(days=5), 0.6),
    ],
)
def test_time_factor_bands(onset: datetime | None, factor: float) -> None:
    scored = score(
        person(mobility="bedridden"), hazard("heat", onset=onset), default_weights(), NOW
    )
    assert scored.score == round(25 * factor, 1)
    timing = next(reason for reason in scored.reasons if reason.factor == "time.onset")
    assert timing.params["multiplier"] == factor


@pytest.mark.parametrize(
    ("kinds", "battery", "points"),
    [
        (["heavy_rain"], 11.9, 35),  # heavy rain: 12 h expected without power
        (["heavy_rain"], 12.0, 25),
        (["heavy_rain"], None, 35),  # no battery recorded
        (["heavy_rain", "typhoon"], 24.0, 35),  # the longer outage counts: 48 h
        (["earthquake"], 71.0, 35),
        (["outage"], 8.0, 25),
        (["storm"], 23.5, 35),
    ],
)
def test_battery_bonus_only_when_the_battery_is_shorter_than_the_outage(
    kinds: list[str], battery: float | None, points: int
) -> None:
    scored = score(person(devices=(("oxygen", battery),)), hazard(*kinds), default_weights(), NOW)
    assert points_of(scored) == {"device.oxygen": points}
    device = next(reason for reason in scored.reasons if reason.factor == "device.oxygen")
    assert device.params["bonus"] == points - 25
    assert device.params["battery_hours"] == battery


@pytest.mark.parametrize(
    ("days", "stale", "factor", "text"),
    [
        (0, False, "visit.recent", "last visit today"),
        (1, False, "visit.recent", "last visit 1 day ago"),
        (14, False, "visit.recent", "last visit 14 days ago"),
        (15, True, "visit.stale", "last visit 15 days ago"),
        (None, True, "visit.stale", "no visit recorded"),
    ],
)
def test_a_visit_over_14_days_ago_is_stale(
    days: int | None, stale: bool, factor: str, text: str
) -> None:
    last = None if days is None else NOW - timedelta(days=days, hours=1)
    scored = score(person(last_visit_at=last), hazard("heat"), default_weights(), NOW)
    visit = next(reason for reason in scored.reasons if reason.factor.startswith("visit."))
    assert (scored.stale, visit.factor, visit.text, visit.points) == (
        stale,
        factor,
        text,
        5 * stale,
    )
    assert scored.vulnerability == 5 * stale


def test_the_design_example_is_p1_with_one_reason_per_factor() -> None:
    # Oxygen with a 4 h battery, care level 4, lives alone, landslide zone, last visit 3 days ago,
    # a level 3 heavy-rain warning from 12:05 in Japan, matched by polygon.
    patient = person(
        devices=(("oxygen", 4.0),),
        care_level="care_4",
        living="alone",
        landslide_zone="zone",
        last_visit_at=NOW - timedelta(days=3),
    )
    warning = hazard(
        *hazard_kinds("大雨警報", "heavy_rain"), level=3, onset=NOW + timedelta(hours=1, minutes=5)
    )
    scored = score(patient, warning, default_weights(), NOW)
    assert [(reason.factor, reason.points) for reason in scored.reasons] == [
        ("hazard.level", 0),
        ("time.onset", 0),
        ("device.oxygen", 35),
        ("care_level.care_4", 25),
        ("living.alone", 15),
        ("zone.landslide", 15),
        ("visit.recent", 0),
        ("straight.device", 0),
    ]
    assert [reason.text for reason in scored.reasons][:7] == [
        "Level 3 (heavy-rain warning, 12:05), matched by polygon",
        "onset in 1 h",
        "oxygen concentrator, 4 h battery",
        "care level 4",
        "lives alone",
        "landslide zone",
        "last visit 3 days ago",
    ]
    assert (scored.vulnerability, scored.score, scored.tier) == (90, 54.0, "P1")
    assert (scored.reasons[0].source, scored.reasons[2].source) == ("alert:7", "patient:1")
    assert scored.reasons[2].params == {"battery_hours": 4.0, "outage_hours": 12.0, "bonus": 10}


@pytest.mark.parametrize("status", ["safe", "evacuated", "hospitalised"])
def test_a_resolved_person_keeps_the_score_and_sorts_after_p3(status: str) -> None:
    alone = person(mobility="bedridden", living="alone")
    resolved = score(replace(alone, safety=status), hazard("heat"), default_weights(), NOW)
    still = score(replace(alone, safety="needs_help"), hazard("heat"), default_weights(), NOW)
    assert (resolved.tier, still.tier) == ("resolved", "P1")
    assert resolved.score == still.score == 40.0
    assert resolved.reasons[-1].factor == f"safety.{status}"
    low = score(person(), hazard("heat"), default_weights(), NOW)
    assert rank_key(low, NOW, 0) < rank_key(resolved, NOW, 0)


def test_rank_puts_tiers_then_scores_then_onset_then_depth_inside_the_area() -> None:
    def scored(value: float, tier: str = "P2") -> Scored:
        return Scored(value, tier, 0, (), False, False)  # type: ignore[arg-type]

    later, sooner = NOW + timedelta(hours=2), NOW + timedelta(hours=1)
    rows = {
        "P1 low": rank_key(scored(10.0, "P1"), later, 0.0),
        "P2 high": rank_key(scored(40.0), later, 0.0),
        "P2 sooner": rank_key(scored(30.0), sooner, 0.0),
        "P2 no onset": rank_key(scored(30.0), None, 0.0),
        "P2 deeper": rank_key(scored(30.0), later, 500.0),
        "P2 shallower": rank_key(scored(30.0), later, 20.0),
        "P2 unknown depth": rank_key(scored(30.0), later, None),
        "P3": rank_key(scored(20.0, "P3"), sooner, 900.0),
    }
    assert sorted(rows, key=rows.__getitem__) == [
        "P1 low",
        "P2 high",
        "P2 no onset",
        "P2 sooner",
        "P2 deeper",
        "P2 shallower",
        "P2 unknown depth",
        "P3",
    ]


@pytest.mark.parametrize(
    ("event", "jma", "kinds"),
    [
        ("台風第10号に関する情報", "", {"typhoon"}),
        ("Power Outage", "", {"outage"}),
        ("停電情報", "", {"outage"}),
        ("熱中症警戒アラート", "heat", {"heat"}),
        ("Excessive Heat Warning", "", {"heat"}),
        ("Powerful winds", "", {"wind"}),  # "powerful" is no outage
        ("大雨警報", "heavy_rain", {"heavy_rain"}),
        ("", "landslide", {"landslide"}),
        ("Tsunami Warning", "", {"tsunami"}),
        ("Required Monthly Test", "", {"unknown"}),
    ],
)
def test_hazard_kinds_from_the_keywords_and_the_jma_kind(
    event: str, jma: str, kinds: set[str]
) -> None:
    assert hazard_kinds(event, jma) == kinds


def test_the_shipped_policy_holds_designs_numbers() -> None:
    weights = default_weights()
    assert weights.points["device"] == {
        "ventilator": 35,
        "oxygen": 25,
        "home_dialysis": 25,
        "suction": 25,
        "feeding_pump": 25,
        "battery_bonus": 10,
    }
    assert weights.points["vulnerability"]["cap"] == 100
    assert weights.numbers["tiers"] == {"p1": 45.0, "p2": 25.0}
    assert "heat" not in weights.hazards["power_loss"]


def _policy(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "priority.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_municipality_override_replaces_one_weight(tmp_path: Path) -> None:
    text = POLICY_TEXT + f'\n[municipalities."{GAMAGORI}".zone]\nlandslide = 20\n'
    weights = load_weights(_policy(tmp_path, text))
    gamagori, nishio = weights.weights_for(GAMAGORI), weights.weights_for(NISHIO)
    assert (gamagori.points["zone"]["landslide"], nishio.points["zone"]["landslide"]) == (20, 15)
    assert gamagori.points["zone"]["landslide_special"] == 20
    assert gamagori.points["mobility"] == nishio.points["mobility"]
    zone = person(landslide_zone="zone")
    assert score(zone, hazard("landslide"), gamagori, NOW).vulnerability == 20
    assert score(zone, hazard("landslide"), nishio, NOW).vulnerability == 15


MUNICIPAL = f'\n[municipalities."{GAMAGORI}".zone]\n'
BROKEN = [
    # (what replaces what in the shipped file, or is added to it; what the error must name)
    (("dementia = 15", "dementia = -1"), "person.dementia"),
    (("dementia = 15", 'dementia = "high"'), "person.dementia"),
    (("dementia = 15", "dementia = true"), "person.dementia"),
    (("dementia = 15", "dementia = 1.5"), "person.dementia"),
    (("dementia = 15", "dementa = 15"), "person.dementia: Field required"),
    (("dementia = 15", "dementia = 15\nfrailty = 5"), "person.frailty: Extra inputs"),
    (("device_min_level = 1", "device_min_level = 6"), "straight_to_p1.device_min_level"),
    (("p2 = 25", "p2 = 50"), "tiers.p2: must not exceed tiers.p1"),
    (('heat = ["heat"]', 'heat = ["hot"]'), "hazards.heat: 'hot' is not in hazards.kinds"),
    (("outage = 8.0", "outages = 8.0"), "outage_hours: 'outages' is not in hazards.kinds"),
    (("default = 24.0\n", ""), "outage_hours.default: Field required"),
    (("[vulnerability]", "[vulnerability"), "priority.toml: not TOML"),
    (("", MUNICIPAL + "landslide = -3\n"), f'municipalities."{GAMAGORI}".zone.landslide'),
    (("", MUNICIPAL.replace(".zone", ".zones") + "landslide = 3\n"), ".zones: Extra inputs"),
    (("", '\n[municipalities."gamagori".zone]\nlandslide = 3\n'), '"gamagori": wants a 6-digit'),
    (("", MUNICIPAL.replace(".zone", ".keywords") + 'heat = ["暑"]\n'), "not hazards/keywords"),
]


@pytest.mark.parametrize(("edit", "named"), BROKEN)
def test_a_malformed_policy_file_is_refused_naming_the_key(
    tmp_path: Path, edit: tuple[str, str], named: str
) -> None:
    old, new = edit
    assert old in POLICY_TEXT
    text = POLICY_TEXT.replace(old, new, 1) if old else POLICY_TEXT + new
    with pytest.raises(PolicyError) as refused:
        load_weights(_policy(tmp_path, text))
    assert str(refused.value).startswith("priority.toml: ")
    assert named in str(refused.value)


def test_values_outside_the_vocabularies_are_refused() -> None:
    with pytest.raises(ValueError, match="mobility 'crawling'"):
        person(mobility="crawling")
    with pytest.raises(ValueError, match="device 'pacemaker'"):
        person(devices=(("pacemaker", 1.0),))
    with pytest.raises(ValueError, match="hazard level 6"):
        score(person(), hazard("heat", level=6), default_weights(), NOW)
