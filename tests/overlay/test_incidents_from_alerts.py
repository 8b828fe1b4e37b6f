"""Alerts open, join and end incidents: one incident per municipality whatever started it, and
an untrusted source's alert never unlocks a name by itself (DESIGN.md "Priority model")."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import col, select

from renraku.alerts.imports import Origin, import_document
from renraku.alerts.models import Alert
from renraku.alerts.sources import add_source
from renraku.ids import decode_id, encode_id
from renraku.overlay.models import Incident, IncidentAlert
from renraku.runtime import Runtime
from renraku.timeutil import utcnow
from tests.alerts.helpers import sample
from tests.overlay.helpers import END, GAMAGORI, incident_input, patients_inside
from tests.support.graphql import GraphQLClient, error_codes
from tests.teams.helpers import visible_names

OPERATOR = Origin(trusted=True)
GRACE = timedelta(hours=6)
LISTED = """
query($active: Boolean) {
  incidents(active: $active) {
    id origin declared level pending active endsAt patientCount reason
  }
}
"""
CONFIRM = "mutation($id: ID!) { confirmIncident(id: $id) { id pending active } }"
LISTED_DRILL = "query($active: Boolean) { incidents(active: $active) { id drill patientCount } }"
DECLARE_DRILL = """
mutation($input: DeclareIncidentInput!) { declareIncident(input: $input) { id drill level } }
"""


async def _incidents(runtime: Runtime) -> list[Incident]:
    async with runtime.db.session() as session:
        rows = await session.exec(select(Incident).order_by(col(Incident.id)))
        return list(rows.all())


async def _linked(runtime: Runtime, incident_id: int) -> set[str]:
    async with runtime.db.session() as session:
        rows = await session.exec(
            select(Alert.identifier)
            .join(IncidentAlert, col(IncidentAlert.alert_id) == col(Alert.id))
            .where(IncidentAlert.incident_id == incident_id)
        )
        return set(rows.all())


async def _end_demo_incident(gql: GraphQLClient, runtime: Runtime) -> None:
    planner = await gql.login("planner.gamagori")
    for incident in await _incidents(runtime):
        result = await planner.execute(END, {"id": encode_id("Incident", incident.id or 0)})
        assert "errors" not in result, result


async def test_the_demo_declaration_and_its_alert_are_one_incident(
    gql: GraphQLClient, runtime: Runtime
) -> None:
    (incident,) = await _incidents(runtime)
    assert (incident.municipality_code, incident.declared, incident.pending) == (
        GAMAGORI,
        True,
        False,
    )
    assert incident.id is not None
    (identifier,) = await _linked(runtime, incident.id)
    assert identifier.startswith("urn:renraku-demo:232149:")
    planner = await gql.login("planner.gamagori")
    listed = (await planner.execute(LISTED, {"active": True}))["data"]["incidents"]
    assert [(i["origin"], i["declared"], i["level"], i["pending"]) for i in listed] == [
        ("DECLARED", True, 3, False)
    ]
    # Its area holds the declared coast (four homes) and the alert's hillsides (three, two of
    # them on the coast too): seed/README.md.
    assert listed[0]["patientCount"] == len(await patients_inside(runtime, incident.id)) == 5


async def test_an_alert_joins_the_open_incident_and_its_area_grows(
    runtime: Runtime,
) -> None:
    (before,) = await _incidents(runtime)
    assert before.id is not None
    inside_before = await patients_inside(runtime, before.id)
    result = await import_document(
        runtime.db, sample("synthetic-cap12-gamagori-update.xml"), OPERATOR
    )
    assert result.incident_ids == (before.id,)
    (after,) = await _incidents(runtime)
    assert len(await _linked(runtime, before.id)) == 2
    inside_after = await patients_inside(runtime, before.id)
    assert inside_before <= inside_after
    assert after.ends_at >= before.ends_at


async def test_an_alert_opens_an_incident_and_its_cancel_ends_it_after_the_grace(
    gql: GraphQLClient, runtime: Runtime
) -> None:
    await _end_demo_incident(gql, runtime)
    opened = await import_document(
        runtime.db, sample("synthetic-cap12-gamagori-alert.xml"), OPERATOR, incident_grace=GRACE
    )
    assert len(opened.incident_ids) == 1
    incident_id = opened.incident_ids[0]
    planner = await gql.login("planner.gamagori")
    listed = (await planner.execute(LISTED, {"active": True}))["data"]["incidents"]
    assert [(i["origin"], i["declared"], i["level"], i["active"]) for i in listed] == [
        ("ALERT", False, 3, True)
    ]
    assert decode_id("Incident", listed[0]["id"]) == incident_id
    assert listed[0]["patientCount"] == opened.matched_patients == 3
    assert listed[0]["reason"].startswith("【警戒レベル3】")

    await import_document(runtime.db, sample("synthetic-cap12-gamagori-update.xml"), OPERATOR)
    grown = len(await patients_inside(runtime, incident_id))
    assert grown == 4  # the update's polygon replaced the alert's

    started = utcnow()
    cancelled = await import_document(
        runtime.db, sample("synthetic-cap12-gamagori-cancel.xml"), OPERATOR, incident_grace=GRACE
    )
    assert cancelled.incident_ids == (incident_id,)
    (incident,) = [i for i in await _incidents(runtime) if i.id == incident_id]
    # Carers report back for the grace period after the cancel, then it ends by itself.
    assert started + GRACE - timedelta(minutes=1) <= incident.ends_at <= utcnow() + GRACE
    assert incident.ended_at is None


async def test_an_untrusted_source_opens_a_pending_incident_that_unlocks_nothing(
    gql: GraphQLClient, runtime: Runtime
) -> None:
    await _end_demo_incident(gql, runtime)
    planner = await gql.login("planner.gamagori")
    names_before = await visible_names(planner)  # those who consented, nobody else
    source, _token = await add_source(runtime.db, "untrusted-feed", trusted=False)
    origin = Origin(trusted=False, source_id=source.id, source_name=source.name)
    result = await import_document(
        runtime.db, sample("synthetic-cap12-gamagori-update.xml"), origin
    )
    (pending_id,) = result.incident_ids
    pending = next(i for i in await _incidents(runtime) if i.id == pending_id)
    assert pending.pending and not pending.declared
    assert await visible_names(planner) == names_before

    nurse = await gql.login("nurse.sato")
    refused = await nurse.execute(CONFIRM, {"id": encode_id("Incident", pending_id)})
    assert error_codes(refused) == ["NOT_FOUND"]
    assert await visible_names(planner) == names_before

    confirmed = await planner.execute(CONFIRM, {"id": encode_id("Incident", pending_id)})
    assert confirmed["data"]["confirmIncident"] == {
        "id": encode_id("Incident", pending_id),
        "pending": False,
        "active": True,
    }
    assert await visible_names(planner) > names_before


async def test_an_untrusted_alert_leaves_an_incident_in_force_alone(runtime: Runtime) -> None:
    (in_force,) = await _incidents(runtime)
    assert in_force.id is not None
    inside = await patients_inside(runtime, in_force.id)
    source, _token = await add_source(runtime.db, "untrusted-feed", trusted=False)
    origin = Origin(trusted=False, source_id=source.id, source_name=source.name)
    result = await import_document(
        runtime.db, sample("synthetic-cap12-gamagori-update.xml"), origin
    )
    assert in_force.id not in result.incident_ids and len(result.incident_ids) == 1
    assert await patients_inside(runtime, in_force.id) == inside
    assert len(await _linked(runtime, in_force.id)) == 1


async def test_test_messages_open_nothing(gql: GraphQLClient, runtime: Runtime) -> None:
    await _end_demo_incident(gql, runtime)
    for name in ("synthetic-cap12-test.xml", "synthetic-cap12-draft.xml"):
        result = await import_document(runtime.db, sample(name), OPERATOR)
        assert result.incident_ids == (), name
    assert [i for i in await _incidents(runtime) if i.ended_at is None] == []


async def test_an_exercise_opens_a_drill_that_real_alerts_never_join(
    gql: GraphQLClient, runtime: Runtime
) -> None:
    (real,) = await _incidents(runtime)
    drill = await import_document(runtime.db, sample("synthetic-cap12-exercise.xml"), OPERATOR)
    assert drill.status == "drill"
    (drill_id,) = drill.incident_ids
    assert drill_id != real.id
    planner = await gql.login("planner.gamagori")
    listed = (await planner.execute(LISTED_DRILL, {"active": True}))["data"]["incidents"]
    by_id = {decode_id("Incident", i["id"]): i for i in listed}
    assert by_id[drill_id]["drill"] is True and by_id[real.id or 0]["drill"] is False
    assert by_id[drill_id]["patientCount"] == drill.matched_patients == 3
    # A real alert joins the real incident, never the drill.
    joined = await import_document(
        runtime.db, sample("synthetic-cap12-gamagori-alert.xml"), OPERATOR
    )
    assert joined.incident_ids == (real.id,)


async def test_a_planner_declares_a_drill(gql: GraphQLClient, runtime: Runtime) -> None:
    planner = await gql.login("planner.gamagori")
    result = await planner.execute(
        DECLARE_DRILL, {"input": incident_input(reason="避難訓練", drill=True, level=4)}
    )
    assert result["data"]["declareIncident"]["drill"] is True
    assert result["data"]["declareIncident"]["level"] == 4


NOTICES = "{ myNotices(first: 50) { edges { node { kind data } } } }"


async def _incident_notices(client: GraphQLClient, incident: str) -> list[str]:
    result = await client.execute(NOTICES)
    assert "errors" not in result, result
    return [
        e["node"]["kind"]
        for e in result["data"]["myNotices"]["edges"]
        if e["node"]["data"].get("incidentId") == incident
    ]


async def test_an_incident_opened_by_an_alert_tells_the_planners_and_the_coordinators(
    gql: GraphQLClient, runtime: Runtime
) -> None:
    await _end_demo_incident(gql, runtime)
    opened = await import_document(
        runtime.db, sample("synthetic-cap12-gamagori-alert.xml"), OPERATOR
    )
    incident = encode_id("Incident", opened.incident_ids[0])
    assert await _incident_notices(await gql.login("planner.gamagori"), incident) == [
        "incident_started"
    ]
    # The coordinators of the people inside hear of it; others do not.
    coordinators = {"cm.tanaka", "cm.watanabe"}
    heard = {
        name
        for name in (*coordinators, "cm.shimizu", "nurse.sato", "planner.nishio")
        if await _incident_notices(await gql.login(name), incident)
    }
    assert heard and heard <= coordinators


async def test_a_pending_incident_asks_the_planners_and_tells_coordinators_once_confirmed(
    gql: GraphQLClient, runtime: Runtime
) -> None:
    await _end_demo_incident(gql, runtime)
    source, _token = await add_source(runtime.db, "untrusted-feed", trusted=False)
    origin = Origin(trusted=False, source_id=source.id, source_name=source.name)
    result = await import_document(runtime.db, sample("synthetic-cap12-gamagori-alert.xml"), origin)
    incident = encode_id("Incident", result.incident_ids[0])
    planner = await gql.login("planner.gamagori")
    assert await _incident_notices(planner, incident) == ["incident_pending"]
    coordinator = await gql.login("cm.tanaka")
    assert await _incident_notices(coordinator, incident) == []
    assert "errors" not in await planner.execute(CONFIRM, {"id": incident})
    assert await _incident_notices(coordinator, incident) == ["incident_started"]


async def test_an_untrusted_cancel_leaves_a_trusted_alert_and_its_incident_alone(
    gql: GraphQLClient, runtime: Runtime
) -> None:
    await _end_demo_incident(gql, runtime)
    opened = await import_document(
        runtime.db, sample("synthetic-cap12-gamagori-alert.xml"), OPERATOR
    )
    (incident_id,) = opened.incident_ids
    updated = await import_document(
        runtime.db, sample("synthetic-cap12-gamagori-update.xml"), OPERATOR
    )
    source, _token = await add_source(runtime.db, "untrusted-feed", trusted=False)
    origin = Origin(trusted=False, source_id=source.id, source_name=source.name)
    cancel = await import_document(
        runtime.db, sample("synthetic-cap12-gamagori-cancel.xml"), origin, incident_grace=GRACE
    )
    assert "trusted source" in cancel.reason and cancel.incident_ids == ()
    async with runtime.db.session() as session:
        alert = await session.get(Alert, updated.alert_id)
        incident = await session.get(Incident, incident_id)
    assert alert is not None and alert.cancelled_by is None and alert.ended_at is None
    assert incident is not None and incident.ends_at > utcnow() + GRACE
