"""The synthetic world's shape, without a database: frequencies, places, repeatability."""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest

from renraku.geo import municipalities
from renraku.kinds import Living, Mobility, Profession
from renraku.seed import places
from renraku.seed.people import DEVICES, LIVINGS, MOBILITIES
from renraku.seed.world import PROFESSIONS, SyntheticSpec, World, build_world

SPEC = SyntheticSpec(patients=20_000, professionals=11_000, seed=3, today=date(2026, 3, 1))


@pytest.fixture(scope="module")
def world() -> World:
    return build_world(SPEC)


def test_every_bundled_municipality_has_a_weight_and_the_hints_name_real_ones() -> None:
    codes = set(municipalities())
    assert set(places.POPULATION_THOUSANDS) == codes
    assert codes >= places.LOW_LYING | places.COASTAL | places.EXPOSED_COAST | places.HILLY


def test_risk_attributes_have_plausible_frequencies(world: World) -> None:
    p = world.patients
    assert 0.27 < np.mean(p.living == LIVINGS.index(Living.ALONE)) < 0.33
    assert 0.20 < np.mean(p.dementia) < 0.32
    assert 0.07 < np.mean(p.mobility == MOBILITIES.index(Mobility.BEDRIDDEN)) < 0.15
    breathing = p.devices[:, [DEVICES.index(d) for d in DEVICES if d in ("ventilator", "oxygen")]]
    assert 0.005 < np.mean(breathing.any(axis=1)) < 0.025
    born = 1925 + p.birth_day / 365.2425
    assert born.min() >= 1925 and born.max() < 1956


def test_profession_mix_and_care_manager_caseload(world: World) -> None:
    def share(profession: Profession) -> int:
        return int(np.sum(world.pro_profession == PROFESSIONS.index(profession)))

    assert share(Profession.HOME_HELPER) > share(Profession.NURSE) > share(Profession.DOCTOR)
    assert 25 < SPEC.patients / share(Profession.CARE_MANAGER) < 35


def test_teams_are_4_to_15_distinct_local_members_led_by_one_care_manager(world: World) -> None:
    sizes = np.bincount(world.team_patient, minlength=SPEC.patients)
    assert sizes.min() >= 4 and sizes.max() <= 15
    assert np.bincount(world.team_patient[world.team_coordinator]).max() == 1
    coordinators = world.pro_profession[world.team_member[world.team_coordinator]]
    assert set(coordinators.tolist()) == {PROFESSIONS.index(Profession.CARE_MANAGER)}
    pairs = world.team_patient * len(world.pro_profession) + world.team_member
    assert len(np.unique(pairs)) == len(pairs)
    home = world.patients.municipality[world.team_patient]
    assert np.array_equal(world.pro_municipality[world.team_member], home)


def test_the_same_seed_draws_the_same_world_and_another_does_not(world: World) -> None:
    again = build_world(SPEC)
    other = build_world(SyntheticSpec(SPEC.patients, SPEC.professionals, seed=4, today=SPEC.today))
    assert np.array_equal(again.patients.latitude, world.patients.latitude)
    assert np.array_equal(again.team_member, world.team_member)
    assert not np.array_equal(other.patients.latitude, world.patients.latitude)


@pytest.mark.parametrize("professionals", [4, 5, 9, 17, 100])
def test_few_professionals_still_make_whole_teams(professionals: int) -> None:
    world = build_world(SyntheticSpec(patients=50, professionals=professionals, seed=1))
    assert len(world.pro_profession) == professionals
    sizes = np.bincount(world.team_patient, minlength=50)
    assert sizes.min() >= 4 and sizes.max() <= 15


def test_no_professionals_and_no_patients_is_an_empty_world() -> None:
    world = build_world(SyntheticSpec(patients=0, professionals=0, seed=1))
    assert world.codes == [] and len(world.org_kind) == 0 and len(world.team_member) == 0
