"""What one viewer was sent never reaches another: the concrete cases behind
test_viewer_equivalence.py, on the demo world (pt-ito-haru: cm.tanaka coordinates, nurse.sato
and dr.suzuki are members, family.ito is family; nurse.kimura of 西尾市 is on no team of 蒲郡市).

Each compares a subscription's `post` with what the same viewer reads over HTTP with the same
selection, in a world where nothing changes between the event and the reading.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import pytest
from starlette.applications import Starlette

from renraku.runtime import Runtime
from renraku.settings import Settings
from tests.conftest import make_settings
from tests.realtime.test_viewer_equivalence import (
    BREAK_GLASS,
    MY_EVENTS,
    PATIENT_EVENTS,
    Feeds,
    broker_for,
    cursor_now,
    read_over_http,
    seen_in_event,
    the_event,
)
from tests.support.graphql import GraphQLClient
from tests.support.graphql_ws import Message, create_post, error_codes, open_socket
from tests.support.live import serving
from tests.teams.helpers import patient_id, user_id


@pytest.fixture
def settings(database_url: str) -> Settings:
    """SQLite with the in-process broker; PostgreSQL with Redis, the production path."""
    return make_settings(database_url, broker_url=broker_for(database_url))


ITO = "pt-ito-haru"
KAWAI = "pt-kawai-toshio"  # nurse.sato is on this team too; cm.tanaka is not
SELECTION = (
    "id patient { myRoles unreadCount consents { kind granted } "
    "accessHistory(first: 2) { edges { node { action actor { displayName } } } } }"
)
FAMILY_SELECTION = "id visibleToFamily body"
READ = "mutation($ids: [ID!]!) { markPostsRead(postIds: $ids) }"
ACKNOWLEDGE = "mutation($p: ID!) { acknowledgePost(postId: $p) { id } }"
END_MEMBERSHIP = """
mutation($p: ID!, $u: ID!) { endTeamMembership(patientId: $p, userId: $u, reason: "異動") { role } }
"""


async def ito(runtime: Runtime) -> str:
    found = await patient_id(runtime, ITO)
    assert found == "UGF0aWVudDox"  # the demo patient of the report
    return found


def the_post(payload: Message) -> dict[str, Any]:
    post: dict[str, Any] = the_event(payload)["post"]
    return post


def has_events(feed: Feeds, sub: str) -> bool:
    return feed.events(sub) != []


def has_post(feed: Feeds, sub: str, post_id: str) -> bool:
    return post_id in [(the_event(p)["post"] or {}).get("id") for p in feed.events(sub)]


async def assert_sent_as_read(client: GraphQLClient, payload: Message) -> None:
    """The event's post and its errors are what `client` reads of that post over HTTP now
    (accessHistory compared by presence: reads add to it)."""
    post_id = the_post(payload)["id"]
    assert seen_in_event(payload) == await read_over_http(client, SELECTION, post_id)


async def replay_after_the_coordinator(
    app: Starlette, gql: GraphQLClient, pid: str, cm: GraphQLClient, viewer: GraphQLClient
) -> tuple[Message, Message]:
    """cm.tanaka follows the patient live while dr.suzuki posts; then `viewer` subscribes with
    the same document from the cursor before the post. The event each was sent."""
    doctor = await gql.login("dr.suzuki")
    runtime: Runtime = app.state.runtime
    document = PATIENT_EVENTS.format(post=SELECTION)
    async with serving(app) as url, open_socket(url, token=cm.token) as ws:
        coordinator = Feeds(ws)
        await ws.subscribe("s", document, {"p": pid, "after": None})
        await coordinator.handled()
        before = await cursor_now(runtime)
        await create_post(doctor, pid, "訪問しました")
        await coordinator.until(lambda: coordinator.events("s") != [], "the coordinator's event")
        async with open_socket(url, token=viewer.token) as ws2:
            replayed = Feeds(ws2)
            await ws2.subscribe("s", document, {"p": pid, "after": before})
            await replayed.until(lambda: replayed.events("s") != [], "the replay")
            await replayed.stop()
        await coordinator.stop()
    [sent] = replayed.events("s")
    return coordinator.events("s")[0], sent


async def test_a_member_replaying_after_the_coordinator_gets_her_own_roles_and_refusals(
    gql: GraphQLClient, runtime: Runtime, app: Starlette
) -> None:
    pid = await ito(runtime)
    cm, nurse = [await gql.login(u) for u in ("cm.tanaka", "nurse.sato")]
    for_cm, sent = await replay_after_the_coordinator(app, gql, pid, cm, nurse)
    patient = the_post(sent)["patient"]
    assert patient["myRoles"] == ["member"]
    assert patient["accessHistory"] is None
    assert ("FORBIDDEN", ["patientEvents", "post", "patient", "accessHistory"]) in [
        (e["extensions"]["code"], e["path"]) for e in sent.get("errors", [])
    ]
    await assert_sent_as_read(nurse, sent)
    await assert_sent_as_read(cm, for_cm)


async def test_a_coordinator_and_a_member_following_live_each_get_their_own_view(
    gql: GraphQLClient, runtime: Runtime, app: Starlette
) -> None:
    pid = await ito(runtime)
    cm, nurse, doctor = [await gql.login(u) for u in ("cm.tanaka", "nurse.sato", "dr.suzuki")]
    document = PATIENT_EVENTS.format(post=SELECTION)
    async with (
        serving(app) as url,
        open_socket(url, token=cm.token) as a,
        open_socket(url, token=nurse.token) as b,
    ):
        feeds = [Feeds(a), Feeds(b)]
        for ws, feed in zip((a, b), feeds, strict=True):
            await ws.subscribe("s", document, {"p": pid, "after": None})
            await feed.handled()
        await create_post(doctor, pid, "訪問しました")
        for feed in feeds:
            await feed.until(partial(has_events, feed, "s"), "the live event")
            await feed.stop()
    [for_cm], [for_nurse] = (feed.events("s") for feed in feeds)
    assert the_post(for_cm)["patient"]["myRoles"] == ["coordinator"]
    assert the_post(for_nurse)["patient"]["myRoles"] == ["member"]
    await assert_sent_as_read(cm, for_cm)
    await assert_sent_as_read(nurse, for_nurse)


async def test_a_clinician_of_another_town_replaying_through_the_glass_gets_glass_only(
    gql: GraphQLClient, runtime: Runtime, app: Starlette
) -> None:
    pid = await ito(runtime)
    cm, kimura = [await gql.login(u) for u in ("cm.tanaka", "nurse.kimura")]
    opened = await kimura.execute(
        BREAK_GLASS, {"p": pid, "r": "夜間の呼び出し、担当者に連絡がつかない"}
    )
    assert "errors" not in opened, opened
    _, sent = await replay_after_the_coordinator(app, gql, pid, cm, kimura)
    patient = the_post(sent)["patient"]
    assert patient["myRoles"] == ["glass"]
    # Glass reads the notebook, not the consents or the audit trail (policies/roles.csv).
    assert (patient["consents"], patient["accessHistory"]) == (None, None)
    assert sorted(e["path"][-1] for e in sent.get("errors", [])) == ["accessHistory", "consents"]
    assert set(error_codes(sent["errors"])) == {"FORBIDDEN"}
    await assert_sent_as_read(kimura, sent)


async def test_family_replays_and_live_feeds_carry_no_receipts(
    gql: GraphQLClient, runtime: Runtime, app: Starlette
) -> None:
    pid = await ito(runtime)
    doctor, nurse, family = [await gql.login(u) for u in ("dr.suzuki", "nurse.sato", "family.ito")]
    mine = MY_EVENTS.format(post=FAMILY_SELECTION)
    theirs = PATIENT_EVENTS.format(post=FAMILY_SELECTION)
    async with serving(app) as url, open_socket(url, token=family.token) as ws:
        live = Feeds(ws)
        await ws.subscribe("mine", mine, {"after": None})
        await ws.subscribe("ito", theirs, {"p": pid, "after": None})
        await live.handled()
        before = await cursor_now(runtime)
        shared = await create_post(doctor, pid, "様子は安定しています", visibleToFamily=True)
        hidden = await create_post(doctor, pid, "専門職のみ: 処方の相談")
        instruction = await create_post(
            doctor, pid, "水分を多めに", category="INSTRUCTION", visibleToFamily=True
        )
        for done in (
            await nurse.execute(READ, {"ids": [shared, hidden]}),
            await nurse.execute(ACKNOWLEDGE, {"p": instruction}),
            await family.execute(READ, {"ids": [shared]}),
        ):
            assert "errors" not in done, done
        # The last event of all, shared with family: whatever came before it has been sent.
        marker = await create_post(doctor, pid, "次回は金曜日", visibleToFamily=True)
        async with open_socket(url, token=family.token) as ws2:
            replay = Feeds(ws2)
            await ws2.subscribe("mine", mine, {"after": before})
            await ws2.subscribe("ito", theirs, {"p": pid, "after": before})
            feeds = [(live, "mine"), (live, "ito"), (replay, "mine"), (replay, "ito")]
            for feed, sub in feeds:
                await feed.until(partial(has_post, feed, sub, marker), f"{sub}: the marker")
            await replay.stop()
        await live.stop()
    for feed, sub in feeds:
        events = [the_event(p) for p in feed.events(sub)]
        assert [(e["kind"], (e["post"] or {}).get("id")) for e in events] == [
            ("POST_CREATED", shared),
            ("POST_CREATED", instruction),
            ("POST_CREATED", marker),
        ], sub
        assert hidden not in str(events)


async def test_a_member_taken_off_the_team_is_told_once_and_then_sent_nothing_of_it(
    gql: GraphQLClient, runtime: Runtime, app: Starlette
) -> None:
    pid = await ito(runtime)
    kawai = await patient_id(runtime, KAWAI)
    cm, doctor, nurse = [await gql.login(u) for u in ("cm.tanaka", "dr.suzuki", "nurse.sato")]
    document = "subscription($p: ID!) { patientEvents(patientId: $p) { cursor kind } }"
    mine = "subscription { myEvents { cursor kind patientId post { id patient { myRoles } } } }"
    async with serving(app) as url, open_socket(url, token=nurse.token) as ws:
        feeds = Feeds(ws)
        await ws.subscribe("ito", document, {"p": pid})
        await ws.subscribe("mine", mine)
        await feeds.handled()
        ended = await cm.execute(
            END_MEMBERSHIP, {"p": pid, "u": await user_id(runtime, "nurse.sato")}
        )
        assert "errors" not in ended, ended
        # As today: the patient's subscription ends with NOT_FOUND, and the socket carries on.
        await feeds.until(lambda: feeds.others("ito") != [], "the end of the subscription")
        hidden = await create_post(doctor, pid, "退院後の方針")
        marker = await create_post(doctor, kawai, "次回は金曜日")
        await feeds.until(
            lambda: (
                marker in [(the_event(p)["post"] or {}).get("id") for p in feeds.events("mine")]
            ),
            "the marker",
        )
        await feeds.stop()
    [error] = feeds.others("ito")
    assert error["type"] == "error"
    assert error_codes(error["payload"]) == ["NOT_FOUND"]
    events = [the_event(p) for p in feeds.events("mine")]
    # One MEMBERSHIP_CHANGED naming the patient and nothing else of it; then only her others.
    assert [(e["kind"], e["patientId"], e["post"]) for e in events[:-1]] == [
        ("MEMBERSHIP_CHANGED", pid, None)
    ]
    assert events[-1]["post"]["id"] == marker
    assert hidden not in str(events)
