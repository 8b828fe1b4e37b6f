"""Events committed in this process reach its hub straight from the commit; anything else (another
worker's events between, a subscriber that arrived while the transaction ran) still arrives, in
order, read from the database."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
import websockets
from sqlmodel import select
from starlette.applications import Starlette

from renraku.accounts.models import User
from renraku.accounts.service import actor_for
from renraku.db import READ_ONLY, Database, before_commit
from renraku.feed import events as feed_events
from renraku.feed.posts import PostDraft, do_create_post, new_post
from renraku.ids import encode_id
from renraku.kinds import PostCategory
from renraku.realtime import hub as hub_module
from renraku.realtime import subscriptions
from renraku.runtime import Runtime, build_runtime
from tests.realtime.test_fanout import EVENTS, PATIENT, post, tokens
from tests.support.graphql import GraphQLClient
from tests.support.live import nothing_more, receive, registered, serving, subscribe, subscriber
from tests.teams.helpers import patient_id, patient_pk

OTHER_PATIENT = "pt-kawai-toshio"  # the nurse is on this team too


@pytest.fixture
def no_poll(monkeypatch: pytest.MonkeyPatch) -> None:
    """The hub's periodic look at the database never comes within a test."""
    monkeypatch.setattr(hub_module, "POLL_SECONDS", 3600.0)


@pytest.fixture
def no_hints(runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """The feed channel's messages are kept back (as if lost on the way); returns them."""
    kept: list[dict[str, Any]] = []
    real = runtime.broker.publish

    async def publish(channel: str, message: dict[str, Any]) -> None:
        if channel == feed_events.CHANNEL:
            kept.append(message)
        else:
            await real(channel, message)

    monkeypatch.setattr(runtime.broker, "publish", publish)
    return kept


@pytest.fixture
async def other_worker(runtime: Runtime) -> AsyncIterator[Runtime]:
    """A second worker on the same database, with a broker of its own: its hints never reach
    the first worker's hub."""
    other = build_runtime(runtime.settings, Database.from_url(runtime.settings.database_url))
    yield other
    await other.close()


async def post_as(
    worker: Runtime,
    username: str,
    pid: int,
    client_id: str,
    last_step: Callable[[], Awaitable[None]] | None = None,
) -> str:
    """A post stored by `worker`'s service layer (with `last_step` run just before its commit);
    its GraphQL id."""
    async with worker.db.session() as session:
        author = (await session.exec(select(User).where(User.username == username))).one()
    actor = actor_for(author)
    draft = PostDraft(
        patient_id=pid, client_id=client_id, category=PostCategory.OTHER, body=client_id
    )
    async with worker.db.transaction() as session:
        stored = await do_create_post(
            session, worker.broker, actor=actor, post=new_post(actor, draft), draft=draft
        )
        if last_step is not None:
            before_commit(session, last_step)
    assert stored.id is not None
    return encode_id("Post", stored.id)


@contextlib.asynccontextmanager
async def nurse_listening(
    gql: GraphQLClient, runtime: Runtime, app: Starlette
) -> AsyncIterator[tuple[str, GraphQLClient, websockets.ClientConnection]]:
    """The patient's id, the doctor's client, and the nurse's socket subscribed to the patient."""
    pid = await patient_id(runtime, PATIENT)
    doctor = await gql.login("dr.suzuki")
    [nurse] = await tokens(gql, "nurse.sato")
    async with serving(app) as url, subscriber(url, nurse) as ws:
        async with registered(1):  # subscribed before the first post
            await subscribe(ws, "s", EVENTS, {"p": pid})
        yield pid, doctor, ws


def post_id_of(frame: dict[str, Any]) -> str:
    post: dict[str, Any] = frame["payload"]["data"]["patientEvents"]["post"]
    return str(post["id"])


async def test_this_process_delivers_its_own_commits_without_the_brokers_hint(
    gql: GraphQLClient,
    runtime: Runtime,
    app: Starlette,
    no_poll: None,
    no_hints: list[dict[str, Any]],
) -> None:
    async with nurse_listening(gql, runtime, app) as (pid, doctor, ws):
        made = [await post(doctor, pid, n) for n in range(3)]
        got = [post_id_of(await receive(ws)) for _ in made]
        assert await nothing_more(ws)
    assert got == made
    assert len(no_hints) == 3  # the hints were sent, and kept back


async def test_a_commit_made_while_a_catch_up_reads_is_sent_by_that_catch_up(
    gql: GraphQLClient,
    runtime: Runtime,
    app: Starlette,
    no_poll: None,
    no_hints: list[dict[str, Any]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A catch-up is reading when this process commits a post: the commit cannot be handed
    over then, and no hint or poll follows; the catch-up reads once more before it lets go."""
    reading, go_on = asyncio.Event(), asyncio.Event()
    real = feed_events.events_after

    async def held(session: Any, **kwargs: Any) -> list[Any]:
        found = await real(session, **kwargs)
        if not reading.is_set():
            reading.set()
            await go_on.wait()
        return found

    async with nurse_listening(gql, runtime, app) as (pid, doctor, ws):
        monkeypatch.setattr(feed_events, "events_after", held)
        catching_up = asyncio.create_task(app.state.hub._catch_up())
        await reading.wait()
        made = await post(doctor, pid, 1)
        go_on.set()
        await catching_up
        assert post_id_of(await receive(ws)) == made
        assert await nothing_more(ws)
    assert len(no_hints) == 1  # the hint was sent, and kept back


async def test_another_workers_event_between_is_read_back_and_order_kept(
    gql: GraphQLClient,
    runtime: Runtime,
    app: Starlette,
    other_worker: Runtime,
    no_poll: None,
) -> None:
    async with nurse_listening(gql, runtime, app) as (pid, doctor, ws):
        first = await post(doctor, pid, 1)
        assert post_id_of(await receive(ws)) == first
        # Committed by the other worker: this hub is not told, and nothing polls.
        pk = await patient_pk(runtime, PATIENT)
        between = await post_as(other_worker, "dr.suzuki", pk, "other-worker-1")
        assert await nothing_more(ws)
        # The next local commit is not the next event: the hub reads both back, in order.
        last = await post(doctor, pid, 2)
        got = [post_id_of(await receive(ws)) for _ in range(2)]
        assert await nothing_more(ws)
    assert got == [between, last]


async def test_a_subscriber_that_arrives_while_the_transaction_runs_gets_its_event(
    gql: GraphQLClient, runtime: Runtime, app: Starlette, no_poll: None
) -> None:
    """Nobody listened when the events' readers were read (in the transaction): the hub reads
    them for the subscriber that came since, instead of skipping the event or ending it."""
    pid = await patient_id(runtime, PATIENT)
    other = await patient_id(runtime, OTHER_PATIENT)
    [nurse] = await tokens(gql, "nurse.sato")
    async with serving(app) as url, subscriber(url, nurse) as ws:
        # The hub is running (a subscription to another patient) but nobody listens to `pid`.
        async with registered(1):
            await subscribe(ws, "other", EVENTS, {"p": other})

        async def subscribe_meanwhile() -> None:
            # Runs after the event's readers were read, before the commit.
            async with registered(1):
                await subscribe(ws, "s", EVENTS, {"p": pid})

        pk = await patient_pk(runtime, PATIENT)
        made = await post_as(runtime, "dr.suzuki", pk, "arrives-late", subscribe_meanwhile)
        frame = await receive(ws)
        assert await nothing_more(ws)
    assert frame["id"] == "s" and frame["type"] == "next"
    assert post_id_of(frame) == made


def test_live_audits_of_subscriptions_made_together_are_spread_over_the_period() -> None:
    async def first_dues() -> list[float]:
        now = asyncio.get_running_loop().time()
        return [subscriptions.first_audit_due() - now for _ in range(1000)]

    dues = asyncio.run(first_dues())
    assert all(0 <= d < subscriptions.AUDIT_SECONDS + 1 for d in dues)
    tenths = [0] * 10
    for d in dues:
        tenths[min(9, int(d / subscriptions.AUDIT_SECONDS * 10))] += 1
    assert max(tenths) <= 120, tenths  # about 100 each; all at once would be 1,000 in one


async def test_a_hub_that_fails_to_prepare_fails_no_post_and_still_delivers_it(
    gql: GraphQLClient, runtime: Runtime, app: Starlette, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = hub_module.FeedHub.prepare

    async def broken(self: Any, session: Any, rows: Any) -> Any:
        # Only in the storing transaction: a catch-up of the hub's own (a read session) still
        # prepares, as one may be under way when the post commits.
        if not session.info.get(READ_ONLY):
            raise RuntimeError("a bug in the hub")
        return await real(self, session, rows)

    # Nothing was prepared in the transaction: the hub reads what it needs after the commit.

    async with nurse_listening(gql, runtime, app) as (pid, doctor, ws):
        monkeypatch.setattr(hub_module.FeedHub, "prepare", broken)
        made = await post(doctor, pid, 1)  # stored: post() checks there was no error
        assert post_id_of(await receive(ws)) == made
        assert await nothing_more(ws)
