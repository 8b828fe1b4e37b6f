"""The live feed's compiled selections give graphql-core's payloads, byte for byte, for events of
every kind; other selections are left to graphql-core."""

from __future__ import annotations

import json
from collections.abc import Awaitable
from typing import Any

import pytest
from graphql import parse
from graphql.execution import Executor, execute_subscription_event
from sqlmodel import col, select

from renraku.access.actor import Actor
from renraku.access.notebook import Scope
from renraku.access.scopes import roles_by_patient
from renraku.accounts.models import User
from renraku.context import Context
from renraku.feed.events_graphql import FeedEvent as FeedEventObject
from renraku.feed.events_graphql import decode_event_cursor, event_cursor
from renraku.feed.models import FeedEvent
from renraku.feed.receipts import unread_by_key
from renraku.kinds import UserKind
from renraku.loaders import Loaders
from renraku.paging import encode_cursor
from renraku.realtime import batch, execution
from renraku.realtime.compiled import compile_selection, payload_json
from renraku.runtime import Runtime
from renraku.schema import build_schema
from renraku.teams.service import live_patients
from tests.support.graphql import GraphQLClient
from tests.teams.helpers import patient_id

PLAIN = {
    "the phone's": """subscription($p: ID!, $after: String) {
      patientEvents(patientId: $p, after: $after) {
        cursor kind patientId at post { id body category urgent createdAt author { displayName } }
      } }""",
    "aliases and type names": """subscription($after: String) {
      events: myEvents(after: $after) {
        __typename c: cursor kind subjectUser { username displayName }
        post { __typename id visibleToFamily retractedAt author { username } }
      } }""",
    "a viewer's own fields and a list": """subscription($p: ID!) {
      patientEvents(patientId: $p) {
        cursor post { id patient { displayName myRoles unreadCount urgentUnreadCount } }
      } }""",
}
NOT_PLAIN = {
    "a fragment": "subscription { myEvents { ...e } } fragment e on FeedEvent { cursor }",
    "an inline fragment": "subscription { myEvents { ... on FeedEvent { cursor } } }",
    "a directive": "subscription { myEvents { cursor @include(if: true) } }",
    "a repeated key": "subscription { myEvents { cursor cursor } }",
    "a list": "subscription { myEvents { post { readBy { at } } } }",
}
CREATE = "mutation($i: CreatePostInput!) { createPost(input: $i) { id } }"
EDIT = "mutation($i: EditPostInput!) { editPost(input: $i) { id } }"
RETRACT = 'mutation($p: ID!) { retractPost(postId: $p, reason: "誤記") { id } }'
READ = "mutation($ids: [ID!]!) { markPostsRead(postIds: $ids) }"
ACKNOWLEDGE = "mutation($p: ID!) { acknowledgePost(postId: $p) { id } }"
PATIENT = "pt-ito-haru"


async def _events_of_every_kind(gql: GraphQLClient, runtime: Runtime) -> list[FeedEvent]:
    pid = await patient_id(runtime, PATIENT)
    doctor, nurse = await gql.login("dr.suzuki"), await gql.login("nurse.sato")

    async def run(client: GraphQLClient, query: str, values: dict[str, Any]) -> Any:
        result = await client.execute(query, values)
        assert "errors" not in result, result
        return result["data"]

    def draft(n: int, **more: Any) -> dict[str, Any]:
        return {"patientId": pid, "clientId": f"c-{n}", "body": f"記録 {n}", **more}

    shared = await run(doctor, CREATE, {"i": draft(1, category="MEALS", visibleToFamily=True)})
    order = await run(doctor, CREATE, {"i": draft(2, category="INSTRUCTION", urgent=True)})
    shared_id, order_id = shared["createPost"]["id"], order["createPost"]["id"]
    await run(doctor, EDIT, {"i": {"postId": shared_id, "body": "全量摂取。"}})
    await run(nurse, READ, {"ids": [shared_id, order_id]})
    await run(nurse, ACKNOWLEDGE, {"p": order_id})
    await run(doctor, RETRACT, {"p": shared_id})
    async with runtime.db.session() as session:
        events = list((await session.exec(select(FeedEvent).order_by(col(FeedEvent.id)))).all())
    assert {e.kind for e in events} >= {
        "feed.post_created",
        "feed.post_edited",
        "feed.post_read",
        "feed.post_acknowledged",
        "feed.post_retracted",
    }
    return events


async def _context(runtime: Runtime, events: list[FeedEvent], *, primed: bool) -> Context:
    async with runtime.db.session() as session:
        user = (await session.exec(select(User).where(col(User.username) == "dr.suzuki"))).one()
        posts, users = await batch.rows_named(session, events)
        patients = sorted({e.patient_id for e in events})
        roles = await roles_by_patient(session, patients)
        rows = await live_patients(session, patients)
        assert user.id is not None
        counts = await unread_by_key(session, [(user.id, p, Scope.ALL) for p in patients])
    actor = Actor(
        user_id=user.id,
        username=user.username,
        kind=UserKind(user.kind),
        profession=user.profession,
        municipality_code=user.municipality_code,
    )
    context = Context(
        runtime=runtime,
        request=None,  # type: ignore[arg-type]  # the resolvers compared never read it
        response=None,
        actor=actor,
        client_address="127.0.0.1",
    )
    loaders = Loaders(runtime.db)
    if primed:
        # As the hub primes a batch's: rows, the viewer's roles and unread counts.
        loaders.posts.prime_many(posts)
        loaders.users.prime_many(users)
        loaders.patients.prime_many(rows)
        for pid in patients:
            context.gate.prime(pid, roles[pid].get(user.id, frozenset()))
            loaders.unread.prime((user.id, pid, Scope.ALL), counts[(user.id, pid, Scope.ALL)])
    context.use_loaders(loaders)
    return context


def _executor(document: str, context: Context, pid: str) -> Executor[Any]:
    built = Executor.build(
        build_schema()._schema,
        parse(document),
        context_value=context,
        raw_variable_values={"p": pid, "after": None},
    )
    assert isinstance(built, Executor), built
    return built


@pytest.mark.parametrize("selection", list(PLAIN))
async def test_compiled_payloads_are_graphql_cores(
    gql: GraphQLClient, runtime: Runtime, selection: str
) -> None:
    events = await _events_of_every_kind(gql, runtime)
    context = await _context(runtime, events, primed=True)
    executor = _executor(PLAIN[selection], context, await patient_id(runtime, PATIENT))
    compiled = compile_selection(executor)
    assert compiled is not None
    for event in events:
        fast = compiled.payload(FeedEventObject(row=event))
        result = execute_subscription_event(
            executor.build_per_event_executor(FeedEventObject(row=event))
        )
        assert not isinstance(result, Awaitable)
        assert fast == execution.payload(result), event.kind


@pytest.mark.parametrize("selection", list(NOT_PLAIN))
async def test_other_selections_are_left_to_graphql_core(runtime: Runtime, selection: str) -> None:
    context = await _context(runtime, [], primed=True)
    executor = _executor(NOT_PLAIN[selection], context, "UGF0aWVudDox")
    assert compile_selection(executor) is None


async def test_an_event_whose_rows_are_not_read_yet_goes_to_graphql_core(
    gql: GraphQLClient, runtime: Runtime
) -> None:
    events = await _events_of_every_kind(gql, runtime)
    context = await _context(runtime, events, primed=False)
    executor = _executor(PLAIN["the phone's"], context, await patient_id(runtime, PATIENT))
    compiled = compile_selection(executor)
    assert compiled is not None
    created = next(e for e in events if e.kind == "feed.post_created")
    # The post would have to be loaded (awaited): that is graphql-core's to do.
    assert compiled.payload(FeedEventObject(row=created)) is None


@pytest.mark.parametrize("event_id", [0, 1, 9, 10, 99, 12_345, 2**31 - 1, 2**40])
def test_event_cursors_are_the_paging_cursors_of_their_id(event_id: int) -> None:
    # events_graphql spells encode_cursor([id]) out for speed: the same string, decoded alike.
    cursor = event_cursor(event_id)
    assert cursor == encode_cursor([event_id])
    assert decode_event_cursor(cursor) == event_id


def test_payloads_are_serialised_as_json_dumps_would() -> None:
    body = {"data": {"e": {"body": '食事 "全量"\n\u2028', "n": 1.5, "ok": True, "none": None}}}
    expected = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
    assert payload_json(body) == expected
