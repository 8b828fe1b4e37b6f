"""The feed's commit log (renraku.feed.commits at debug level): a line per committing transaction
with its events' ids and when it committed, nothing else, and nothing at all unless asked for."""

from __future__ import annotations

import logging
import time

import pytest

from renraku.feed import events as feed_events
from renraku.ids import encode_id
from renraku.logs import configure_logging
from renraku.runtime import Runtime
from tests.feed.post_support import CREATE
from tests.support.graphql import GraphQLClient
from tests.teams.helpers import patient_pk

BODY = "伊藤さん、夕方に微熱あり。"


async def _post(gql: GraphQLClient, runtime: Runtime, client_id: str) -> None:
    pid = encode_id("Patient", await patient_pk(runtime, "pt-ito-haru"))
    nurse = await gql.login("nurse.sato")
    draft = {"patientId": pid, "clientId": client_id, "category": "OTHER", "body": BODY}
    answer = await nurse.execute(CREATE, {"input": draft})
    assert "errors" not in answer, answer


async def test_a_commit_is_logged_with_its_event_ids_and_time(
    gql: GraphQLClient, runtime: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    before = time.time()
    with caplog.at_level(logging.DEBUG, logger=feed_events.commits_log.name):
        await _post(gql, runtime, "commit-log-1")
    after = time.time()
    async with runtime.db.session() as session:
        newest = await feed_events.latest_id(session)
    lines = [r for r in caplog.records if r.name == feed_events.commits_log.name]
    assert len(lines) == 1
    line = lines[0].__dict__
    assert line["first"] == line["last"] == newest
    assert before < line["committed_at"] < after
    assert BODY not in str(line) and "伊藤" not in caplog.text


async def test_nothing_is_logged_at_the_default_level(
    gql: GraphQLClient, runtime: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO):
        await _post(gql, runtime, "commit-log-2")
    assert not [r for r in caplog.records if r.name == feed_events.commits_log.name]


def test_debug_loggers_are_named_in_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    root = logging.getLogger()
    commits = logging.getLogger("renraku.feed.commits")
    other = logging.getLogger("renraku.request")
    saved = root.handlers[:], root.level, commits.level
    monkeypatch.setenv("RENRAKU_DEBUG_LOGGERS", " renraku.feed.commits , ")
    try:
        configure_logging()
        assert commits.isEnabledFor(logging.DEBUG)
        assert not other.isEnabledFor(logging.DEBUG)
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
        commits.setLevel(saved[2])
