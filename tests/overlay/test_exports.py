"""`GET /incidents/{id}/priority.csv|.geojson`: the priority list as a file for its planners
only, minimum necessary, audited, and safe to open in a spreadsheet."""

from __future__ import annotations

import csv
import io
import json

import httpx
import pytest
from sqlmodel import col, update

from renraku.runtime import Runtime
from renraku.teams.models import Patient
from tests.audit.support import last_id, patient_pk, pk_of, records_after
from tests.overlay.helpers import END, demo_incident_id
from tests.support.graphql import GraphQLClient

HEADER = [
    "tier",
    "score",
    "name",
    "kana",
    "address",
    "phone",
    "latitude",
    "longitude",
    "district",
    "reasons",
    "safety",
]
LIST = """
query($id: ID!) { priorityList(incidentId: $id, first: 100) { edges { node { patient { id } } } } }
"""


async def _get(http: httpx.AsyncClient, path: str, token: str | None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return await http.get(path, headers=headers)


async def test_the_planner_downloads_the_ranked_list_as_csv_and_it_is_audited(
    http: httpx.AsyncClient, gql: GraphQLClient, runtime: Runtime
) -> None:
    planner = await gql.login("planner.gamagori")
    incident = await demo_incident_id(runtime)
    ranked = (await planner.execute(LIST, {"id": incident}))["data"]["priorityList"]["edges"]
    before = await last_id(runtime)
    response = await _get(http, f"/incidents/{incident}/priority.csv", planner.token)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    assert response.headers["cache-control"] == "no-store"
    assert response.content.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert rows[0] == HEADER
    assert len(rows) - 1 == len(ranked)
    assert [r[0] for r in rows[1:]] == sorted(
        (r[0] for r in rows[1:]), key=["P1", "P2", "P3", "resolved"].index
    )
    assert all(r[5] for r in rows[1:])  # the planner may read contacts
    (record,) = await records_after(runtime, before, username="planner.gamagori")
    assert set(record.object_ids) == {pk_of(e["node"]["patient"]["id"]) for e in ranked}
    assert record.detail["operation"] == "incident.priority.csv"


async def test_geojson_holds_one_point_per_person_in_rank_order(
    http: httpx.AsyncClient, gql: GraphQLClient, runtime: Runtime
) -> None:
    planner = await gql.login("planner.gamagori")
    incident = await demo_incident_id(runtime)
    response = await _get(http, f"/incidents/{incident}/priority.geojson", planner.token)
    assert response.status_code == 200
    collection = json.loads(response.content)
    features = collection["features"]
    assert collection["type"] == "FeatureCollection" and len(features) == 5
    assert [f["properties"]["rank"] for f in features] == [1, 2, 3, 4, 5]
    assert all(f["geometry"]["type"] == "Point" for f in features)


async def test_a_cell_that_a_spreadsheet_would_run_is_written_as_text(
    http: httpx.AsyncClient, gql: GraphQLClient, runtime: Runtime
) -> None:
    hostile = '=HYPERLINK("http://example.invalid","x")'
    async with runtime.db.transaction() as session:
        await session.exec(
            update(Patient)
            .where(col(Patient.id) == await patient_pk(runtime, "pt-ito-haru"))
            .values(address=hostile)
        )
    planner = await gql.login("planner.gamagori")
    incident = await demo_incident_id(runtime)
    response = await _get(http, f"/incidents/{incident}/priority.csv", planner.token)
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert "'" + hostile in [r[4] for r in rows]
    assert hostile not in [r[4] for r in rows]


@pytest.mark.parametrize(
    ("username", "status"),
    [
        (None, 401),
        ("manager.gamagori", 403),
        ("nurse.sato", 404),
        ("planner.nishio", 404),
        ("operator", 404),
    ],
)
async def test_nobody_else_gets_the_file(
    http: httpx.AsyncClient,
    gql: GraphQLClient,
    runtime: Runtime,
    username: str | None,
    status: int,
) -> None:
    token = (await gql.login(username)).token if username else None
    incident = await demo_incident_id(runtime)
    for kind in ("csv", "geojson"):
        response = await _get(http, f"/incidents/{incident}/priority.{kind}", token)
        assert response.status_code == status
        assert "伊藤" not in response.text


async def test_a_bad_kind_or_id_or_an_ended_incident_gives_no_file(
    http: httpx.AsyncClient, gql: GraphQLClient, runtime: Runtime
) -> None:
    planner = await gql.login("planner.gamagori")
    incident = await demo_incident_id(runtime)
    for path in (
        f"/incidents/{incident}/priority.xml",
        "/incidents/not-an-id/priority.csv",
        f"/incidents/{'x' * 3000}/priority.csv",
    ):
        assert (await _get(http, path, planner.token)).status_code == 404, path
    assert "errors" not in await planner.execute(END, {"id": incident})
    ended = await _get(http, f"/incidents/{incident}/priority.csv", planner.token)
    assert ended.status_code == 403
