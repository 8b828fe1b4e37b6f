"""`incidentUpdates`: a planner's board hears a nurse's status at once, over the real WebSocket,
and nobody else may listen; the watch ends with the incident."""

from __future__ import annotations

from starlette.applications import Starlette

from renraku.alerts.imports import Origin, import_document
from renraku.ids import decode_id, encode_id
from renraku.runtime import Runtime
from tests.alerts.helpers import sample
from tests.audit.support import patient_gid
from tests.overlay.helpers import END, demo_incident_id
from tests.support.graphql import GraphQLClient
from tests.support.graphql_ws import Socket, error_codes, open_socket
from tests.support.live import serving

UPDATES = """
subscription($id: ID!) { incidentUpdates(incidentId: $id) { incidentId kind patientId at } }
"""
SET = """
mutation($input: SetSafetyStatusInput!) { setSafetyStatus(input: $input) { status } }
"""


async def _listening(ws: Socket) -> None:
    """The server answers a ping only after the subscription before it was decided."""
    await ws.send({"type": "ping"})
    assert (await ws.receive())["type"] == "pong"


async def test_the_planner_hears_a_status_set_from_a_phone_and_the_end(
    app: Starlette, gql: GraphQLClient, runtime: Runtime
) -> None:
    incident = await demo_incident_id(runtime)
    ito = await patient_gid(runtime, "pt-ito-haru")
    planner, nurse = [await gql.login(u) for u in ("planner.gamagori", "nurse.sato")]
    async with serving(app) as url, open_socket(url, token=planner.token) as ws:
        await ws.subscribe("board", UPDATES, {"id": incident})
        await _listening(ws)
        variables = {"input": {"incidentId": incident, "patientId": ito, "status": "SAFE"}}
        assert "errors" not in await nurse.execute(SET, variables)
        message = await ws.receive("board")
        assert message["type"] == "next", message
        body = message["payload"]["data"]["incidentUpdates"]
        assert (body["incidentId"], body["kind"], body["patientId"]) == (incident, "SAFETY", ito)

        assert "errors" not in await planner.execute(END, {"id": incident})
        ended = await ws.receive("board")
        assert ended["payload"]["data"]["incidentUpdates"]["kind"] == "ENDED"
        assert (await ws.receive("board"))["type"] == "complete"


async def test_nobody_else_may_listen(app: Starlette, gql: GraphQLClient, runtime: Runtime) -> None:
    incident = await demo_incident_id(runtime)
    cases = [
        ("nurse.sato", incident, "NOT_FOUND"),
        ("planner.nishio", incident, "NOT_FOUND"),
        ("manager.gamagori", incident, "FORBIDDEN"),
        ("planner.gamagori", encode_id("Incident", 999_999), "NOT_FOUND"),
        ("planner.gamagori", "not-an-id", "NOT_FOUND"),
    ]
    async with serving(app) as url:
        for username, incident_id, code in cases:
            client = await gql.login(username)
            async with open_socket(url, token=client.token) as ws:
                await ws.subscribe("s", UPDATES, {"id": incident_id})
                refused = await ws.receive("s")
                assert refused["type"] == "error", (username, refused)
                assert error_codes(refused["payload"]) == [code], username


async def test_an_ended_incident_cannot_be_watched(
    app: Starlette, gql: GraphQLClient, runtime: Runtime
) -> None:
    incident = await demo_incident_id(runtime)
    planner = await gql.login("planner.gamagori")
    assert "errors" not in await planner.execute(END, {"id": incident})
    async with serving(app) as url, open_socket(url, token=planner.token) as ws:
        await ws.subscribe("s", UPDATES, {"id": incident})
        refused = await ws.receive("s")
        assert refused["type"] == "error" and error_codes(refused["payload"]) == ["FORBIDDEN"]


async def test_an_alert_that_grows_the_incident_is_heard(
    app: Starlette, gql: GraphQLClient, runtime: Runtime
) -> None:
    incident = await demo_incident_id(runtime)
    planner = await gql.login("planner.gamagori")
    async with serving(app) as url, open_socket(url, token=planner.token) as ws:
        await ws.subscribe("board", UPDATES, {"id": incident})
        await _listening(ws)
        result = await import_document(
            runtime.db,
            sample("synthetic-cap12-gamagori-update.xml"),
            Origin(trusted=True),
            broker=runtime.broker,
        )
        assert result.incident_ids == (decode_id("Incident", incident),)
        message = await ws.receive("board")
        assert message["payload"]["data"]["incidentUpdates"]["kind"] == "LIST"
