"""graphql-transport-ws spoken by hand (Python `websockets`) against the real server: every close
code the protocol defines and ours, refused handshakes, ping, queries over the socket, broken
subscriptions, a slow consumer and a member taken off the team.

One server per database serves the whole module, so tests change nothing others rely on: each
picks its own people and patients (seed/demo.toml), named in the test.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from websockets.exceptions import InvalidStatus

from tests.support.databases import Backend, one_database
from tests.support.graphql import DEMO_PASSWORD, GraphQLClient
from tests.support.graphql_ws import (
    EVENT_FIELDS,
    PATIENT_EVENTS,
    PROTOCOL,
    WAIT_SECONDS,
    Follower,
    Message,
    bearer,
    create_post,
    error_codes,
    go_live,
    open_socket,
    small_buffer_socket,
)
from tests.support.metrics import scrape, value
from tests.support.server import Server, patient_ids, serving, user_id

QUEUE_LIMIT = 5
# The origin the server answers as: https, so that its session cookie is the production one
# (Secure, __Host-). Nothing connects to it; browsers' requests merely name it.
PUBLIC_ORIGIN = "https://renraku.test"
COOKIE = "__Host-renraku_session"

ME = "{ me { username } }"
TIMELINE = """
query($id: ID!) { patient(id: $id) { timeline(first: 100) { edges { node { id } } } } }
"""
END_MEMBERSHIP = """
mutation($p: ID!, $u: ID!) { endTeamMembership(patientId: $p, userId: $u, reason: "異動") { role } }
"""


@pytest.fixture(scope="module")
async def server(
    backend: Backend, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Server]:
    async with backend.clone() as url:
        with serving(
            url,
            cwd=tmp_path_factory.mktemp("protocol"),
            RENRAKU_WS_QUEUE_LIMIT=str(QUEUE_LIMIT),
            RENRAKU_WS_INIT_TIMEOUT_SECONDS="1",
            RENRAKU_PUBLIC_ORIGIN=PUBLIC_ORIGIN,
        ) as running:
            yield running


@pytest.fixture
async def http(server: Server) -> AsyncIterator[GraphQLClient]:
    async with server.client() as client:
        yield GraphQLClient(client)


async def cookie_login(server: Server, username: str) -> str:
    """Sign in as a browser does; the session cookie's `name=value`."""
    async with server.client() as client:
        response = await client.post(
            "/auth/login",
            json={"username": username, "password": DEMO_PASSWORD},
            headers={"Origin": PUBLIC_ORIGIN},
        )
    assert response.status_code == 200, response.text
    assert "Secure" in response.headers["set-cookie"]
    return f"{COOKIE}={response.cookies[COOKIE]}"


def assert_not_logged(server: Server, *texts: str) -> None:
    log = server.log_text()
    for text in texts:
        assert text not in log


async def timeline_ids(client: GraphQLClient, patient: str) -> list[str]:
    result = await client.execute(TIMELINE, {"id": patient})
    assert "errors" not in result, result
    return [e["node"]["id"] for e in result["data"]["patient"]["timeline"]["edges"]]


# -- close codes the protocol defines -----------------------------------------------------------

NAME = "伊藤 ハル"  # a demo patient's name: patient data that must never reach the log
LONG = NAME * 14_000  # 70,000 characters: past the largest message the server reads
INVALID_MESSAGES: dict[str, str | bytes] = {
    "not JSON": f"{NAME} は JSON ではない",
    "a JSON array": "[]",
    "no type": '{"id": "1"}',
    "a type that is not text": '{"type": 5}',
    "an unknown type": json.dumps({"type": "subscribe_all", "payload": {"name": NAME}}),
    "subscribe without an id": json.dumps({"type": "subscribe", "payload": {"query": ME}}),
    "subscribe with a payload that is not an object": '{"id": "1", "type": "subscribe", '
    '"payload": "{ me { username } }"}',
    "subscribe without a query": '{"id": "1", "type": "subscribe", "payload": {}}',
    "subscribe with variables that are not an object": '{"id": "1", "type": "subscribe", '
    '"payload": {"query": "{ me { username } }", "variables": [1]}}',
    "complete without an id": '{"type": "complete"}',
    "nested past any parser's depth": "[" * 30_000 + "]" * 30_000,
    "oversized": json.dumps(
        {
            "id": "1",
            "type": "subscribe",
            "payload": {"query": ME, "variables": {"x": LONG}},
        }
    ),
    "a binary frame": json.dumps({"type": "ping"}).encode(),
}


@one_database
@pytest.mark.parametrize("message", INVALID_MESSAGES.values(), ids=INVALID_MESSAGES.keys())
async def test_an_invalid_message_closes_the_socket_with_4400(
    server: Server, http: GraphQLClient, message: str | bytes
) -> None:
    token = (await http.login("dr.suzuki")).token
    assert token
    async with open_socket(server.ws_url, token=token) as ws:
        await ws.connection.send(message)
        code, before = await ws.closed()
    assert (code, before) == (4400, [])
    assert_not_logged(server, NAME)


@one_database
async def test_subscribing_before_connection_ack_closes_with_4401(server: Server) -> None:
    async with open_socket(server.ws_url, init=False) as ws:
        await ws.subscribe("1", ME)
        assert await ws.closed() == (4401, [])


async def _revoked_token(http: GraphQLClient) -> str:
    signed_in = await http.login("nurse.takahashi")
    assert (await signed_in.execute("mutation { logout }"))["data"] == {"logout": True}
    assert signed_in.token
    return signed_in.token


@pytest.mark.parametrize(
    "credentials",
    ["none", "an unknown token", "another scheme", "a token not a string", "a signed-out token"],
)
async def test_connection_init_without_valid_credentials_closes_with_4403(
    server: Server, http: GraphQLClient, credentials: str
) -> None:
    message: Message = {"type": "connection_init"}
    if credentials == "an unknown token":
        message["payload"] = bearer("x" * 43)
    elif credentials == "another scheme":
        message["payload"] = {"authorization": f"Basic {(await http.login('dr.suzuki')).token}"}
    elif credentials == "a token not a string":
        message["payload"] = {"authorization": ["Bearer", "x"]}
    elif credentials == "a signed-out token":
        message["payload"] = bearer(await _revoked_token(http))
    async with open_socket(server.ws_url, init=False) as ws:
        await ws.send(message)
        assert await ws.closed() == (4403, [])


@one_database
async def test_no_connection_init_in_time_closes_with_4408(server: Server) -> None:
    # RENRAKU_WS_INIT_TIMEOUT_SECONDS is 1 on this server.
    async with open_socket(server.ws_url, init=False) as ws:
        assert await ws.closed() == (4408, [])


async def test_a_subscription_id_in_use_closes_with_4409(
    server: Server, http: GraphQLClient
) -> None:
    token = (await http.login("dr.suzuki")).token
    query = f"subscription {{ myEvents {{ {EVENT_FIELDS} }} }}"
    async with open_socket(server.ws_url, token=token) as ws:
        await ws.subscribe("feed", query)
        await ws.subscribe("feed", query)
        assert await ws.closed() == (4409, [])


@one_database
async def test_a_second_connection_init_closes_with_4429(
    server: Server, http: GraphQLClient
) -> None:
    token = (await http.login("dr.suzuki")).token
    assert token
    async with open_socket(server.ws_url, token=token) as ws:
        await ws.send({"type": "connection_init", "payload": bearer(token)})
        assert await ws.closed() == (4429, [])


# -- handshakes ------------------------------------------------------------------------------


@one_database
@pytest.mark.parametrize("offered", [["graphql-ws"], [], ["graphql-ws", "graphql-transport"]])
async def test_only_the_graphql_transport_ws_subprotocol_is_accepted(
    server: Server, offered: list[str]
) -> None:
    with pytest.raises(InvalidStatus) as refused:
        async with open_socket(server.ws_url, init=False, subprotocols=offered):
            pass
    assert refused.value.response.status_code == 403
    async with open_socket(server.ws_url, init=False, subprotocols=["graphql-ws", PROTOCOL]) as ws:
        assert ws.connection.subprotocol == PROTOCOL


@pytest.mark.parametrize(
    "origin", ["https://evil.example", "http://renraku.test", "null", None], ids=repr
)
async def test_a_cookie_handshake_from_another_origin_is_refused(
    server: Server, origin: str | None
) -> None:
    cookie = await cookie_login(server, "nurse.sato")
    async with open_socket(
        server.ws_url, init=False, origin=origin, headers={"Cookie": cookie}
    ) as ws:
        await ws.send({"type": "connection_init"})
        assert await ws.closed() == (4403, [])
    # The same cookie from the server's own origin signs the socket in.
    async with open_socket(server.ws_url, origin=PUBLIC_ORIGIN, headers={"Cookie": cookie}) as ws:
        await ws.subscribe("me", ME)
        reply = await ws.receive("me")
        assert reply["payload"] == {"data": {"me": {"username": "nurse.sato"}}}


# -- messages on an open socket --------------------------------------------------------------


@one_database
async def test_ping_is_answered_with_pong_before_and_after_init(
    server: Server, http: GraphQLClient
) -> None:
    token = (await http.login("dr.suzuki")).token
    assert token
    async with open_socket(server.ws_url, init=False) as ws:
        await ws.send({"type": "ping"})
        assert await ws.receive() == {"type": "pong"}
        await ws.init(bearer(token))
        await ws.send({"type": "ping", "payload": {"n": 1}})
        assert await ws.receive() == {"type": "pong", "payload": {"n": 1}}


async def test_a_query_and_a_mutation_run_over_the_socket(
    server: Server, http: GraphQLClient
) -> None:
    nurse = await http.login("nurse.sato")
    patient = (await patient_ids(nurse))["pt-kawai-toshio"]
    before = await timeline_ids(nurse, patient)
    async with open_socket(server.ws_url, token=nurse.token) as ws:
        await ws.subscribe("q", ME)
        assert await ws.receive("q") == {
            "id": "q",
            "type": "next",
            "payload": {"data": {"me": {"username": "nurse.sato"}}},
        }
        assert await ws.receive("q") == {"id": "q", "type": "complete"}

        draft = {"patientId": patient, "clientId": uuid.uuid4().hex, "category": "MEALS"}
        await ws.subscribe(
            "m",
            "mutation($i: CreatePostInput!) { createPost(input: $i) { id body } }",
            {"i": {**draft, "body": "昼食は全量摂取。"}},
        )
        created = await ws.receive("m")
        assert created["type"] == "next"
        post = created["payload"]["data"]["createPost"]
        assert post["body"] == "昼食は全量摂取。"
        assert await ws.receive("m") == {"id": "m", "type": "complete"}

        # Bad input over the socket: an error in the result, nothing stored.
        await ws.subscribe(
            "bad",
            "mutation($i: CreatePostInput!) { createPost(input: $i) { id } }",
            {"i": {**draft, "clientId": "x" * 65, "body": "保存されない"}},
        )
        refused = await ws.receive("bad")
        assert error_codes(refused["payload"]["errors"]) == ["BAD_USER_INPUT"]
        assert await ws.receive("bad") == {"id": "bad", "type": "complete"}
    assert await timeline_ids(nurse, patient) == [post["id"], *before]


INVALID_SUBSCRIPTIONS: dict[str, tuple[str, dict[str, Any]]] = {
    "a syntax error": ("subscription { myEvents { cursor ", {}),
    "an unknown field": ("subscription { noSuchEvents { cursor } }", {}),
    "two root fields": ("subscription { myEvents { cursor } a: myEvents { cursor } }", {}),
    "a missing variable": (PATIENT_EVENTS, {}),
    "a variable of the wrong type": (PATIENT_EVENTS, {"patientId": {"id": 1}}),
    "a cursor not ours": (f'subscription {{ myEvents(after: "{NAME}") {{ cursor }} }}', {}),
    "too deep": ("subscription { myEvents { post { " + "replies { " * 15 + "id" + " }" * 17, {}),
}


@pytest.mark.parametrize(
    ("query", "variables"), INVALID_SUBSCRIPTIONS.values(), ids=INVALID_SUBSCRIPTIONS.keys()
)
async def test_an_invalid_subscription_gets_an_error_and_the_socket_stays_open(
    server: Server, http: GraphQLClient, query: str, variables: dict[str, Any]
) -> None:
    token = (await http.login("dr.suzuki")).token
    async with open_socket(server.ws_url, token=token) as ws:
        await ws.subscribe("1", query, variables)
        refused = await ws.receive("1")
        assert refused["type"] == "error", refused
        assert refused["payload"] and all(e["message"] for e in refused["payload"])
        assert NAME not in json.dumps(refused, ensure_ascii=False)
        await ws.send({"type": "ping"})
        assert await ws.receive() == {"type": "pong"}
        # The id is free again, and the socket works.
        await ws.subscribe("1", ME)
        assert (await ws.receive("1"))["payload"] == {"data": {"me": {"username": "dr.suzuki"}}}


async def test_a_patient_one_may_not_see_and_a_malformed_id_answer_alike(
    server: Server, http: GraphQLClient
) -> None:
    nurse = await http.login("nurse.sato")
    coordinator = await http.login("cm.yamada")
    elsewhere = (await patient_ids(coordinator))["pt-ishida-tome"]  # not on nurse.sato's teams
    answers = []
    async with open_socket(server.ws_url, token=nurse.token) as ws:
        for n, patient in enumerate([elsewhere, "UGF0aWVudDo5OTk5OTk=", "garbage", ""]):
            await ws.subscribe(str(n), PATIENT_EVENTS, {"patientId": patient})
            answers.append(await ws.receive(str(n)))
    payloads = [a["payload"] for a in answers]
    assert [a["type"] for a in answers] == ["error"] * 4
    assert all(p == payloads[0] for p in payloads), payloads
    assert error_codes(payloads[0]) == ["NOT_FOUND"]


# -- ours: session ended, slow consumer, access lost -------------------------------------------


@pytest.mark.parametrize("auth", ["bearer", "cookie"])
async def test_signing_out_closes_that_sessions_sockets_with_4401(
    server: Server, http: GraphQLClient, auth: str
) -> None:
    other = await http.login("nurse.sato")  # another session of the same user stays open
    query = f"subscription {{ myEvents {{ {EVENT_FIELDS} }} }}"
    async with open_socket(server.ws_url, token=other.token) as staying:
        await staying.subscribe("feed", query)
        if auth == "bearer":
            leaving = await http.login("nurse.sato")
            async with open_socket(server.ws_url, token=leaving.token) as ws:
                await ws.subscribe("feed", query)
                assert (await leaving.execute("mutation { logout }"))["data"] == {"logout": True}
                assert await ws.closed() == (4401, [])
        else:
            cookie = await cookie_login(server, "nurse.sato")
            browser = {"Cookie": cookie, "Origin": PUBLIC_ORIGIN}
            async with open_socket(
                server.ws_url, origin=PUBLIC_ORIGIN, headers={"Cookie": cookie}
            ) as ws:
                await ws.subscribe("feed", query)
                async with server.client() as client:
                    response = await client.post("/auth/logout", headers=browser)
                assert response.status_code == 200
                assert await ws.closed() == (4401, [])
        await staying.send({"type": "ping"})
        assert await staying.receive() == {"type": "pong"}


def _wide_query() -> str:
    # Each event repeats the post's body 20 times, so a few events fill the socket's buffers.
    bodies = " ".join(f"b{n}: body" for n in range(20))
    return (
        "subscription($patientId: ID!, $after: String) {"
        " patientEvents(patientId: $patientId, after: $after) {"
        f" cursor post {{ id {bodies} }} }} }}"
    )


async def test_a_slow_consumer_is_closed_with_1013_and_resumes_from_its_cursor(
    server: Server, http: GraphQLClient
) -> None:
    """pt.yoshida stops reading patientEvents of pt-sugiura-kazuko while dr.suzuki posts;
    cm.tanaka keeps reading the same patient."""
    doctor = await http.login("dr.suzuki")
    slow_user = await http.login("pt.yoshida")
    fast_user = await http.login("cm.tanaka")
    patient = (await patient_ids(doctor))["pt-sugiura-kazuko"]

    async def probe() -> list[str]:
        return [await create_post(doctor, patient, "確認")]

    flood = 60
    body = "歩行訓練を実施。" * 500  # 4,000 characters, the most a post holds
    closed_before = value(await scrape(http.http), "renraku_feed_slow_consumers_closed_total")
    async with (
        open_socket(
            server.ws_url,
            token=slow_user.token,
            sock=small_buffer_socket(server.port),
            max_queue=1,
            max_size=None,
            compress=False,
        ) as slow,
        open_socket(server.ws_url, token=fast_user.token) as fast,
    ):
        await slow.subscribe("slow", _wide_query(), {"patientId": patient})
        await fast.subscribe("fast", PATIENT_EVENTS, {"patientId": patient})
        await go_live([(slow, "slow"), (fast, "fast")], probe)
        last_read = slow.last_cursor("slow")

        # The slow socket is not read from here on.
        posted = [await create_post(doctor, patient, f"{n:02d}{body[2:]}") for n in range(flood)]

        # Everyone else keeps up, undisturbed.
        assert [(await fast.next_event("fast"))["post"]["id"] for _ in posted] == posted
        code, before = await slow.closed()
    assert code == 1013
    closed = value(await scrape(http.http), "renraku_feed_slow_consumers_closed_total")
    assert closed == closed_before + 1
    received = [m["payload"]["data"]["patientEvents"] for m in before if m["type"] == "next"]
    assert len(received) < flood
    assert [e["post"]["id"] for e in received] == posted[: len(received)]
    cursor = received[-1]["cursor"] if received else last_read

    # It resubscribes from its own latest cursor (again after each 1013, as a client does):
    # the rest, once each, in order, then live.
    assert slow_user.token
    follower = Follower(
        server.ws_url, slow_user.token, PATIENT_EVENTS, {"patientId": patient, "after": cursor}
    )
    follower.start()
    try:
        rest = posted[len(received) :]
        await follower.wait_for(lambda f: len(f.events) >= len(rest), within=WAIT_SECONDS)
        live = await create_post(doctor, patient, "最後")
        await follower.wait_for(lambda f: len(f.events) > len(rest), within=WAIT_SECONDS)
    finally:
        await follower.stop()
    assert follower.post_ids() == [*rest, live]
    assert_not_logged(server, body[:40])


async def test_a_replay_longer_than_the_queue_reaches_a_client_that_keeps_reading(
    server: Server, http: GraphQLClient
) -> None:
    """The queue bounds how far a reader may fall behind, not how much it may have missed:
    pharm.kato catches up on pt-kawai-toshio, reading as fast as it can."""
    doctor = await http.login("dr.suzuki")
    reader = await http.login("pharm.kato")
    patient = (await patient_ids(doctor))["pt-kawai-toshio"]

    async def probe() -> list[str]:
        return [await create_post(doctor, patient, "確認")]

    async with open_socket(server.ws_url, token=reader.token) as ws:
        await ws.subscribe("live", PATIENT_EVENTS, {"patientId": patient})
        await go_live([(ws, "live")], probe)
        cursor = ws.last_cursor("live")
    missed = [await create_post(doctor, patient, f"服薬確認 {n}") for n in range(QUEUE_LIMIT * 4)]
    async with open_socket(server.ws_url, token=reader.token) as ws:
        await ws.subscribe("replay", PATIENT_EVENTS, {"patientId": patient, "after": cursor})
        replayed = [(await ws.next_event("replay"))["post"]["id"] for _ in missed]
    assert replayed == missed


async def test_a_member_taken_off_the_team_gets_an_error_and_the_socket_carries_on(
    server: Server, http: GraphQLClient
) -> None:
    """cm.tanaka takes nurse.takahashi off pt-okamoto-fumi's team while nurse.takahashi follows
    pt-okamoto-fumi and pt-hattori-kiyo on one socket; dr.suzuki posts on both."""
    doctor = await http.login("dr.suzuki")
    coordinator = await http.login("cm.tanaka")
    nurse = await http.login("nurse.takahashi")
    patients = await patient_ids(doctor)
    leaving, staying = patients["pt-okamoto-fumi"], patients["pt-hattori-kiyo"]
    nurse_id = await user_id(nurse)

    async def probe() -> list[str]:
        return [
            await create_post(doctor, leaving, "訪問予定"),
            await create_post(doctor, staying, "訪問予定"),
        ]

    async with open_socket(server.ws_url, token=nurse.token) as ws:
        await ws.subscribe("leaving", PATIENT_EVENTS, {"patientId": leaving})
        await ws.subscribe("staying", PATIENT_EVENTS, {"patientId": staying})
        await go_live([(ws, "leaving"), (ws, "staying")], probe)
        cursor = ws.last_cursor("leaving")

        ended = await coordinator.execute(END_MEMBERSHIP, {"p": leaving, "u": nurse_id})
        assert "errors" not in ended, ended
        # No timing assertion here (tests never time): the error is sent on the revocation
        # signal after commit, not at the next event; the wait is only a hang guard.
        error = await ws.receive("leaving")
        assert error["type"] == "error"
        assert error_codes(error["payload"]) == ["NOT_FOUND"]

        hidden = await create_post(doctor, leaving, "退院後の方針")
        shown = await create_post(doctor, staying, "退院後の方針")
        assert (await ws.next_event("staying"))["post"]["id"] == shown
        # Resubscribing, even from an old cursor, finds nothing to see.
        await ws.subscribe("leaving", PATIENT_EVENTS, {"patientId": leaving, "after": cursor})
        again = await ws.receive("leaving")
        assert again["type"] == "error"
        assert error_codes(again["payload"]) == ["NOT_FOUND"]
        await ws.send({"type": "ping"})
        assert await ws.receive() == {"type": "pong"}
        assert ws.held() == []
    assert hidden not in json.dumps(error) + json.dumps(again)
