"""Synthetic patients: who they are and how vulnerable, with plausible frequencies.

The shares follow home-care users in Japan roughly: most need care level 1-3, about one in ten is
bedridden, a quarter have dementia, three in ten live alone, about one in a hundred depends on
oxygen or a ventilator.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from renraku.kinds import CareLevel, DeviceKind, Living, Mobility
from renraku.seed import names
from renraku.seed.places import COASTAL, EXPOSED_COAST, HILLY, LOW_LYING

Ints = NDArray[np.int64]
Floats = NDArray[np.float64]
Flags = NDArray[np.bool_]

CARE_LEVELS = list(CareLevel)
CARE_LEVEL_SHARE = (0.05, 0.10, 0.10, 0.20, 0.18, 0.14, 0.13, 0.10)
MOBILITIES = list(Mobility)
# Per care level: independent, walks with aid, wheelchair, bedridden.
MOBILITY_BY_CARE_LEVEL = np.array(
    [
        [0.80, 0.20, 0.00, 0.00],
        [0.60, 0.40, 0.00, 0.00],
        [0.45, 0.50, 0.05, 0.00],
        [0.30, 0.60, 0.10, 0.00],
        [0.15, 0.60, 0.20, 0.05],
        [0.05, 0.45, 0.40, 0.10],
        [0.00, 0.20, 0.50, 0.30],
        [0.00, 0.05, 0.45, 0.50],
    ]
)
DEMENTIA_BY_CARE_LEVEL = np.array([0.05, 0.10, 0.12, 0.30, 0.30, 0.35, 0.35, 0.35])
LIVINGS = list(Living)
LIVING_SHARE = (0.30, 0.30, 0.40)  # alone, elderly only, with family
DEVICES = list(DeviceKind)
# Per device (ventilator, oxygen, home dialysis, suction, feeding pump): the chance for care
# levels 4-5 and for the others, and the battery hours it runs on a charge.
DEVICE_HEAVY = np.array([0.010, 0.030, 0.003, 0.015, 0.015])
DEVICE_LIGHT = np.array([0.000, 0.006, 0.002, 0.000, 0.000])
BATTERY_HOURS = np.array([[4, 12], [2, 8], [0, 0], [1, 3], [8, 24]], dtype=np.float64)
BORN_FROM, BORN_MODE, BORN_UNTIL = 1925.0, 1938.0, 1956.0  # birth years, most born late 1930s


@dataclass(frozen=True)
class Patients:
    municipality: Ints
    latitude: Floats
    longitude: Floats
    female: Flags
    birth_day: Ints  # days since 1925-01-01
    surname: Ints
    given: Ints
    care_level: Ints
    mobility: Ints
    dementia: Flags
    sensory: Flags
    living: Ints
    devices: Flags  # (n, len(DEVICES))
    battery_hours: Floats  # (n, len(DEVICES))
    floor: Ints
    landslide: Ints  # 0 none, 1 zone, 2 special
    flood_depth: Floats
    tsunami: Flags
    air_conditioning: Flags
    has_supporter: Flags
    has_phone: Flags
    phone: Ints
    town: Ints
    house: Ints
    relation: Ints  # index into names.RELATIONS, or -1 for the spouse
    kin_surname: Ints
    kin_given: Ints
    kin_phone: Ints
    planner_consent: Flags
    created_days_ago: Ints
    visit_seconds_ago: Ints


def _by_place(
    codes: list[str], municipality: Ints, places: frozenset[str], yes: float, no: float
) -> Floats:
    chance = np.array([yes if code in places else no for code in codes])
    return chance[municipality] if len(codes) else np.zeros(0)


def _pick(rng: np.random.Generator, table: NDArray[np.float64], row: Ints) -> Ints:
    """One category per person from the probability row `table[row]`."""
    cumulative = np.cumsum(table, axis=1)[row]
    picked: Ints = (rng.random(len(row))[:, None] > cumulative[:, :-1]).sum(axis=1)
    return picked.astype(np.int64)


def draw_patients(
    rng: np.random.Generator, codes: list[str], municipality: Ints, lat: Floats, lon: Floats
) -> Patients:
    n = len(municipality)
    care = rng.choice(len(CARE_LEVELS), size=n, p=CARE_LEVEL_SHARE)
    heavy = care >= CARE_LEVELS.index(CareLevel.CARE_4)
    device_chance = np.where(heavy[:, None], DEVICE_HEAVY, DEVICE_LIGHT)
    low, high = BATTERY_HOURS[:, 0], BATTERY_HOURS[:, 1]
    battery = np.round((low + rng.random((n, len(DEVICES))) * (high - low)) * 2) / 2
    living = rng.choice(len(LIVINGS), size=n, p=LIVING_SHARE)
    with_partner = (living != LIVINGS.index(Living.ALONE)) & (rng.random(n) < 0.4)
    relation = rng.choice(len(names.RELATIONS), size=n, p=names.RELATION_WEIGHTS)
    flood_chance = _by_place(codes, municipality, LOW_LYING, 0.6, 0.12)
    flood_depth = np.where(
        rng.random(n) < flood_chance,
        np.round(rng.uniform(0.5, 3.0, n) * np.where(flood_chance > 0.5, 1.7, 1.0), 1),
        0.0,
    )
    tsunami_chance = _by_place(codes, municipality, COASTAL, 0.15, 0.0)
    tsunami_chance = np.maximum(
        tsunami_chance, _by_place(codes, municipality, EXPOSED_COAST, 0.35, 0.0)
    )
    slide = _by_place(codes, municipality, HILLY, 0.14, 0.02)
    slide_draw = rng.random(n)
    floor_draw = rng.random(n)
    recent = rng.random(n) < 0.85
    return Patients(
        municipality=municipality,
        latitude=lat,
        longitude=lon,
        female=rng.random(n) < 0.62,
        birth_day=(
            (rng.triangular(BORN_FROM, BORN_MODE, BORN_UNTIL, n) - BORN_FROM) * 365.2425
        ).astype(np.int64),
        surname=rng.integers(0, len(names.SURNAMES), n),
        given=rng.integers(0, len(names.ELDERLY_FEMALE), n),
        care_level=care,
        mobility=_pick(rng, MOBILITY_BY_CARE_LEVEL, care),
        dementia=rng.random(n) < DEMENTIA_BY_CARE_LEVEL[care],
        sensory=rng.random(n) < 0.15,
        living=living,
        devices=rng.random((n, len(DEVICES))) < device_chance,
        battery_hours=battery,
        floor=np.where(
            floor_draw < 0.72, 1, np.where(floor_draw < 0.84, 2, rng.integers(3, 13, n))
        ).astype(np.int64),
        landslide=np.where(slide_draw < slide * 0.3, 2, np.where(slide_draw < slide, 1, 0)),
        flood_depth=flood_depth,
        tsunami=rng.random(n) < tsunami_chance,
        air_conditioning=rng.random(n) < 0.85,
        has_supporter=rng.random(n) < 0.65,
        has_phone=rng.random(n) < 0.7,
        phone=rng.integers(0, 10000, n),
        town=rng.integers(0, len(names.TOWNS), n),
        house=rng.integers(1, 3000, n),
        relation=np.where(with_partner, -1, relation),
        kin_surname=rng.integers(0, len(names.SURNAMES), n),
        kin_given=rng.integers(0, len(names.YOUNGER_FEMALE), n),
        kin_phone=rng.integers(0, 10000, n),
        planner_consent=rng.random(n) < 0.65,
        created_days_ago=rng.integers(60, 1500, n),
        visit_seconds_ago=np.where(
            recent, rng.integers(0, 14 * 86400, n), rng.integers(14 * 86400, 60 * 86400, n)
        ),
    )
