"""The live feed's fan-out, in-process: one execution per selection and scope, family scope,
replay then live with no gap or duplicate, audit records for deliveries, refusals."""

from __future__ import annotations

from typing import Any

import pytest
from sqlmodel import col, select
from starlette.applications import Starlette

from renraku.audit.models import AuditRecord
from renraku.feed.events import latest_id
from renraku.feed.events_graphql import event_cursor
from renraku.feed.models import FeedEvent
from renraku.realtime import execution, plans
from renraku.runtime import Runtime
from tests.support.graphql import GraphQLClient
from tests.support.live import (
    live_subscriptions,
    nothing_more,
    receive,
    registered,
    serving,
    subscribe,
    subscriber,
    until_subscriptions,
)
from tests.teams.helpers import patient_id

EVENTS = """
subscription($p: ID!, $after: String) {
  patientEvents(patientId: $p, after: $after) { cursor kind post { id body visibleToFamily } }
}
"""
OTHER_SELECTION = """
subscription($p: ID!) { patientEvents(patientId: $p) { cursor kind post { id urgent } } }
"""
OTHER_REPLAYED = """
subscription($p: ID!, $after: String) {
  patientEvents(patientId: $p, after: $after) { cursor kind post { id urgent } }
}
"""
MINE = "subscription($after: String) { myEvents(after: $after) { cursor kind patientId } }"
CREATE = "mutation($i: CreatePostInput!) { createPost(input: $i) { id } }"
PATIENT = "pt-ito-haru"  # team: dr.suzuki, nurse.sato, cm.tanaka, pharm.kato, ...; family.ito


async def post(
    client: GraphQLClient, pid: str, n: int, *, family: bool = False, tag: str = "p"
) -> str:
    result = await client.execute(
        CREATE,
        {
            "i": {
                "patientId": pid,
                "clientId": f"{tag}-{n}",
                "category": "OTHER",
                "body": f"note {n}",
                "visibleToFamily": family,
            }
        },
    )
    assert "errors" not in result, result
    post_id: str = result["data"]["createPost"]["id"]
    return post_id


async def tokens(gql: GraphQLClient, *usernames: str) -> list[str]:
    return [str((await gql.login(u)).token) for u in usernames]


@pytest.fixture
def executions(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, int]]:
    """(audience: selection key and roles, event id) of every execution of a subscription
    document, in order."""
    seen: list[tuple[Any, int]] = []
    real = execution.Plan.run

    async def counted(self: Any, event: Any) -> str:
        seen.append((self.key, event.id))
        return await real(self, event)

    monkeypatch.setattr(execution.Plan, "run", counted)
    return seen


async def test_one_execution_per_audience(
    gql: GraphQLClient, runtime: Runtime, app: Starlette, executions: list[tuple[Any, int]]
) -> None:
    pid = await patient_id(runtime, PATIENT)
    doctor = await gql.login("dr.suzuki")
    nurse, cm, pharm, family, doctor2 = await tokens(
        gql, "nurse.sato", "cm.tanaka", "pharm.kato", "family.ito", "dr.suzuki"
    )
    async with (
        serving(app) as url,
        subscriber(url, nurse) as a,
        subscriber(url, cm) as b,
        subscriber(url, pharm) as c,
        subscriber(url, family) as f,
        subscriber(url, doctor2) as d,
    ):
        async with registered(5):  # subscriptions registered before the post
            for ws in (a, b, c, f):
                await subscribe(ws, "s", EVENTS, {"p": pid})
            await subscribe(d, "other", OTHER_SELECTION, {"p": pid})
        await post(doctor, pid, 1, family=True)
        frames = [await receive(ws) for ws in (a, b, c, f, d)]
    bodies = [f["payload"]["data"]["patientEvents"] for f in frames]
    assert [b["kind"] for b in bodies] == ["POST_CREATED"] * 5
    assert bodies[0] == bodies[1] == bodies[2] == bodies[3]
    # No rule of the selection tells the coordinator from the members: one execution for the
    # three; the family member reads the notebook otherwise, an audience of her own; the other
    # selection is a third.
    assert len(executions) == 3
    assert len({key for (key, _), _ in executions}) == 2
    assert sorted("family" in roles for (_, roles), _ in executions) == [False, False, True]


# myRoles is decided from the viewer's roles themselves; readBy asks the policy a question
# (post.receipts) that coordinators and members answer alike.
TOLD_APART = """
subscription($p: ID!) {
  patientEvents(patientId: $p) { kind post { id readBy { user { username } } patient { myRoles } } }
}
"""
ALIKE = """
subscription($p: ID!) { patientEvents(patientId: $p) { kind post { id readBy { at } } } }
"""


async def test_viewers_share_an_execution_only_when_the_selection_cannot_tell_them_apart(
    gql: GraphQLClient, runtime: Runtime, app: Starlette, executions: list[tuple[Any, int]]
) -> None:
    pid = await patient_id(runtime, PATIENT)
    doctor = await gql.login("dr.suzuki")
    nurse, cm, pharm = await tokens(gql, "nurse.sato", "cm.tanaka", "pharm.kato")
    async with (
        serving(app) as url,
        subscriber(url, nurse) as a,
        subscriber(url, cm) as b,
        subscriber(url, pharm) as c,
    ):
        async with registered(6):
            for ws in (a, b, c):
                await subscribe(ws, "apart", TOLD_APART, {"p": pid})
                await subscribe(ws, "alike", ALIKE, {"p": pid})
        await post(doctor, pid, 1)
        frames = {
            (name, frame["id"]): frame["payload"]["data"]["patientEvents"]
            for name, ws in (("nurse", a), ("cm", b), ("pharm", c))
            for frame in [await receive(ws), await receive(ws)]
        }
    roles = {
        name: frames[(name, "apart")]["post"]["patient"]["myRoles"]
        for name in ("nurse", "cm", "pharm")
    }
    assert roles == {"nurse": ["member"], "cm": ["coordinator"], "pharm": ["member"]}
    assert frames[("nurse", "alike")] == frames[("cm", "alike")] == frames[("pharm", "alike")]
    by_selection: dict[str, list[frozenset[str]]] = {}
    for (key, held), _ in executions:
        by_selection.setdefault("apart" if "myRoles" in key else "alike", []).append(held)
    # The members share one execution, the coordinator has her own; the other selection one.
    assert sorted(sorted(h) for h in by_selection["apart"]) == [["coordinator"], ["member"]]
    assert len(by_selection["alike"]) == 1


async def test_an_audience_plan_is_kept_across_batches_and_outlives_its_first_subscriber(
    gql: GraphQLClient, runtime: Runtime, app: Starlette, monkeypatch: pytest.MonkeyPatch
) -> None:
    built: list[Any] = []
    real = plans.Selections.plan

    def counted(self: Any, sub: Any, held: Any, *args: Any) -> Any:
        built.append((sub.actor.user_id, held))
        return real(self, sub, held, *args)

    monkeypatch.setattr(plans.Selections, "plan", counted)
    pid = await patient_id(runtime, PATIENT)
    doctor = await gql.login("dr.suzuki")
    nurse, pharm = await tokens(gql, "nurse.sato", "pharm.kato")
    async with serving(app) as url, subscriber(url, pharm) as b:
        start = live_subscriptions()
        async with subscriber(url, nurse) as a:
            async with registered(1):
                await subscribe(a, "s", EVENTS, {"p": pid})
            async with registered(1):
                await subscribe(b, "s", EVENTS, {"p": pid})
            first = await post(doctor, pid, 1)
            assert (await receive(a))["payload"]["data"]["patientEvents"]["post"]["id"] == first
            assert (await receive(b))["payload"]["data"]["patientEvents"]["post"]["id"] == first
        await until_subscriptions(start + 1)  # the first subscriber's socket is gone
        second = await post(doctor, pid, 2, family=True)
        event = (await receive(b))["payload"]["data"]["patientEvents"]
    assert event["post"] == {"id": second, "body": "note 2", "visibleToFamily": True}
    # One plan for the members' audience, built for the batch of the first post and run again
    # for the second on that batch's rows.
    assert [sorted(held) for _, held in built] == [["member"]]


async def test_family_hears_only_of_family_posts(
    gql: GraphQLClient, runtime: Runtime, app: Starlette
) -> None:
    pid = await patient_id(runtime, PATIENT)
    doctor = await gql.login("dr.suzuki")
    [family] = await tokens(gql, "family.ito")
    async with serving(app) as url, subscriber(url, family) as ws:
        async with registered(1):
            await subscribe(ws, "s", EVENTS, {"p": pid})
        await post(doctor, pid, 1, family=False)
        shared = await post(doctor, pid, 2, family=True)
        frame = await receive(ws)
        assert frame["payload"]["data"]["patientEvents"]["post"]["id"] == shared
        assert await nothing_more(ws)


HIDE = "mutation($i: EditPostInput!) { editPost(input: $i) { id } }"
PROFESSIONALS_ONLY = "処方変更の詳細は専門職のみ"


async def test_family_are_told_when_a_post_stops_being_shared_and_never_see_it_again(
    gql: GraphQLClient, runtime: Runtime, app: Starlette
) -> None:
    pid = await patient_id(runtime, PATIENT)
    doctor = await gql.login("dr.suzuki")
    family, nurse = await tokens(gql, "family.ito", "nurse.sato")
    async with runtime.db.session() as session:
        start = await latest_id(session)
    async with serving(app) as url, subscriber(url, family) as kin, subscriber(url, nurse) as pro:
        async with registered(2):
            for ws in (kin, pro):
                await subscribe(ws, "s", EVENTS, {"p": pid})
        shared = await post(doctor, pid, 1, family=True)
        assert (await receive(kin))["payload"]["data"]["patientEvents"]["post"]["id"] == shared
        await receive(pro)
        hidden = await doctor.execute(
            HIDE, {"i": {"postId": shared, "body": PROFESSIONALS_ONLY, "visibleToFamily": False}}
        )
        assert "errors" not in hidden, hidden
        told = (await receive(kin))["payload"]["data"]["patientEvents"]
        assert (told["kind"], told["post"]) == ("POST_EDITED", None)
        edited = (await receive(pro))["payload"]["data"]["patientEvents"]
        assert edited["post"]["body"] == PROFESSIONALS_ONLY
        # A family device back from offline replays both events: the post is gone from both.
        async with subscriber(url, family) as back:
            await subscribe(back, "s", EVENTS, {"p": pid, "after": event_cursor(start)})
            replayed = [await receive(back) for _ in range(2)]
            assert await nothing_more(back)
    kinds = [f["payload"]["data"]["patientEvents"]["kind"] for f in replayed]
    assert kinds == ["POST_CREATED", "POST_EDITED"]
    assert [f["payload"]["data"]["patientEvents"]["post"] for f in replayed] == [None, None]
    assert PROFESSIONALS_ONLY not in str(replayed) + str(told)


async def test_replay_then_live_in_order_without_gap_or_duplicate(
    gql: GraphQLClient, runtime: Runtime, app: Starlette
) -> None:
    pid = await patient_id(runtime, PATIENT)
    doctor = await gql.login("dr.suzuki")
    [nurse] = await tokens(gql, "nurse.sato")
    before = [await post(doctor, pid, n) for n in range(12)]
    async with runtime.db.session() as session:
        events = (await session.exec(select(FeedEvent).order_by(col(FeedEvent.id)))).all()
    after = events[-10].id  # the last 9 posts are missed
    assert after is not None
    async with serving(app) as url, subscriber(url, nurse) as ws:
        await subscribe(ws, "s", EVENTS, {"p": pid, "after": event_cursor(after)})
        # Posts keep coming while the replay runs.
        during = [await post(doctor, pid, n) for n in range(12, 20)]
        got = [await receive(ws) for _ in range(9 + 8)]
        assert await nothing_more(ws)
    ids = [f["payload"]["data"]["patientEvents"]["post"]["id"] for f in got]
    assert ids == before[-9:] + during


async def test_a_replay_sends_what_live_subscribers_were_sent_without_executing_again(
    gql: GraphQLClient, runtime: Runtime, app: Starlette, executions: list[tuple[Any, int]]
) -> None:
    pid = await patient_id(runtime, PATIENT)
    doctor = await gql.login("dr.suzuki")
    # Two members of the team: one audience.
    nurse, cm = await tokens(gql, "nurse.sato", "pharm.kato")
    async with runtime.db.session() as session:
        start = await latest_id(session)
    async with serving(app) as url, subscriber(url, nurse) as live:
        async with registered(1):
            await subscribe(live, "s", EVENTS, {"p": pid})
        for n in range(3):
            await post(doctor, pid, n)
        heard = [await receive(live) for _ in range(3)]
        assert len(executions) == 3
        # The pharmacist was away: the same selection, replayed from before the posts.
        async with subscriber(url, cm) as back:
            await subscribe(back, "s", EVENTS, {"p": pid, "after": event_cursor(start)})
            replayed = [await receive(back) for _ in range(3)]
            assert await nothing_more(back)
        assert replayed == heard
        assert len(executions) == 3
        # Another selection was not listening then: its replay executes the document.
        async with subscriber(url, cm) as other:
            await subscribe(other, "o", OTHER_REPLAYED, {"p": pid, "after": event_cursor(start)})
            fresh = [await receive(other) for _ in range(3)]
        assert [f["payload"]["data"]["patientEvents"]["cursor"] for f in fresh] == [
            f["payload"]["data"]["patientEvents"]["cursor"] for f in heard
        ]
        assert len(executions) == 6


async def test_deliveries_are_audited_per_replay_batch(
    gql: GraphQLClient, runtime: Runtime, app: Starlette
) -> None:
    pid = await patient_id(runtime, PATIENT)
    doctor = await gql.login("dr.suzuki")
    [nurse] = await tokens(gql, "nurse.sato")
    async with runtime.db.session() as session:
        start = await latest_id(session)
    for n in range(3):
        await post(doctor, pid, n)
    async with serving(app) as url, subscriber(url, nurse) as ws:
        await subscribe(ws, "s", EVENTS, {"p": pid, "after": event_cursor(start)})
        for _ in range(3):
            await receive(ws)
    await runtime.read_auditor.close()
    async with runtime.db.session() as session:
        records = (
            await session.exec(select(AuditRecord).where(col(AuditRecord.reason) == "subscription"))
        ).all()
    assert [(r.detail["delivery"], r.detail["events"]) for r in records] == [("replay", 3)]


@pytest.mark.parametrize(
    ("username", "code"),
    [
        ("manager.gamagori", "FORBIDDEN"),
        ("planner.gamagori", "FORBIDDEN"),
        ("nurse.kimura", "NOT_FOUND"),
    ],
)
async def test_who_may_not_read_the_notebook_cannot_subscribe(
    gql: GraphQLClient, runtime: Runtime, app: Starlette, username: str, code: str
) -> None:
    pid = await patient_id(runtime, PATIENT)
    [token] = await tokens(gql, username)
    async with serving(app) as url, subscriber(url, token) as ws:
        await subscribe(ws, "s", EVENTS, {"p": pid})
        frame = await receive(ws)
    assert frame["type"] == "error"
    assert [e["extensions"]["code"] for e in frame["payload"]] == [code]
