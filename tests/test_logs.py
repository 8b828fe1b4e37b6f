"""Logs are JSON and carry no patient data, tokens or exception text."""

from __future__ import annotations

import json
import logging
import sys

import pytest
import strawberry

from renraku.errors import Forbidden
from renraku.graphql_errors import ErrorCodes
from renraku.logs import JsonFormatter
from renraku.schema import RenrakuSchema
from tests.support.databases import one_database
from tests.support.graphql import GraphQLClient


def test_exception_text_stays_out_of_log_lines() -> None:
    try:
        raise ValueError("伊藤 ハル lives at 西浦町12番地3")
    except ValueError:
        record = logging.getLogger("t").makeRecord(
            "t", logging.ERROR, __file__, 1, "failed", (), exc_info=sys.exc_info()
        )
    line = JsonFormatter().format(record)
    entry = json.loads(line)
    assert entry["exception"] == "ValueError"
    assert "伊藤" not in line and "西浦" not in line


@one_database
async def test_request_log_has_path_without_query_string(
    gql: GraphQLClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="renraku.request"):
        await gql.http.get("/healthz?token=secret-value")
    records = [r for r in caplog.records if r.name == "renraku.request"]
    assert records and records[-1].__dict__["path"] == "/healthz"
    ours = [r for r in caplog.records if r.name.startswith("renraku")]
    assert all("secret-value" not in str(r.__dict__) for r in ours)


@strawberry.type
class _Broken:
    @strawberry.field
    def leak(self) -> str:
        raise ValueError("伊藤 ハル")

    @strawberry.field
    def refused(self) -> str:
        raise Forbidden


async def test_unexpected_errors_are_masked_and_ours_keep_their_code(
    caplog: pytest.LogCaptureFixture,
) -> None:
    schema = RenrakuSchema(query=_Broken, extensions=[ErrorCodes])
    with caplog.at_level(logging.DEBUG):
        leak = await schema.execute("{ leak }")
    assert leak.errors is not None
    assert leak.errors[0].message == "Unexpected error."
    assert leak.errors[0].extensions == {"code": "INTERNAL"}
    assert "伊藤" not in caplog.text
    refused = await schema.execute("{ refused }")
    assert refused.errors is not None and refused.errors[0].extensions == {"code": "FORBIDDEN"}
    syntax = await schema.execute("{ leak ")
    assert syntax.errors is not None and syntax.errors[0].extensions == {"code": "BAD_USER_INPUT"}
