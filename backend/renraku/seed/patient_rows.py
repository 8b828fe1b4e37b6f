"""Rows of the patient tables: patient, risk profile, key person, consent, care team.

Columns are built per batch by indexing object arrays and zipped into rows, so the per-row work
happens in C; a value that needs formatting (a time, a date) is formatted once per distinct value.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, timedelta
from functools import cached_property
from itertools import repeat

import numpy as np
from numpy.typing import NDArray

from renraku.geo import municipalities
from renraku.kinds import ConsentKind, LandslideZone, Sex, TeamRole
from renraku.seed import names
from renraku.seed.batches import Formats, Row, StartIds, formatted, lookup, spans
from renraku.seed.people import BORN_FROM, CARE_LEVELS, DEVICES, LIVINGS, MOBILITIES
from renraku.seed.world import World

Objects = NDArray[np.object_]

LANDSLIDE = (LandslideZone.NONE, LandslideZone.ZONE, LandslideZone.SPECIAL)
ELDER_GIVEN = names.ELDERLY_FEMALE + names.ELDERLY_MALE
YOUNGER_GIVEN = names.YOUNGER_FEMALE + names.YOUNGER_MALE
SPOUSE_WORDS = ("夫", "妻")  # the key person of a woman, of a man
# Fictional numbers: 090-0000-xxxx is not a number range in service.
MOBILES = lookup([f"090-0000-{n:04d}" for n in range(10_000)])


def full_names(given: tuple[names.Named, ...], part: int) -> Objects:
    """Every surname x given-name pair, indexed surname * len(given) + given."""
    return lookup([f"{s[part]} {g[part]}" for s in names.SURNAMES for g in given])


def _values(members: list[object]) -> Objects:
    return lookup([getattr(m, "value", m) for m in members])


class PatientRows:
    """Per-patient columns computed once and shared by the tables that need them."""

    def __init__(self, world: World, start: StartIds, formats: Formats, anchor: datetime) -> None:
        self.world = world
        self.p = world.patients
        self.n = len(self.p.municipality)
        self.start = start
        self.formats = formats
        self.anchor = anchor
        self.first_id = start.patient + 1
        self.codes = lookup(list(world.codes))

    @cached_property
    def created(self) -> Objects:
        """When each patient joined (01:00 UTC, 10:00 in Japan), also their team's start."""
        at = self.anchor + timedelta(hours=1)
        return formatted(self.p.created_days_ago, lambda d: self.formats.ts(at - timedelta(days=d)))

    @cached_property
    def kin(self) -> tuple[Objects, Objects]:
        """Each patient's key person: (name, relation word)."""
        p = self.p
        spouse = p.relation < 0
        relation = np.where(spouse, 0, p.relation)
        male = np.array([r[1] for r in names.RELATIONS])[relation]
        same_surname = np.array([r[2] for r in names.RELATIONS])[relation]
        surname = np.where(spouse | same_surname, p.surname, p.kin_surname)
        half = len(names.YOUNGER_FEMALE)
        # A spouse is of the patient's generation and the other sex; the others are younger.
        given = p.kin_given + np.where(np.where(spouse, p.female, male), half, 0)
        elder, younger = full_names(ELDER_GIVEN, 0), full_names(YOUNGER_GIVEN, 0)
        index = surname * len(ELDER_GIVEN) + given
        kin_names = np.where(spouse, elder[index], younger[index])
        words = lookup([r[0] for r in names.RELATIONS] + list(SPOUSE_WORDS))
        word = np.where(spouse, len(names.RELATIONS) + np.where(p.female, 0, 1), p.relation)
        return kin_names, words[word]

    def patients(self) -> Iterator[list[Row]]:
        p, formats = self.p, self.formats
        name = p.surname * len(ELDER_GIVEN) + p.given + np.where(p.female, 0, len(ELDER_GIVEN) // 2)
        written, reading = full_names(ELDER_GIVEN, 0)[name], full_names(ELDER_GIVEN, 1)[name]
        born_from = date(int(BORN_FROM), 1, 1)
        births = formatted(p.birth_day, lambda d: formats.day(born_from + timedelta(days=d)))
        # Last visits to the minute: few distinct values to format, however many patients.
        visits = formatted(
            p.visit_seconds_ago // 60, lambda m: formats.ts(self.anchor - timedelta(minutes=m))
        )
        cities = [municipalities()[c].name for c in self.world.codes]
        streets = lookup([f"愛知県{city}{town}" for city in cities for town in names.TOWNS])
        street = streets[p.municipality * len(names.TOWNS) + p.town]
        sexes = lookup([Sex.MALE.value, Sex.FEMALE.value])[p.female.astype(np.int64)]
        phones = np.where(p.has_phone, MOBILES[p.phone], "")
        for a, b in spans(self.n):
            ids = range(self.first_id + a, self.first_id + b)
            yield list(
                zip(
                    ids,
                    [f"syn-{i}" for i in ids],
                    written[a:b].tolist(),
                    reading[a:b].tolist(),
                    births[a:b].tolist(),
                    sexes[a:b].tolist(),
                    [
                        f"{s}{h}番地"
                        for s, h in zip(street[a:b].tolist(), p.house[a:b].tolist(), strict=True)
                    ],
                    p.latitude[a:b].tolist(),
                    p.longitude[a:b].tolist(),
                    repeat("high"),
                    self.codes[p.municipality[a:b]].tolist(),
                    phones[a:b].tolist(),
                    visits[a:b].tolist(),
                    self.created[a:b].tolist(),
                    repeat(""),
                )
            )

    def _devices(self) -> Objects:
        p = self.p
        devices = lookup([self.formats.json([])] * self.n)
        for i in np.flatnonzero(p.devices.any(axis=1)).tolist():
            devices[i] = self.formats.json(
                [
                    {"kind": DEVICES[d].value, "battery_hours": float(p.battery_hours[i, d])}
                    for d in np.flatnonzero(p.devices[i]).tolist()
                ]
            )
        return devices

    def risks(self) -> Iterator[list[Row]]:
        p = self.p
        devices = self._devices()
        care, mobility = (
            _values(list(CARE_LEVELS))[p.care_level],
            _values(list(MOBILITIES))[p.mobility],
        )
        living, slide = _values(list(LIVINGS))[p.living], _values(list(LANDSLIDE))[p.landslide]
        supporter = np.where(p.has_supporter, self.kin[0], "")
        for a, b in spans(self.n):
            yield list(
                zip(
                    range(self.first_id + a, self.first_id + b),
                    care[a:b].tolist(),
                    mobility[a:b].tolist(),
                    p.dementia[a:b].tolist(),
                    p.sensory[a:b].tolist(),
                    living[a:b].tolist(),
                    devices[a:b].tolist(),
                    p.floor[a:b].tolist(),
                    slide[a:b].tolist(),
                    p.flood_depth[a:b].tolist(),
                    p.tsunami[a:b].tolist(),
                    p.air_conditioning[a:b].tolist(),
                    supporter[a:b].tolist(),
                    strict=True,
                )
            )

    def contacts(self) -> Iterator[list[Row]]:
        kin_names, words = self.kin
        first = self.start.contact + 1
        phones = MOBILES[self.p.kin_phone]
        for a, b in spans(self.n):
            yield list(
                zip(
                    range(first + a, first + b),
                    range(self.first_id + a, self.first_id + b),
                    kin_names[a:b].tolist(),
                    words[a:b].tolist(),
                    phones[a:b].tolist(),
                    repeat(True),
                )
            )

    def consents(self) -> Iterator[list[Row]]:
        # Two per patient. Sharing within the team is what joining the notebook means; sharing
        # with the municipality's planners in normal times is a choice.
        first = self.start.consent + 1
        kinds = [ConsentKind.NORMAL_SHARING.value, ConsentKind.PLANNER_SHARING.value]
        granted = np.stack([np.ones(self.n, dtype=np.bool_), self.p.planner_consent], axis=1)
        granted_flat = granted.reshape(-1)
        created = np.repeat(self.created, 2)
        for a, b in spans(2 * self.n):
            yield list(
                zip(
                    range(first + a, first + b),
                    [self.first_id + i // 2 for i in range(a, b)],
                    [kinds[i % 2] for i in range(a, b)],
                    granted_flat[a:b].tolist(),
                    created[a:b].tolist(),
                    repeat(""),
                )
            )

    def memberships(self) -> Iterator[list[Row]]:
        w = self.world
        first = self.start.membership + 1
        roles = lookup([TeamRole.MEMBER.value, TeamRole.COORDINATOR.value])
        role = roles[w.team_coordinator.astype(np.int64)]
        for a, b in spans(len(w.team_member)):
            patient = w.team_patient[a:b]
            yield list(
                zip(
                    range(first + a, first + b),
                    (patient + self.first_id).tolist(),
                    (w.team_member[a:b] + self.start.user + 1).tolist(),
                    role[a:b].tolist(),
                    self.created[patient].tolist(),
                    strict=True,
                )
            )
