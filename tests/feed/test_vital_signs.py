"""vitalSigns is the one source of the ranges a form checks as the user types: every value it
calls accepted is stored, every value past it is refused, and a value outside its usual range is
flagged, exactly as createPost decides."""

from __future__ import annotations

from typing import Any

from renraku.runtime import Runtime
from tests.feed.post_support import CREATE, Clients, clients, patient_gid
from tests.support.databases import one_database
from tests.support.graphql import GraphQLClient, error_codes

__all__ = ["clients"]

SIGNS = "{ vitalSigns { name unit min max whole usualLow usualHigh } }"
# Blood pressure comes in pairs, diastolic below systolic: the other half of each pair.
PARTNER = {"systolic": ("diastolic", 20), "diastolic": ("systolic", 300)}


def _post(patient: str, n: int, name: str, value: float) -> dict[str, Any]:
    vitals: dict[str, float] = {name: value}
    if name in PARTNER:
        other, other_value = PARTNER[name]
        vitals[other] = other_value
    return {
        "patientId": patient,
        "clientId": f"vital-sign-{n}",
        "category": "VITALS",
        "body": "",
        "vitals": vitals,
    }


@one_database  # the ranges are the server's, whatever stores the posts
async def test_the_ranges_given_are_the_ranges_enforced(
    clients: Clients, runtime: Runtime, gql: GraphQLClient
) -> None:
    assert error_codes(await gql.execute(SIGNS)) == ["UNAUTHENTICATED"]
    nurse = await clients("nurse.sato")
    signs = (await nurse.execute(SIGNS))["data"]["vitalSigns"]
    assert {s["name"] for s in signs} >= {"temperature", "systolic", "spo2", "bloodGlucose"}
    ito = await patient_gid(runtime, "pt-ito-haru")
    n = 0
    for sign in signs:
        name, step = sign["name"], 1 if sign["whole"] else 0.1
        for value, accepted in [
            (sign["min"], True),
            (sign["max"], True),
            (sign["min"] - step, False),
            (sign["max"] + step, False),
        ]:
            n += 1
            result = await nurse.execute(CREATE, {"input": _post(ito, n, name, value)})
            if accepted:
                assert "errors" not in result, (name, value, result)
            else:
                assert error_codes(result) == ["BAD_USER_INPUT"], (name, value, result)
                assert result["errors"][0]["extensions"]["field"] == f"vitals.{name}"
        if sign["usualLow"] is None:
            continue
        # Just past the usual range, on whichever side has room before the accepted range ends.
        above = sign["usualHigh"] + step
        past_usual = above if above <= sign["max"] else sign["usualLow"] - step
        for value, flagged in [(sign["usualLow"], False), (past_usual, True)]:
            n += 1
            result = await nurse.execute(
                "mutation($input: CreatePostInput!) { createPost(input: $input) "
                "{ vitals { flagged } } }",
                {"input": _post(ito, n, name, value)},
            )
            assert "errors" not in result, (name, value, result)
            assert (name in result["data"]["createPost"]["vitals"]["flagged"]) is flagged, name
