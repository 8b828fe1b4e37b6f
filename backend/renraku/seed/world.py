"""The synthetic world as arrays: who works where, who lives where, who is on whose team.

Everything is drawn from one numpy generator in a fixed order, so a seed always gives the same
world. Indexes here are positions (0..n-1); `rows.py` turns them into ids and table rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any

import numpy as np
from numpy.typing import NDArray

from renraku.geo import municipalities
from renraku.kinds import OrganisationKind, Profession
from renraku.seed import names
from renraku.seed.notebook import Notebook, draw_notebook, empty_notebook
from renraku.seed.people import Patients, draw_patients
from renraku.seed.places import POPULATION_THOUSANDS, apportion, by_weight, sample_points
from renraku.timeutil import utcnow

Ints = NDArray[np.int64]

PROFESSIONS = list(Profession)
ORG_KINDS = list(OrganisationKind)
P = {p: i for i, p in enumerate(PROFESSIONS)}
K = {k: i for i, k in enumerate(ORG_KINDS)}

# Every municipality used gets at least this many professionals, so a team of four or more can
# be drawn from its own municipality; fewer professionals means fewer municipalities.
MIN_POOL = 8
PATIENTS_PER_CARE_MANAGER = 30
# Share of the professionals other than care managers, in percent.
MIX: dict[Profession, float] = {
    Profession.DOCTOR: 9, Profession.DENTIST: 2, Profession.NURSE: 24, Profession.PHARMACIST: 8,
    Profession.PHYSICAL_THERAPIST: 5, Profession.OCCUPATIONAL_THERAPIST: 3,
    Profession.SPEECH_THERAPIST: 1, Profession.CARE_MANAGER: 0, Profession.HOME_HELPER: 38,
    Profession.DIETITIAN: 1, Profession.SOCIAL_WORKER: 3, Profession.OTHER: 6,
}  # fmt: skip
FEMALE_SHARE = np.array([0.22, 0.25, 0.92, 0.6, 0.4, 0.6, 0.7, 0.75, 0.85, 0.9, 0.6, 0.6])
WORKPLACES: dict[Profession, dict[OrganisationKind, float]] = {
    Profession.DOCTOR: {OrganisationKind.CLINIC: 0.75, OrganisationKind.HOSPITAL: 0.25},
    Profession.DENTIST: {OrganisationKind.CLINIC: 1.0},
    Profession.NURSE: {
        OrganisationKind.HOME_NURSING_STATION: 0.7,
        OrganisationKind.CLINIC: 0.15,
        OrganisationKind.HOSPITAL: 0.15,
    },
    Profession.PHARMACIST: {OrganisationKind.PHARMACY: 1.0},
    Profession.PHYSICAL_THERAPIST: {
        OrganisationKind.HOME_NURSING_STATION: 0.6,
        OrganisationKind.HOSPITAL: 0.4,
    },
    Profession.OCCUPATIONAL_THERAPIST: {
        OrganisationKind.HOME_NURSING_STATION: 0.6,
        OrganisationKind.HOSPITAL: 0.4,
    },
    Profession.SPEECH_THERAPIST: {OrganisationKind.HOSPITAL: 1.0},
    Profession.CARE_MANAGER: {
        OrganisationKind.CARE_MANAGEMENT_OFFICE: 0.85,
        OrganisationKind.COMMUNITY_SUPPORT_CENTER: 0.15,
    },
    Profession.HOME_HELPER: {OrganisationKind.CARE_PROVIDER: 1.0},
    Profession.DIETITIAN: {OrganisationKind.HOSPITAL: 0.5, OrganisationKind.CLINIC: 0.5},
    Profession.SOCIAL_WORKER: {
        OrganisationKind.COMMUNITY_SUPPORT_CENTER: 0.6,
        OrganisationKind.HOSPITAL: 0.4,
    },
    Profession.OTHER: {
        OrganisationKind.CARE_PROVIDER: 0.6,
        OrganisationKind.COMMUNITY_SUPPORT_CENTER: 0.4,
    },
}
STAFF_PER_ORGANISATION = np.array([1, 3, 25, 7, 4, 3, 12, 6])  # in ORG_KINDS order

# The groups a team beyond its coordinator draws from: (professions, label).
TEAM_GROUPS: tuple[tuple[tuple[Profession, ...], str], ...] = (
    ((Profession.DOCTOR,), "doctor"),
    ((Profession.NURSE,), "nurse"),
    ((Profession.HOME_HELPER,), "helper"),
    ((Profession.PHARMACIST,), "pharmacist"),
    ((Profession.DENTIST,), "dentist"),
    (
        (
            Profession.PHYSICAL_THERAPIST,
            Profession.OCCUPATIONAL_THERAPIST,
            Profession.SPEECH_THERAPIST,
        ),
        "therapist",
    ),
    ((Profession.DIETITIAN, Profession.SOCIAL_WORKER, Profession.OTHER), "other"),
)
TEAM_MIN, TEAM_MAX = 4, 15


@dataclass(frozen=True)
class SyntheticSpec:
    patients: int
    professionals: int
    seed: int = 0
    # Times are relative to this day, so a seed gives identical rows whenever it runs that day.
    today: date = field(default_factory=lambda: utcnow().date())
    # Posts spread over the patients, and the sizes of timelines each given to one patient alone.
    posts: int = 0
    big_timelines: tuple[int, ...] = ()
    # A municipality that gets `focus_share` of the patients (the others share the rest by
    # population): a world where one incident's area can hold most of the patients.
    focus: str | None = None
    focus_share: float = 0.0


@dataclass(frozen=True)
class World:
    spec: SyntheticSpec
    codes: list[str]
    org_municipality: Ints
    org_kind: Ints
    org_stem: Ints
    org_template: Ints
    pro_municipality: Ints
    pro_profession: Ints
    pro_organisation: Ints
    pro_female: NDArray[np.bool_]
    pro_surname: Ints
    pro_given: Ints
    patients: Patients
    team_patient: Ints
    team_member: Ints
    team_coordinator: NDArray[np.bool_]
    notebook: Notebook

    def counts(self) -> dict[str, int]:
        n = len(self.patients.municipality)
        return {
            "organisations": len(self.org_kind),
            "professionals": len(self.pro_profession),
            "patients": n,
            "contacts": n,
            "consents": 2 * n,
            "memberships": len(self.team_member),
            **self.notebook.counts(),
        }


def _professions(rng: np.random.Generator, total: int, patients: int) -> Ints:
    """How many of each profession work in a municipality with `patients` patients."""
    counts = np.zeros(len(PROFESSIONS), dtype=np.int64)
    mix = np.array([MIX[p] for p in PROFESSIONS], dtype=np.float64)
    if total < 4:
        return rng.multinomial(total, mix / mix.sum()).astype(np.int64)
    care_managers = round(patients / PATIENTS_PER_CARE_MANAGER)
    counts[P[Profession.CARE_MANAGER]] = min(max(care_managers, 1), max(total // 4, 1))
    for core in (Profession.DOCTOR, Profession.NURSE, Profession.HOME_HELPER):
        counts[P[core]] += 1
    return counts + rng.multinomial(total - int(counts.sum()), mix / mix.sum())


def build_world(spec: SyntheticSpec) -> World:
    """Draw the whole world for `spec` (deterministic in spec.seed and spec.today)."""
    rng = np.random.default_rng(spec.seed)
    # No professionals means no patients either (validate_spec): then the world is empty.
    municipality_count = min(len(municipalities()), -(-spec.professionals // MIN_POOL))
    codes = by_weight(list(municipalities()))[:municipality_count]
    if spec.focus is not None and codes and spec.focus not in codes:
        codes[-1] = spec.focus
    codes = sorted(codes)
    weights = np.array([POPULATION_THOUSANDS.get(c, 1) for c in codes], dtype=np.float64)
    patients_in = _patients_per_municipality(spec, codes, weights)
    pool = min(MIN_POOL, spec.professionals // max(len(codes), 1))
    spread = patients_in.astype(np.float64) if spec.patients else weights
    staff_in = pool + apportion(spec.professionals - pool * len(codes), spread)

    org_m: list[Ints] = []
    org_k: list[Ints] = []
    pro_m: list[Ints] = []
    pro_p: list[Ints] = []
    pro_o: list[Ints] = []
    lats: list[NDArray[np.float64]] = []
    lons: list[NDArray[np.float64]] = []
    teams: list[tuple[Ints, Ints, NDArray[np.bool_]]] = []
    org_base = pro_base = patient_base = 0
    for m, code in enumerate(codes):
        professions = np.repeat(
            np.arange(len(PROFESSIONS)), _professions(rng, int(staff_in[m]), int(patients_in[m]))
        )
        organisation, new_kinds = _workplaces(rng, professions, org_base)
        org_m.append(np.full(len(new_kinds), m, dtype=np.int64))
        org_k.append(new_kinds)
        org_base += len(new_kinds)
        pro_m.append(np.full(len(professions), m, dtype=np.int64))
        pro_p.append(professions)
        pro_o.append(organisation)
        lat, lon = sample_points(code, int(patients_in[m]), rng)
        lats.append(lat)
        lons.append(lon)
        teams.append(_teams(rng, professions, int(patients_in[m]), pro_base, patient_base))
        pro_base += len(professions)
        patient_base += int(patients_in[m])

    professions_all = _cat(pro_p)
    org_kind = _cat(org_k)
    patient_municipality = np.repeat(np.arange(len(codes)), patients_in)
    world = World(
        spec=spec,
        codes=codes,
        org_municipality=_cat(org_m),
        org_kind=org_kind,
        org_stem=rng.integers(0, len(names.STEMS), len(org_kind)),
        org_template=rng.integers(0, 1 << 30, len(org_kind)),
        pro_municipality=_cat(pro_m),
        pro_profession=professions_all,
        pro_organisation=_cat(pro_o),
        pro_female=rng.random(len(professions_all)) < FEMALE_SHARE[professions_all],
        pro_surname=rng.integers(0, len(names.SURNAMES), len(professions_all)),
        pro_given=rng.integers(0, len(names.YOUNGER_FEMALE), len(professions_all)),
        patients=draw_patients(rng, codes, patient_municipality, _cat(lats), _cat(lons)),
        team_patient=_cat([t[0] for t in teams]),
        team_member=_cat([t[1] for t in teams]),
        team_coordinator=_cat([t[2] for t in teams]).astype(np.bool_),
        notebook=empty_notebook(),
    )
    # A generator of its own: the same seed gives the same people with or without posts.
    notebook = draw_notebook(
        np.random.default_rng([spec.seed, 1]),
        posts=spec.posts,
        big_timelines=spec.big_timelines,
        created_days_ago=world.patients.created_days_ago,
        care_level=world.patients.care_level,
        team_patient=world.team_patient,
        team_member=world.team_member,
        pro_profession=world.pro_profession,
    )
    return replace(world, notebook=notebook)


def _patients_per_municipality(
    spec: SyntheticSpec, codes: list[str], weights: NDArray[np.float64]
) -> Ints:
    """How many patients live in each municipality: by population, or `focus_share` of them in
    the focus municipality and the rest by population over the others."""
    if spec.focus is None or spec.focus not in codes:
        return apportion(spec.patients, weights)
    focus = codes.index(spec.focus)
    focused = round(spec.patients * spec.focus_share)
    others = weights.copy()
    others[focus] = 0.0
    counts = apportion(spec.patients - focused, others)
    if others.sum() <= 0:  # the focus municipality is the only one
        focused = spec.patients
    counts[focus] += focused
    return counts


def _workplaces(rng: np.random.Generator, professions: Ints, org_base: int) -> tuple[Ints, Ints]:
    """Each professional's organisation (numbered from `org_base`), and the new ones' kinds."""
    kinds = np.empty(len(professions), dtype=np.int64)
    for p, profession in enumerate(PROFESSIONS):
        mine = professions == p
        where = WORKPLACES[profession]
        choice = rng.choice(len(where), size=int(mine.sum()), p=list(where.values()))
        kinds[mine] = np.array([K[k] for k in where], dtype=np.int64)[choice]
    organisation = np.empty(len(professions), dtype=np.int64)
    new_kinds: list[Ints] = []
    for k, kind in enumerate(ORG_KINDS):
        staff = np.flatnonzero(kinds == k)
        count = -(-len(staff) // int(STAFF_PER_ORGANISATION[k]))
        if kind in (OrganisationKind.MUNICIPALITY, OrganisationKind.COMMUNITY_SUPPORT_CENTER):
            count = max(count, 1)  # every municipality has its office and a support centre
        # Round-robin, so an organisation mixes the professions that work in its kind.
        organisation[staff] = org_base + np.arange(len(staff)) % max(count, 1)
        new_kinds.append(np.full(count, k, dtype=np.int64))
        org_base += count
    return organisation, _cat(new_kinds)


def _cat(parts: list[Any]) -> Any:
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)


def _group_sizes(rng: np.random.Generator, n: int) -> dict[str, Ints]:
    """How many members of each group a patient's team wants, before the pools are counted."""
    return {
        "doctor": (rng.random(n) < 0.95).astype(np.int64),
        "nurse": 1 + rng.binomial(2, 0.4, n),
        "helper": 1 + rng.binomial(5, 0.35, n),
        "pharmacist": (rng.random(n) < 0.5).astype(np.int64),
        "dentist": (rng.random(n) < 0.1).astype(np.int64),
        "therapist": rng.binomial(2, 0.25, n),
        "other": rng.binomial(2, 0.15, n),
    }


def _teams(
    rng: np.random.Generator, professions: Ints, n: int, pro_base: int, patient_base: int
) -> tuple[Ints, Ints, NDArray[np.bool_]]:
    """(patient, member, is coordinator) for the `n` patients of one municipality."""
    empty = np.zeros(0, dtype=np.int64)
    if n == 0:
        return empty, empty, np.zeros(0, dtype=np.bool_)
    pools = {
        label: pro_base + np.flatnonzero(np.isin(professions, [P[p] for p in group]))
        for group, label in TEAM_GROUPS
    }
    wanted = _group_sizes(rng, n)
    sizes = {label: np.minimum(wanted[label], len(pools[label])) for label in pools}
    total = 1 + sum(sizes.values())
    # Trim big teams by helpers (the largest group), then top small ones up from any pool.
    sizes["helper"] -= np.clip(total - TEAM_MAX, 0, None)
    for label in pools:
        deficit = np.clip(TEAM_MIN - (1 + sum(sizes.values())), 0, None)
        sizes[label] += np.minimum(deficit, len(pools[label]) - sizes[label])

    care_managers = pro_base + np.flatnonzero(professions == P[Profession.CARE_MANAGER])
    # Coordinators round-robin over a shuffled patient order: caseloads stay even (~30 each).
    coordinator = np.empty(n, dtype=np.int64)
    coordinator[rng.permutation(n)] = care_managers[np.arange(n) % len(care_managers)]
    patients = [np.arange(n)]
    members = [coordinator]
    for label, pool in pools.items():
        k = sizes[label]
        offsets = rng.integers(0, max(len(pool), 1), n)
        who = np.repeat(np.arange(n), k)
        within = np.arange(int(k.sum())) - np.repeat(np.cumsum(k) - k, k)
        # A window of consecutive pool members from a random start: distinct within the team.
        patients.append(who)
        members.append(pool[(offsets[who] + within) % max(len(pool), 1)])
    patient = np.concatenate(patients)
    member = np.concatenate(members)
    is_coordinator = np.zeros(len(member), dtype=np.bool_)
    is_coordinator[:n] = True
    order = np.argsort(patient, kind="stable")
    return patient_base + patient[order], member[order], is_coordinator[order]
