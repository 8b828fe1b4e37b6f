"""The authorization matrix: persona x operation x relation to the patient -> outcome.

Every cell is written by hand from DESIGN.md's need-to-know table and policies/roles.csv, never
computed from the code under test. A = allowed, N = NOT_FOUND (the very answer a missing patient
gets), F = FORBIDDEN (the patient is visible but this is not allowed), - = no such cell. Each
relation is built on a new patient in a fresh copy of the demo world, through the API where the
API can build it, and every operation then goes through the real GraphQL endpoint.
"""

from __future__ import annotations

from base64 import urlsafe_b64encode
from collections.abc import Awaitable, Callable
from datetime import timedelta

import pytest
from sqlmodel import select

from renraku.ids import decode_id, encode_id
from renraku.overlay.models import Incident
from renraku.runtime import Runtime
from renraku.timeutil import utcnow
from tests.access.matrix_support import (
    ARCHIVE,
    BYSTANDER_PURPOSES,
    GLASS,
    LIST,
    NOTEBOOK_COLUMNS,
    PATIENT_OPS,
    READS,
    WRITE_ACTIONS,
    Outcome,
    Target,
    World,
    add_professionals,
    audit_mark,
    audited_actions,
    bystander,
    check_only_allowed_notebook_writes,
    check_only_allowed_writes_were_stored,
    expire_glass,
    mismatches,
    move_memberships_into_the_past,
    outcome_of,
    parse_table,
    put_on_team,
    run_matrix,
    run_notebook,
    sign_in,
    user_ids,
    variables,
    write_notebook,
)
from tests.support.concurrent import side_by_side
from tests.support.graphql import DEMO, GraphQLClient, error_codes
from tests.support.visibility import expected_patient_names

A, N = Outcome.ALLOW, Outcome.NOT_FOUND
COLUMNS = tuple(f"read {LIST} risk cont team hist upd rupd add end inv cons glass arch".split())


def _account(**wanted: str) -> str:
    """The first account of seed/demo.toml with the `wanted` values."""
    return next(
        str(a["username"])
        for a in DEMO["accounts"]
        if all(a.get(k) == v for k, v in wanted.items())
    )


def _colleague(username: str) -> str:
    """Another account of the same organisation and profession."""
    me = next(a for a in DEMO["accounts"] if a["username"] == username)
    return next(
        str(a["username"])
        for a in DEMO["accounts"]
        if a["username"] != username
        and a.get("organisation") == me["organisation"]
        and a.get("profession") == me["profession"]
    )


# HOME has the demo incident (DESIGN.md: the first planner listed is of that municipality).
HOME = next(a["municipality"] for a in DEMO["accounts"] if a["kind"] == "planner")
OTHER = next(m["code"] for m in DEMO["municipalities"] if m["code"] != HOME)
PERSONAS = {
    "nurse": _account(kind="professional", profession="nurse", municipality=HOME),
    "helper": _account(kind="professional", profession="home_helper", municipality=HOME),
    "coordinator": _account(kind="professional", profession="care_manager", municipality=HOME),
    "family": _account(kind="family", municipality=HOME),
    "manager": _account(kind="municipality", municipality=HOME),
    "manager_other": _account(kind="municipality", municipality=OTHER),
    "planner": _account(kind="planner", municipality=HOME),
    "planner_other": _account(kind="planner", municipality=OTHER),
    "operator": _account(kind="operator"),
}
MANAGER_OF = {HOME: "manager", OTHER: "manager_other"}
OWN_TEAM = {
    PERSONAS["nurse"]: "MEMBER",
    PERSONAS["helper"]: "MEMBER",
    PERSONAS["coordinator"]: "COORDINATOR",
    PERSONAS["family"]: "FAMILY",
}
COLLEAGUES = {
    _colleague(PERSONAS["nurse"]): "MEMBER",
    _colleague(PERSONAS["helper"]): "MEMBER",
    _colleague(PERSONAS["coordinator"]): "COORDINATOR",
}
ELSEWHERE_TEAM = {
    _account(kind="professional", profession="nurse", municipality=OTHER): "MEMBER",
    _account(kind="professional", profession="care_manager", municipality=OTHER): "COORDINATOR",
}


def _place(*, municipality: str, inside: bool) -> tuple[str, list[float]]:
    """A demo patient's home: inside the demo incident's area (seen by the planner for that
    reason alone) or outside it (not seen at all)."""
    seen = expected_patient_names(DEMO, PERSONAS["planner"])
    for patient in DEMO["patients"]:
        if patient["municipality"] != municipality:
            continue
        consented = patient["consent"].get("planner_sharing", False)
        if (inside and patient["display_name"] in seen and not consented) or (
            not inside and patient["display_name"] not in seen
        ):
            return municipality, patient["location"]
    raise LookupError("seed/demo.toml has no such patient")


PLACES = {
    "outside": _place(municipality=HOME, inside=False),
    "inside": _place(municipality=HOME, inside=True),
    "elsewhere": _place(municipality=OTHER, inside=False),
}

CREATE = "mutation($input: CreatePatientInput!) { createPatient(input: $input) { id } }"
JOIN = """mutation($id: ID!, $user: ID!, $role: TeamRole!, $until: DateTime) {
  addTeamMember(patientId: $id, userId: $user, role: $role, until: $until) { role } }"""
LEAVE = """mutation($id: ID!, $user: ID!) {
  endTeamMembership(patientId: $id, userId: $user, reason: "left") { role } }"""
CONSENT = """mutation($id: ID!, $granted: Boolean!) {
  recordConsent(patientId: $id, kind: PLANNER_SHARING, granted: $granted) { granted } }"""
END_INCIDENT = "mutation($id: ID!) { endIncident(id: $id) { id } }"


@pytest.fixture
async def world(gql: GraphQLClient, runtime: Runtime) -> World:
    for code in (HOME, OTHER):
        names = [bystander(p, purpose, code) for p in PERSONAS for purpose in BYSTANDER_PURPOSES]
        await add_professionals(runtime.db, names, code)
    clients = {p: await sign_in(runtime, gql.http, u) for p, u in PERSONAS.items()}
    return World(runtime, PERSONAS, MANAGER_OF, clients, await user_ids(runtime.db))


async def new_patient(world: World, place: str, team: dict[str, str]) -> Target:
    """A patient created by its municipality's manager, with `team` and the end-bystanders."""
    code, (lat, lon) = PLACES[place]
    client = world.clients[MANAGER_OF[code]]
    fields = {"displayName": "試験 患者", "latitude": lat, "longitude": lon, "phone": "0533-0-0"}
    created = await client.execute(CREATE, {"input": fields})
    assert "errors" not in created, created
    gid = created["data"]["createPatient"]["id"]
    target = Target(decode_id("Patient", gid), gid, code)
    for username, role in team.items():
        await world.manage(target, JOIN, user=world.user_gid(username), role=role)
    enders = [world.ids[bystander(p, "end", code)] for p in PERSONAS]
    await put_on_team(world.runtime.db, target.pk, enders, "member")
    return target


async def on_the_team(world: World) -> Target:
    return await new_patient(world, "outside", OWN_TEAM)


async def former_members(world: World) -> Target:
    target = await on_the_team(world)
    for username in OWN_TEAM:
        await world.manage(target, LEAVE, user=world.user_gid(username))
    return target


async def lapsed_members(world: World) -> Target:
    target = await new_patient(world, "outside", {})
    until = (utcnow() + timedelta(hours=1)).isoformat()
    for username, role in OWN_TEAM.items():
        await world.manage(target, JOIN, user=world.user_gid(username), role=role, until=until)
    members = [world.ids[u] for u in OWN_TEAM]
    await move_memberships_into_the_past(world.runtime.db, target.pk, members)
    return target


async def colleagues_team(world: World) -> Target:
    return await new_patient(world, "outside", COLLEAGUES)


async def elsewhere(world: World) -> Target:
    return await new_patient(world, "elsewhere", ELSEWHERE_TEAM)


async def in_incident(world: World) -> Target:
    return await new_patient(world, "inside", COLLEAGUES)


async def incident_ended(world: World) -> Target:
    target = await in_incident(world)
    manager = world.clients["manager"]
    listed = await manager.execute("{ incidents(active: true) { id } }")
    assert listed["data"]["incidents"], listed
    for incident in listed["data"]["incidents"]:
        ended = await manager.execute(END_INCIDENT, {"id": incident["id"]})
        assert "errors" not in ended, ended
    return target


async def consented(world: World) -> Target:
    target = await colleagues_team(world)
    await world.manage(target, CONSENT, granted=True)
    return target


async def consent_withdrawn(world: World) -> Target:
    target = await consented(world)
    await world.manage(target, CONSENT, granted=False)
    return target


async def glass_broken(world: World) -> Target:
    target = await colleagues_team(world)
    opened = await world.clients["nurse"].execute(GLASS.document, {"id": target.gid})
    assert "errors" not in opened, opened
    return target


async def glass_expired(world: World) -> Target:
    target = await glass_broken(world)
    await expire_glass(world.runtime.db, target.pk)
    return target


async def archived(world: World) -> Target:
    target = await on_the_team(world)
    await world.manage(target, ARCHIVE.document)
    return target


HEADER = "persona       read list risk cont team hist upd rupd add end inv cons glass arch"
# Not on the team: invisible, but a clinician (roles.csv: doctor, dentist, nurse, pharmacist;
# not a home helper, nor a care manager) may break the glass.
NOT_ON_TEAM = """
nurse         N    N    N    N    N    N    N   N    N   N   N   N    A     N
helper        N    N    N    N    N    N    N   N    N   N   N   N    N     N
coordinator   N    N    N    N    N    N    N   N    N   N   N   N    N     N
family        N    N    N    N    N    N    N   N    N   N   N   N    N     N
"""
# The manager of the patient's municipality: everything but clinical content (DESIGN.md), and
# roles.csv gives managers no read of patient.risk although they may update it.
MANAGER_SEES = "A    A    F    A    A    F    A   A    A   A   A   A    F     A"
# A planner with a reason to see the patient: minimum-necessary fields, never the team.
PLANNER_SEES = "A    A    A    A    F    F    F   F    F   F   F   F    F     F"
UNRELATED = "   N    N    N    N    N    N    N   N    N   N   N   N    N     N"


def table(
    team: str = NOT_ON_TEAM,
    *,
    manager: str = MANAGER_SEES,
    manager_other: str = UNRELATED,
    planner: str = UNRELATED,
) -> str:
    """A relation's table: the team kinds' rows, then the municipality's people and outsiders."""
    return f"""{HEADER}
        {team}
        manager       {manager}
        manager_other {manager_other}
        planner       {planner}
        planner_other {UNRELATED}
        operator      {UNRELATED}"""


Builder = Callable[[World], Awaitable[Target]]
RELATIONS: dict[str, tuple[Builder, str]] = {
    # A member breaking the glass on their own patient is an input error, not a decision: "-".
    "on the team": (
        on_the_team,
        table("""
        nurse         A    A    A    A    A    F    F   F    F   F   F   F    -     F
        helper        A    A    A    A    A    F    F   F    F   F   F   F    -     F
        coordinator   A    A    A    A    A    A    A   A    A   A   A   A    -     F
        family        A    A    F    F    A    F    F   F    F   F   F   F    -     F
        """),
    ),
    "former members (ended)": (former_members, table()),
    "membership with an end date in the past": (lapsed_members, table()),
    "colleagues of the same organisation on the team": (colleagues_team, table()),
    # DESIGN.md limits break-the-glass to clinicians, not to their own municipality.
    "patient of another municipality": (
        elsewhere,
        table(manager=UNRELATED, manager_other=MANAGER_SEES),
    ),
    # Glass is read-only (roles.csv) and never puts the patient on the clinician's list.
    "break-the-glass active": (
        glass_broken,
        table(f"""
        nurse         A    N    A    A    A    F    F   F    F   F   F   F    -     F
        helper        {UNRELATED}
        coordinator   {UNRELATED}
        family        {UNRELATED}
        """),
    ),
    "break-the-glass expired": (glass_expired, table()),
    "inside an active incident": (in_incident, table(planner=PLANNER_SEES)),
    "inside an incident that has ended": (incident_ended, table()),
    "consented to planner sharing": (consented, table(planner=PLANNER_SEES)),
    "planner sharing consent withdrawn": (consent_withdrawn, table()),
    # Archived: out of everyone's reach, the glass included, until purged.
    "archived patient of the team": (
        archived,
        table(
            f"""
        nurse         {UNRELATED}
        helper        {UNRELATED}
        coordinator   {UNRELATED}
        family        {UNRELATED}
        """,
            manager=UNRELATED,
        ),
    ),
}


@pytest.mark.parametrize("relation", list(RELATIONS))
async def test_each_persona_gets_what_the_matrix_says(world: World, relation: str) -> None:
    build, table = RELATIONS[relation]
    expected = parse_table(table, COLUMNS)
    assert set(expected) == set(PERSONAS)
    target = await build(world)
    mark = await audit_mark(world.runtime.db)
    seen = await run_matrix(world, target, expected)
    wrong = mismatches(expected, seen)
    assert not wrong, f"{relation}:\n" + "\n".join(wrong)
    await check_only_allowed_writes_were_stored(world, target, seen, mark)


async def test_a_missing_or_malformed_patient_id_answers_like_an_invisible_one(
    world: World,
) -> None:
    largest = encode_id("Patient", 2**31 - 1)  # the largest key there is, never used here
    malformed = (
        encode_id("Patient", 2**31),  # past the key column's range
        urlsafe_b64encode("Patient:²".encode()).decode(),  # a digit, but not an ASCII one
        "not-an-id",
        encode_id("User", world.ids[PERSONAS["nurse"]]),  # an id of another type
    )

    async def answers(persona: str, gid: str) -> list[tuple[str, Outcome]]:
        client = world.clients[persona]
        values = variables(gid, persona, HOME, world.ids)
        reads = await client.execute(READS, values)
        found = []
        for op in PATIENT_OPS:
            result = reads if op.document == READS else await client.execute(op.document, values)
            found.append((op.name, outcome_of(result, op.root, op.field)))
        return found

    everyone = await side_by_side(*(answers(p, largest) for p in PERSONAS))
    # Malformed ids fail before the actor matters; one persona tries them all.
    odd = await side_by_side(*(answers("coordinator", gid) for gid in malformed))
    for found in [*everyone, *odd]:
        assert found == [(op.name, N) for op in PATIENT_OPS]


async def test_without_a_session_every_operation_is_unauthenticated(
    world: World, gql: GraphQLClient
) -> None:
    target = await on_the_team(world)
    mark = await audit_mark(world.runtime.db)
    for op in {op.document: op for op in PATIENT_OPS}.values():
        result = await gql.execute(op.document, variables(target.gid, "nurse", HOME, world.ids))
        codes = error_codes(result)
        assert codes and set(codes) == {"UNAUTHENTICATED"}, op.name
        assert not any((result.get("data") or {}).values()), op.name
    audited = await audited_actions(world.runtime.db, after=mark, patient_id=target.pk)
    assert not set().union(*audited.values()) & WRITE_ACTIONS


# The municipality as a whole: the persona's relation to it, not to a patient. "list": HOME's
# incident shows in `incidents`; "end": ending one of HOME's; "inside": counts restricted to
# HOME's incident; "report": the access report of one's own municipality. Municipalities are
# public (FORBIDDEN), another municipality's incidents are not (NOT_FOUND).
INCIDENT_COLUMNS = ("list", "declare", "end", "counts", "inside", "report")
INCIDENT_TABLE = """
persona        list declare end counts inside report
nurse          F    F       N   F      F      F
helper         F    F       N   F      F      F
coordinator    F    F       N   F      F      F
family         F    F       N   F      F      F
manager        A    A       A   A      A      A
manager_other  N    A       N   A      N      A
planner        A    A       A   A      A      F
planner_other  N    A       N   A      N      F
operator       F    F       N   F      F      F
"""
LIST_INCIDENTS = "{ incidents(active: true) { id } }"
DECLARE = """mutation($endsAt: DateTime!) {
  declareIncident(input: {reason: "Matrix drill", endsAt: $endsAt}) { id } }"""
COUNTS = """query($incident: ID) {
  patientCounts(rows: CARE_LEVEL, columns: LIVING, incidentId: $incident) { total } }"""
REPORT = "query($since: DateTime!) { accessReport(since: $since) { municipalityCode } }"


async def test_incidents_counts_and_reports_follow_the_relation_to_the_municipality(
    world: World,
) -> None:
    expected = parse_table(INCIDENT_TABLE, INCIDENT_COLUMNS)
    manager = world.clients["manager"]
    demo = (await manager.execute(LIST_INCIDENTS))["data"]["incidents"][0]["id"]
    ends_at = (utcnow() + timedelta(hours=2)).isoformat()
    # One incident of HOME per persona to try to end, so that one ending leaves the others.
    mine = {}
    for persona in PERSONAS:
        declared = await manager.execute(DECLARE, {"endsAt": ends_at})
        mine[persona] = declared["data"]["declareIncident"]["id"]

    async def run(persona: str) -> dict[str, Outcome]:
        client = world.clients[persona]
        listed = await client.execute(LIST_INCIDENTS)
        seen = {"list": outcome_of(listed, "incidents")}
        if seen["list"] is A:
            seen["list"] = A if demo in {e["id"] for e in listed["data"]["incidents"]} else N
        counts = await client.execute(COUNTS, {"incident": None})
        seen["counts"] = outcome_of(counts, "patientCounts")
        inside = await client.execute(COUNTS, {"incident": demo})
        seen["inside"] = outcome_of(inside, "patientCounts")
        report = await client.execute(REPORT, {"since": "2000-01-01T00:00:00+00:00"})
        seen["report"] = outcome_of(report, "accessReport")
        declared = await client.execute(DECLARE, {"endsAt": ends_at})
        seen["declare"] = outcome_of(declared, "declareIncident")
        ended = await client.execute(END_INCIDENT, {"id": mine[persona]})
        seen["end"] = outcome_of(ended, "endIncident")
        return seen

    seen = dict(zip(PERSONAS, await side_by_side(*(run(p) for p in PERSONAS)), strict=True))
    wrong = mismatches(expected, seen)
    assert not wrong, "\n".join(wrong)
    async with world.runtime.db.session() as session:
        incidents = (await session.exec(select(Incident))).all()
    for persona, username in PERSONAS.items():
        declared_by = [e for e in incidents if e.declared_by == world.ids[username]]
        assert bool(declared_by) == (seen[persona]["declare"] is A), persona
        target = next(e for e in incidents if e.id == decode_id("Incident", mine[persona]))
        assert (target.ended_at is not None) == (seen[persona]["end"] is A), persona


# The notebook: the same relations, and what each persona may do with the patient's posts
# (roles.csv, "The notebook"). tl: Patient.timeline; fam / pro: post(id) of a post shared with
# family / of a professional-only instruction; feed: the instruction in myFeed; post / fpost:
# createPost professional-only / shared with family; rcpt: readBy of the shared post; mark:
# markPostsRead of it; ack: acknowledgePost of the instruction; retr: retractPost of another's
# post. Family read only what is shared with them; managers and planners see the patient but
# never the notebook (FORBIDDEN), so its posts do not exist for them (NOT_FOUND); break-the-glass
# reads, never writes.
AUTHOR = _account(kind="professional", profession="doctor", municipality=HOME)
AUTHOR_OTHER = _account(kind="professional", profession="doctor", municipality=OTHER)
NOTEBOOK_HEADER = "persona       tl fam pro feed post fpost rcpt mark ack retr"
NO_NOTEBOOK = "F  N   N   N    F    F     N    N    N   N"
NOTEBOOK_UNRELATED = "N  N   N   N    N    N     N    N    N   N"
NOTEBOOK_STRANGERS = f"""
nurse         {NOTEBOOK_UNRELATED}
helper        {NOTEBOOK_UNRELATED}
coordinator   {NOTEBOOK_UNRELATED}
family        {NOTEBOOK_UNRELATED}
"""


def notebook_table(
    team: str = NOTEBOOK_STRANGERS,
    *,
    manager: str = NO_NOTEBOOK,
    manager_other: str = NOTEBOOK_UNRELATED,
    planner: str = NOTEBOOK_UNRELATED,
) -> str:
    return f"""{NOTEBOOK_HEADER}
        {team}
        manager       {manager}
        manager_other {manager_other}
        planner       {planner}
        planner_other {NOTEBOOK_UNRELATED}
        operator      {NOTEBOOK_UNRELATED}"""


# relation -> (place, team, what happens after the posts are written, table)
NOTEBOOK_RELATIONS: dict[str, tuple[str, dict[str, str], str | None, str]] = {
    "on the team": (
        "outside",
        {**OWN_TEAM, AUTHOR: "MEMBER"},
        None,
        notebook_table("""
        nurse         A  A   A   A    A    A     A    A    A   F
        helper        A  A   A   A    A    A     A    A    A   F
        coordinator   A  A   A   A    A    A     A    A    A   A
        family        A  A   N   N    F    A     F    A    N   N
        """),
    ),
    "not on the team": ("outside", {**COLLEAGUES, AUTHOR: "MEMBER"}, None, notebook_table()),
    "break-the-glass active": (
        "outside",
        {**COLLEAGUES, AUTHOR: "MEMBER"},
        "glass",
        notebook_table(f"""
        nurse         A  A   A   N    F    F     A    F    F   F
        helper        {NOTEBOOK_UNRELATED}
        coordinator   {NOTEBOOK_UNRELATED}
        family        {NOTEBOOK_UNRELATED}
        """),
    ),
    "inside an active incident": (
        "inside",
        {**COLLEAGUES, AUTHOR: "MEMBER"},
        None,
        notebook_table(planner=NO_NOTEBOOK),
    ),
    "patient of another municipality": (
        "elsewhere",
        {**ELSEWHERE_TEAM, AUTHOR_OTHER: "MEMBER"},
        None,
        notebook_table(manager=NOTEBOOK_UNRELATED, manager_other=NO_NOTEBOOK),
    ),
    "archived patient of the team": (
        "outside",
        {**OWN_TEAM, AUTHOR: "MEMBER"},
        "archive",
        notebook_table(
            f"""
        nurse         {NOTEBOOK_UNRELATED}
        helper        {NOTEBOOK_UNRELATED}
        coordinator   {NOTEBOOK_UNRELATED}
        family        {NOTEBOOK_UNRELATED}
        """,
            manager=NOTEBOOK_UNRELATED,
        ),
    ),
}


@pytest.mark.parametrize("relation", list(NOTEBOOK_RELATIONS))
async def test_each_persona_reads_and_writes_the_notebook_as_the_matrix_says(
    world: World, relation: str
) -> None:
    place, team, then, table_text = NOTEBOOK_RELATIONS[relation]
    expected = parse_table(table_text, NOTEBOOK_COLUMNS)
    assert set(expected) == set(PERSONAS)
    target = await new_patient(world, place, team)
    notebook = await write_notebook(world, target, AUTHOR_OTHER if place == "elsewhere" else AUTHOR)
    if then == "glass":
        opened = await world.clients["nurse"].execute(GLASS.document, {"id": target.gid})
        assert "errors" not in opened, opened
    elif then == "archive":
        await world.manage(target, ARCHIVE.document)
    seen = await run_notebook(world, target, notebook)
    wrong = mismatches(expected, seen)
    assert not wrong, f"{relation}:\n" + "\n".join(wrong)
    await check_only_allowed_notebook_writes(world, target, notebook, seen)
