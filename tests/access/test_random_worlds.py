"""Random small worlds, written straight into a fresh database, against a plain-Python oracle.

For every actor of every world, `list_patients` (all pages) must hold exactly the patients the
oracle lists for them, and `roles_on` exactly the roles the oracle gives them. The oracle reads
the world the way DESIGN.md's need-to-know table does, not the way renraku.access computes it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from renraku.access.scopes import roles_on
from renraku.accounts.models import Municipality, Organisation, OrganisationMember, User
from renraku.accounts.service import actor_for
from renraku.db import Database
from renraku.glass.models import GlassAccess
from renraku.kinds import ConsentKind, TeamRole, UserKind
from renraku.overlay.models import Incident, IncidentPatient
from renraku.teams.models import Consent, Patient, TeamMembership
from renraku.teams.service import list_patients
from renraku.timeutil import utcnow
from tests.support.databases import Backend

CODES = ("232149", "232131", "232114")
TEAM_KINDS = frozenset({UserKind.PROFESSIONAL, UserKind.FAMILY, UserKind.PATIENT})
# Hours from the moment the world is written; never near zero, so the seconds the checks take
# cannot move anything across "now".
PAST, FUTURE = (-72, -24, -1), (1, 24, 72)
Hours = st.sampled_from(PAST + FUTURE)


@dataclass(frozen=True)
class Person:
    kind: UserKind
    municipality: str | None
    profession: str | None
    # Which of the municipality's two organisations a professional works for. Colleagues share
    # nothing but that: it must never open a patient to them.
    organisation: int = 0


@dataclass(frozen=True)
class Resident:
    municipality: str
    kana: str
    archived: bool


@dataclass(frozen=True)
class Membership:
    user: int
    patient: int
    role: TeamRole
    starts: int
    ends: int | None


@dataclass(frozen=True)
class ConsentRecord:
    patient: int
    kind: ConsentKind
    granted: bool
    at: int


@dataclass(frozen=True)
class Declared:
    municipality: str
    starts: int
    ends: int
    ended: int | None
    inside: frozenset[int]


@dataclass(frozen=True)
class Glass:
    user: int
    patient: int
    starts: int
    expires: int
    ended: int | None


@dataclass(frozen=True)
class World:
    people: list[Person]
    residents: list[Resident]
    memberships: list[Membership]
    consents: list[ConsentRecord]
    incidents: list[Declared]
    glass: list[Glass]


@st.composite
def worlds(draw: st.DrawFn) -> World:
    """Dense small worlds: two municipalities with patients (a third with none), where most
    people and records touch each other."""
    codes = st.sampled_from(CODES[:2])
    people = draw(
        st.lists(
            st.builds(
                Person,
                kind=st.sampled_from(list(UserKind)),
                municipality=st.sampled_from([*CODES[:2], *CODES, None]),
                profession=st.sampled_from(["nurse", "home_helper", "care_manager"]),
                organisation=st.integers(0, 1),
            ),
            min_size=2,
            max_size=6,
        )
    )
    # A planner of each municipality with patients, whom consents and incidents concern, and
    # a nurse, who can hold break-the-glass grants.
    people += [Person(UserKind.PLANNER, code, None) for code in CODES[:2]]
    people.append(Person(UserKind.PROFESSIONAL, CODES[0], "nurse"))
    residents = draw(
        st.lists(
            # Shared readings make the list's order fall back on ids, across pages.
            st.builds(
                Resident,
                municipality=codes,
                kana=st.sampled_from(["", "あ", "い"]),
                archived=st.sampled_from([False, False, True]),
            ),
            min_size=2,
            max_size=7,
        )
    )
    user, patient = st.integers(0, len(people) - 1), st.integers(0, len(residents) - 1)
    memberships = draw(
        st.lists(
            st.builds(
                Membership,
                user=user,
                patient=patient,
                role=st.sampled_from(list(TeamRole)),
                starts=Hours,
                ends=st.none() | Hours,
            ),
            min_size=2,
            max_size=14,
        )
    )
    # Several records per patient at few distinct times, so they often tie in time and the
    # later-written one must win.
    consents = [
        record
        for index in range(len(residents))
        for record in draw(
            st.lists(
                st.builds(
                    ConsentRecord,
                    patient=st.just(index),
                    kind=st.sampled_from([ConsentKind.PLANNER_SHARING, *ConsentKind]),
                    granted=st.booleans(),
                    at=st.sampled_from(PAST[1:]),
                ),
                max_size=3,
            )
        )
    ]
    # Times lean towards "in force now", so that most worlds have something live to get wrong.
    incidents = []
    for code in draw(st.lists(codes, min_size=1, max_size=3)):
        theirs = [i for i, r in enumerate(residents) if r.municipality == code]
        inside = draw(st.sets(st.sampled_from(theirs))) if theirs else set()
        starts = draw(st.sampled_from([-24, -1, -1, 24]))
        ends = draw(st.sampled_from([-1, 1, 24, 72]))
        ended = draw(st.sampled_from([None, None, -1]))
        incidents.append(Declared(code, starts, ends, ended, frozenset(inside)))
    professionals = [i for i, p in enumerate(people) if p.kind is UserKind.PROFESSIONAL]
    # Grants are only ever opened by professionals, starting when opened.
    glass = draw(
        st.lists(
            st.builds(
                Glass,
                user=st.sampled_from(professionals),
                patient=patient,
                starts=st.sampled_from(PAST),
                expires=st.sampled_from([-1, 1, 24]),
                ended=st.sampled_from([None, None, -1]),
            ),
            min_size=1,
            max_size=4,
        )
    )
    return World(people, residents, memberships, consents, incidents, glass)


def _live(starts: int, ends: int | None, ended: int | None = None) -> bool:
    return starts < 0 and (ends is None or ends > 0) and ended is None


def expected_roles(world: World, who: int) -> dict[int, frozenset[str]]:
    """The oracle: per patient, the roles DESIGN.md's table gives person `who`."""
    me = world.people[who]
    found: dict[int, frozenset[str]] = {}
    for index, resident in enumerate(world.residents):
        if resident.archived:
            continue
        roles: set[str] = set()
        same_place = me.municipality is not None and resident.municipality == me.municipality
        if me.kind in TEAM_KINDS:
            roles |= {
                m.role.value
                for m in world.memberships
                if m.user == who and m.patient == index and _live(m.starts, m.ends)
            }
            if any(
                g.user == who and g.patient == index and _live(g.starts, g.expires, g.ended)
                for g in world.glass
            ):
                roles.add("glass")
        elif me.kind is UserKind.MUNICIPALITY and same_place:
            roles.add("manager")
        elif me.kind is UserKind.PLANNER and same_place:
            if any(
                e.municipality == me.municipality
                and index in e.inside
                and _live(e.starts, e.ends, e.ended)
                for e in world.incidents
            ):
                roles.add("planner")
            # The latest planner-sharing record is the one in force; on a tie, the later written.
            sharing = [
                (c.at, n, c.granted)
                for n, c in enumerate(world.consents)
                if c.patient == index and c.kind is ConsentKind.PLANNER_SHARING
            ]
            if sharing and max(sharing)[2]:
                roles.add("planner_consent")
        if roles:
            found[index] = frozenset(roles)
    return found


def expected_list(world: World, who: int) -> set[int]:
    """Lists hold the patients seen for a reason other than an open glass."""
    return {p for p, roles in expected_roles(world, who).items() if roles - {"glass"}}


@pytest.fixture(scope="module")
async def migrated(backend: Backend) -> AsyncIterator[Backend]:
    """A migrated, empty template on the backend's server; each example gets a fresh copy."""
    empty = Backend(backend.kind, backend.workdir)
    await empty.prepare(seed=False)
    yield empty
    await empty.teardown()


@asynccontextmanager
async def fresh_database(migrated: Backend) -> AsyncIterator[Database]:
    async with migrated.clone() as url:
        db = Database.from_url(url)
        try:
            yield db
        finally:
            await db.dispose()


async def write(db: Database, world: World) -> tuple[list[int], list[int]]:
    """The world as rows; returns the ids of its people and of its patients, by index."""
    now = utcnow()

    def at(hours: int) -> datetime:
        return now + timedelta(hours=hours)

    async with db.transaction() as session:
        session.add_all(Municipality(code=code, name=code) for code in CODES)
        organisations = {
            (code, k): Organisation(
                key=f"org-{code}-{k}", name="org", kind="clinic", municipality_code=code
            )
            for code in CODES
            for k in (0, 1)
        }
        session.add_all(organisations.values())
        users = [
            User(
                username=f"person{n}",
                display_name=f"person{n}",
                kind=p.kind.value,
                profession=p.profession if p.kind is UserKind.PROFESSIONAL else None,
                municipality_code=p.municipality,
            )
            for n, p in enumerate(world.people)
        ]
        patients = [
            Patient(
                display_name=f"patient{n}",
                kana=r.kana,
                latitude=35.0,
                longitude=137.0,
                municipality_code=r.municipality,
                archived_at=at(-1) if r.archived else None,
            )
            for n, r in enumerate(world.residents)
        ]
        session.add_all([*users, *patients])
        await session.flush()
        uid = [u.id for u in users if u.id is not None]
        pid = [p.id for p in patients if p.id is not None]
        org_id = {key: o.id for key, o in organisations.items() if o.id is not None}
        session.add_all(
            OrganisationMember(
                organisation_id=org_id[(p.municipality, p.organisation)], user_id=uid[n]
            )
            for n, p in enumerate(world.people)
            if p.kind is UserKind.PROFESSIONAL and p.municipality is not None
        )
        for m in world.memberships:
            session.add(
                TeamMembership(
                    patient_id=pid[m.patient],
                    user_id=uid[m.user],
                    role=m.role.value,
                    starts_at=at(m.starts),
                    ends_at=None if m.ends is None else at(m.ends),
                )
            )
        for c in world.consents:
            # One flush per record: ids follow the order written, which breaks ties in time.
            session.add(
                Consent(
                    patient_id=pid[c.patient],
                    kind=c.kind.value,
                    granted=c.granted,
                    recorded_at=at(c.at),
                )
            )
            await session.flush()
        for e in world.incidents:
            incident = Incident(
                municipality_code=e.municipality,
                reason="random",
                starts_at=at(e.starts),
                ends_at=at(e.ends),
                ended_at=None if e.ended is None else at(e.ended),
            )
            session.add(incident)
            await session.flush()
            assert incident.id is not None
            session.add_all(
                IncidentPatient(incident_id=incident.id, patient_id=pid[i]) for i in e.inside
            )
        session.add_all(
            GlassAccess(
                patient_id=pid[g.patient],
                user_id=uid[g.user],
                reason="random",
                starts_at=at(g.starts),
                expires_at=at(g.expires),
                ended_at=None if g.ended is None else at(g.ended),
            )
            for g in world.glass
        )
    return uid, pid


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(world=worlds(), page=st.integers(1, 3))
async def test_no_actor_sees_a_patient_the_oracle_does_not_give_them(
    migrated: Backend, world: World, page: int
) -> None:
    async with fresh_database(migrated) as db:
        uid, pid = await write(db, world)
        index_of = {p: n for n, p in enumerate(pid)}
        # A key nobody holds, too: it must get no roles either.
        asked = [*pid, max(pid) + 1000]
        async with db.session() as session:
            for who, user_id in enumerate(uid):
                user = await session.get(User, user_id)
                assert user is not None
                actor = actor_for(user)
                listed: list[int] = []
                after: str | None = None
                while True:
                    found = await list_patients(
                        session, actor=actor, first=page, after=after, search=None
                    )
                    listed += [index_of[p.id] for p, _ in found.items if p.id is not None]
                    if not found.has_next_page:
                        break
                    after = found.items[-1][1]
                assert set(listed) == expected_list(world, who), who
                # Each once, in reading order: no page repeats or skips a patient.
                order = sorted(listed, key=lambda n: (world.residents[n].kana, pid[n]))
                assert listed == order, who
                roles = {p: r for p, r in (await roles_on(session, actor, asked)).items() if r}
                assert roles.keys() <= set(pid), who
                got = {index_of[p]: r for p, r in roles.items()}
                assert got == expected_roles(world, who), who
