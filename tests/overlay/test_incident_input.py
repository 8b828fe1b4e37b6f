"""`declareIncident` refuses malformed, hostile and oversized input, naming the field, and
stores nothing."""

from __future__ import annotations

import json
from typing import Any

import pytest

from renraku.ids import decode_id
from renraku.overlay.models import Incident
from renraku.runtime import Runtime
from tests.overlay.helpers import (
    DECLARE,
    NISHIO_HOME,
    hours_from_now,
    incident_input,
    incident_rows,
    square,
    square_text,
)
from tests.support.graphql import GraphQLClient, error_codes
from tests.teams.helpers import error, last_audit_id

LAT, LON = NISHIO_HOME


def _ring(points: list[list[float]]) -> str:
    return json.dumps({"type": "Polygon", "coordinates": [points]})


def _too_many_vertices() -> str:
    # Integers keep 100,001 vertices under the request size limit, so the vertex limit answers.
    return '{"type":"Polygon","coordinates":[[' + ",".join(["[137,35]"] * 100_001) + "]]}"


def _swapped() -> str:
    polygon = square(LAT, LON)
    polygon["coordinates"] = [[[y, x] for x, y in ring] for ring in polygon["coordinates"]]
    return json.dumps(polygon)


BAD_AREAS = {
    "not json": "{not json",
    "empty text": "",
    "json but not an object": "[1, 2, 3]",
    "a point": json.dumps({"type": "Point", "coordinates": [LON, LAT]}),
    "no coordinates": json.dumps({"type": "Polygon"}),
    "coordinates of the wrong shape": json.dumps({"type": "Polygon", "coordinates": "x"}),
    "two features": json.dumps(
        {
            "type": "FeatureCollection",
            "features": [
                {"type": "Feature", "geometry": square(LAT, LON)},
                {"type": "Feature", "geometry": square(LAT, LON + 0.01)},
            ],
        }
    ),
    "outside Japan": square_text(48.85, 2.35),
    "lat and lon swapped": _swapped(),
    "in Japan, not touching the municipality": square_text(35.18, 136.90),
    "in the neighbouring municipality only": square_text(34.8260, 137.2530),
    "not a number": _ring(
        [[float("nan"), LAT], [LON, LAT], [LON, LAT + 0.01], [float("nan"), LAT]]
    ),
    "infinite": _ring([[float("inf"), LAT], [LON, LAT], [LON, LAT + 0.01], [float("inf"), LAT]]),
    "too many vertices": _too_many_vertices(),
    "hostile nesting": "[" * 50_000 + "]" * 50_000,
}


@pytest.mark.parametrize("area", BAD_AREAS.values(), ids=BAD_AREAS.keys())
async def test_an_unusable_area_is_refused_naming_it_and_nothing_is_stored(
    gql: GraphQLClient, runtime: Runtime, area: str
) -> None:
    before = await incident_rows(runtime)
    audit_before = await last_audit_id(runtime)
    planner = await gql.login("planner.nishio")
    result = await planner.execute(DECLARE, {"input": incident_input(area=area)})
    assert error(result) == ("BAD_USER_INPUT", "area")
    assert await incident_rows(runtime) == before
    assert await last_audit_id(runtime) == audit_before


BAD_FIELDS = {
    "ends in the past": ({"endsAt": hours_from_now(-1)}, "endsAt"),
    "ends now-ish": ({"endsAt": hours_from_now(-0.001)}, "endsAt"),
    "lasts over 14 days": ({"endsAt": hours_from_now(24 * 14 + 1)}, "endsAt"),
    "end time without a time zone": ({"endsAt": "2031-01-01T00:00:00"}, "endsAt"),
    "empty reason": ({"reason": ""}, "reason"),
    "blank reason": ({"reason": "   \n "}, "reason"),
    "reason too long": ({"reason": "雨" * 401}, "reason"),
    "reason of zero-width spaces": ({"reason": "\u200b" * 5}, "reason"),
    "reason of control and bidi codes only": ({"reason": "\x00\x1b\u202e\u2066"}, "reason"),
}


@pytest.mark.parametrize(("changes", "field"), BAD_FIELDS.values(), ids=BAD_FIELDS.keys())
async def test_a_bad_reason_or_end_time_is_refused_naming_it_and_nothing_is_stored(
    gql: GraphQLClient, runtime: Runtime, changes: dict[str, Any], field: str
) -> None:
    before = await incident_rows(runtime)
    manager = await gql.login("manager.nishio")
    result = await manager.execute(DECLARE, {"input": incident_input(**changes)})
    assert error(result) == ("BAD_USER_INPUT", field)
    assert await incident_rows(runtime) == before


async def test_a_malformed_end_time_or_an_oversized_request_is_refused(
    gql: GraphQLClient, runtime: Runtime
) -> None:
    before = await incident_rows(runtime)
    manager = await gql.login("manager.nishio")
    result = await manager.execute(DECLARE, {"input": incident_input(endsAt="tomorrow")})
    assert error_codes(result) == ["BAD_USER_INPUT"]
    huge = '{"type":"Polygon","coordinates":[[' + ",".join(["[137.05,34.86]"] * 80_000) + "]]}"
    response = await manager.http.post(
        "/graphql",
        json={"query": DECLARE, "variables": {"input": incident_input(area=huge)}},
        headers={"Authorization": f"Bearer {manager.token}"},
    )
    assert response.status_code == 413
    assert await incident_rows(runtime) == before


async def test_a_self_intersecting_area_is_repaired_not_refused(gql: GraphQLClient) -> None:
    bowtie = _ring(
        [[LON - 0.01, LAT - 0.01], [LON + 0.01, LAT + 0.01], [LON + 0.01, LAT - 0.01],
         [LON - 0.01, LAT + 0.01], [LON - 0.01, LAT - 0.01]]
    )  # fmt: skip
    planner = await gql.login("planner.nishio")
    result = await planner.execute(DECLARE, {"input": incident_input(area=bowtie)})
    assert "errors" not in result, result


async def test_a_reason_is_stored_without_bidirectional_or_zero_width_characters(
    gql: GraphQLClient, runtime: Runtime
) -> None:
    manager = await gql.login("manager.nishio")
    written = "\u202e高潮警報\u200b（試験）\r\n潮位 ２ｍ\ufeff"
    result = await manager.execute(DECLARE, {"input": incident_input(reason=written)})
    assert "errors" not in result, result
    declared = result["data"]["declareIncident"]
    assert declared["reason"] == "高潮警報（試験）\n潮位 ２ｍ"
    async with runtime.db.session() as session:
        row = await session.get(Incident, decode_id("Incident", declared["id"]))
    assert row is not None and row.reason == "高潮警報（試験）\n潮位 ２ｍ"
