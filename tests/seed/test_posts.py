"""`renraku seed synthetic --posts K --big-timeline N`: a plausible notebook, read back through
the feed's own services and the GraphQL endpoint, on both backends."""

from __future__ import annotations

import asyncio
import re
from collections import Counter, defaultdict
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, date, datetime
from typing import Any

import httpx
import numpy as np
import pytest
from sqlmodel import select

from renraku.access.notebook import may_write_instructions
from renraku.accounts.actions import do_create_session
from renraku.accounts.models import User
from renraku.accounts.service import actor_for
from renraku.app import build_app
from renraku.audit.chain import verify
from renraku.audit.models import AuditRecord
from renraku.cli import main
from renraku.db import Database
from renraku.errors import BadInput
from renraku.feed import events
from renraku.feed.models import FeedEvent, Post, PostAcknowledgement, PostRead
from renraku.feed.posts import audience_of, validate_body
from renraku.feed.vitals import validate_vitals
from renraku.ids import encode_id
from renraku.kinds import PostCategory
from renraku.runtime import build_runtime
from renraku.seed import post_texts
from renraku.seed.batches import table_of
from renraku.seed.synthetic import MAX_POSTS, SeedResult, SyntheticSpec, seed_synthetic
from renraku.seed.world import build_world
from renraku.teams.models import Patient, TeamMembership
from tests.conftest import ORIGIN, make_settings
from tests.seed.helpers import count, counts, dump, migrated, seed
from tests.support.databases import Backend
from tests.support.graphql import GraphQLClient

TODAY = date(2026, 3, 1)
ANCHOR = datetime(2026, 3, 1, tzinfo=UTC)
BIG = 400
SPEC = SyntheticSpec(
    patients=120, professionals=80, seed=5, today=TODAY, posts=1500, big_timelines=(BIG,)
)
NOTEBOOK_TABLES = [table_of(m) for m in (Post, FeedEvent, PostRead, PostAcknowledgement)]
JAPANESE = re.compile(r"[\u3040-\u30ff\u4e00-\u9fff]")

TIMELINE = """
query($id: ID!) {
  patient(id: $id) {
    timeline(first: 20) { edges { node { id body category urgent createdAt } } }
  }
}
"""
CREATE = """
mutation($input: CreatePostInput!) { createPost(input: $input) { id } }
"""


@pytest.fixture(scope="module")
async def seeded(backend: Backend) -> AsyncIterator[tuple[Database, SeedResult]]:
    async with migrated(backend) as url:
        result = await seed(url, SPEC)
        db = Database.from_url(url)
        yield db, result
        await db.dispose()


async def rows(db: Database, model: Any) -> list[Any]:
    async with db.session() as session:
        return list((await session.exec(select(model))).all())


async def all_posts(db: Database) -> dict[int, Post]:
    return {p.id: p for p in await rows(db, Post)}


async def teams(db: Database) -> dict[int, dict[int, TeamMembership]]:
    """patient id -> user id -> active membership."""
    found: dict[int, dict[int, TeamMembership]] = defaultdict(dict)
    for m in await rows(db, TeamMembership):
        if m.ends_at is None:
            found[m.patient_id][m.user_id] = m
    return found


def big_patient(posts: dict[int, Post]) -> int:
    per_patient = Counter(p.patient_id for p in posts.values())
    [(patient_id, size)] = per_patient.most_common(1)
    assert size == BIG
    return patient_id


async def test_the_notebook_has_what_was_asked_for(seeded: tuple[Database, SeedResult]) -> None:
    db, result = seeded
    assert await count(db, Post) == result.counts["post"] == 1500 + BIG
    assert await count(db, FeedEvent) == result.counts["feedevent"] == 1500 + BIG
    assert await count(db, PostRead) == result.counts["postread"] > 1500
    assert await count(db, PostAcknowledgement) == result.counts["postacknowledgement"] > 0
    per_patient = Counter(p.patient_id for p in (await all_posts(db)).values())
    # The big timeline is one patient's alone; the spread posts reach most of the others.
    assert sorted(per_patient.values())[-1] == BIG
    assert sorted(per_patient.values())[-2] < BIG
    assert len(per_patient) > 0.8 * SPEC.patients


async def test_one_created_event_per_post_in_post_order_with_the_posts_audience(
    seeded: tuple[Database, SeedResult],
) -> None:
    db, _ = seeded
    posts = await all_posts(db)
    stored = sorted(await rows(db, FeedEvent), key=lambda e: e.id)
    assert [e.post_id for e in stored] == sorted(posts)
    for event in stored:
        post = posts[event.post_id]
        assert event.kind == "feed.post_created"
        assert event.audience == audience_of(post).value
        assert (event.patient_id, event.actor_id) == (post.patient_id, post.author_id)
        assert event.subject_user_id is None
        assert event.created_at == post.created_at
    # Ids follow time: a cursor replays the notebook as it was written.
    times = [posts[i].created_at for i in sorted(posts)]
    assert times == sorted(times)


async def test_a_cursor_replays_a_patients_posts_once_in_order(
    seeded: tuple[Database, SeedResult],
) -> None:
    db, _ = seeded
    posts = await all_posts(db)
    patient_id = big_patient(posts)
    theirs = sorted(i for i, p in posts.items() if p.patient_id == patient_id)
    async with db.session() as session:
        first = await events.events_after(session, after=0, patient_ids=[patient_id], limit=10)
        cursor = first[-1].id
        assert cursor is not None
        rest = await events.events_after(
            session, after=cursor, patient_ids=[patient_id], limit=10_000
        )
    assert [e.post_id for e in first + rest] == theirs


async def test_authors_are_active_team_members_and_instructions_come_from_those_allowed(
    seeded: tuple[Database, SeedResult],
) -> None:
    db, _ = seeded
    membership = await teams(db)
    users = {u.id: u for u in await rows(db, User)}
    for post in (await all_posts(db)).values():
        member = membership[post.patient_id].get(post.author_id)
        assert member is not None, post.id
        assert member.starts_at < post.created_at < ANCHOR
        if post.category == PostCategory.INSTRUCTION:
            assert may_write_instructions(actor_for(users[post.author_id]))
        assert post.client_id == f"syn-{post.id}"


async def test_replies_join_an_earlier_thread_of_the_same_patient_and_share_no_more(
    seeded: tuple[Database, SeedResult],
) -> None:
    db, _ = seeded
    posts = await all_posts(db)
    replies = [p for p in posts.values() if p.reply_to_id is not None]
    assert 0.05 * len(posts) < len(replies) < 0.2 * len(posts)
    for reply in replies:
        assert reply.reply_to_id is not None and reply.id is not None
        thread = posts[reply.reply_to_id]
        assert thread.reply_to_id is None
        assert thread.patient_id == reply.patient_id
        assert thread.id is not None and thread.id < reply.id
        assert reply.visible_to_family <= thread.visible_to_family
        assert reply.vitals is None and not reply.urgent


async def test_bodies_are_japanese_and_vitals_are_what_the_service_would_store(
    seeded: tuple[Database, SeedResult],
) -> None:
    db, _ = seeded
    posts = await all_posts(db)
    for post in posts.values():
        assert validate_body(post.body) == post.body
        assert post.body and JAPANESE.search(post.body)
        is_vitals = post.category == PostCategory.VITALS and post.reply_to_id is None
        assert (post.vitals is not None) == is_vitals, post.id
        if post.vitals is None:
            assert post.vitals_flags == []
            continue
        checked, flags = validate_vitals(post.vitals, prefix="")
        assert checked == post.vitals and flags == post.vitals_flags
        assert ("基準" in post.body) == bool(flags)
    flagged = [p for p in posts.values() if p.vitals_flags]
    vitals = [p for p in posts.values() if p.vitals]
    assert vitals and 0 < len(flagged) < len(vitals)


async def test_the_mix_is_plausible(seeded: tuple[Database, SeedResult]) -> None:
    db, _ = seeded
    posts = list((await all_posts(db)).values())
    categories = Counter(p.category for p in posts)
    assert set(categories) == set(PostCategory)
    assert categories[PostCategory.VISIT_REPORT] > categories[PostCategory.INCIDENT]
    assert 0.003 < sum(p.urgent for p in posts) / len(posts) < 0.1
    assert 0.15 < sum(p.visible_to_family for p in posts) / len(posts) < 0.5
    urgent = Counter(p.category for p in posts if p.urgent)
    assert urgent.most_common(1)[0][0] == PostCategory.INCIDENT


async def test_receipts_are_by_other_team_members_after_the_post(
    seeded: tuple[Database, SeedResult],
) -> None:
    db, _ = seeded
    posts = await all_posts(db)
    membership = await teams(db)
    reads = await rows(db, PostRead)
    read_by: dict[int, dict[int, datetime]] = defaultdict(dict)
    for receipt in reads:
        post = posts[receipt.post_id]
        assert receipt.user_id != post.author_id
        assert receipt.user_id in membership[post.patient_id]
        assert receipt.patient_id == post.patient_id
        assert post.created_at < receipt.read_at <= ANCHOR
        read_by[receipt.post_id][receipt.user_id] = receipt.read_at
    # Every urgent post has been read by someone (nothing waits for escalation).
    assert all(read_by[p.id] for p in posts.values() if p.urgent and p.id is not None)
    assert 0.3 < len(read_by) / len(posts) < 0.95
    for ack in await rows(db, PostAcknowledgement):
        assert posts[ack.post_id].category == PostCategory.INSTRUCTION
        assert read_by[ack.post_id][ack.user_id] <= ack.acknowledged_at <= ANCHOR


async def test_one_audit_record_names_the_posts_asked_for(
    seeded: tuple[Database, SeedResult],
) -> None:
    db, result = seeded
    async with db.session() as session:
        records = (await session.exec(select(AuditRecord))).all()
        verified = await verify(session)
    assert [r.action for r in records] == ["seed.synthetic"]
    requested = records[0].detail["requested"]
    assert (requested["posts"], requested["big_timelines"]) == (1500, [BIG])
    assert records[0].detail["rows"] == result.counts
    assert verified.ok


async def test_the_same_seed_gives_the_same_notebook_and_posts_leave_the_people_alone(
    backend: Backend, seeded: tuple[Database, SeedResult]
) -> None:
    first, _ = seeded
    async with (
        migrated(backend) as again_url,
        migrated(backend) as other_url,
        migrated(backend) as bare_url,
    ):
        await seed(again_url, SPEC)
        await seed(other_url, replace(SPEC, seed=6))
        await seed(bare_url, replace(SPEC, posts=0, big_timelines=()))
        again, other, bare = (Database.from_url(u) for u in (again_url, other_url, bare_url))
        try:
            for table in NOTEBOOK_TABLES:
                assert await dump(again, table) == await dump(first, table), table.name
            posts = table_of(Post)
            assert await dump(other, posts) != await dump(first, posts)
            for model in (Patient, TeamMembership, User):
                assert await dump(bare, table_of(model)) == await dump(first, table_of(model))
            assert await count(bare, Post) == 0
        finally:
            for db in (again, other, bare):
                await db.dispose()


def test_posts_do_not_change_the_world_a_seed_draws() -> None:
    plain = build_world(replace(SPEC, posts=0, big_timelines=()))
    busy = build_world(SPEC)
    assert np.array_equal(plain.team_member, busy.team_member)
    assert np.array_equal(plain.patients.latitude, busy.patients.latitude)
    assert plain.notebook.counts() == {"posts": 0, "receipts": 0, "acknowledgements": 0}
    assert busy.notebook.counts()["posts"] == 1500 + BIG


def test_the_vectorised_pick_of_a_body_is_what_body_writes() -> None:
    texts, where = post_texts.every_body()
    assert set(where) == set(PostCategory) - {PostCategory.VITALS}
    rng = np.random.default_rng(0)
    for category, (start, n0, n1, n2) in where.items():
        for p0, p1, p2 in rng.integers(0, 1 << 30, (50, 3)).tolist():
            index = start + p0 % n0 * n1 * n2 + p1 % n1 * n2 + p2 % n2
            assert texts[index] == post_texts.body(category, (p0, p1, p2))


async def _bearer(db: Database, runtime: Any, user_id: int) -> str:
    async with db.transaction() as session:
        user = await session.get(User, user_id)
        assert user is not None
        issued = await do_create_session(session, runtime, user=user, kind="bearer", method="test")
    return issued.token


async def test_a_team_member_reads_the_big_timelines_first_page_through_graphql(
    seeded: tuple[Database, SeedResult],
) -> None:
    db, _ = seeded
    posts = await all_posts(db)
    patient_id = big_patient(posts)
    member = next(iter((await teams(db))[patient_id]))
    url = db.engine.url.render_as_string(hide_password=False)
    runtime = build_runtime(make_settings(url), Database.from_url(url))
    try:
        token = await _bearer(runtime.db, runtime, member)
        transport = httpx.ASGITransport(app=build_app(runtime.settings, runtime))
        async with httpx.AsyncClient(transport=transport, base_url=ORIGIN) as http:
            gql = GraphQLClient(http, token)
            result = await gql.execute(TIMELINE, {"id": encode_id("Patient", patient_id)})
    finally:
        await runtime.close()
    assert "errors" not in result, result
    edges = result["data"]["patient"]["timeline"]["edges"]
    newest = sorted(
        (i for i, p in posts.items() if p.patient_id == patient_id and p.reply_to_id is None),
        reverse=True,
    )[:20]
    assert [e["node"]["id"] for e in edges] == [encode_id("Post", i) for i in newest]
    assert [e["node"]["body"] for e in edges] == [posts[i].body for i in newest]


async def test_a_post_made_after_seeding_takes_the_next_post_and_event_ids(
    backend: Backend,
) -> None:
    async with migrated(backend) as url:
        await seed(url, replace(SPEC, posts=200, big_timelines=()))
        # A second run continues after the first, as the first continued after nothing.
        await seed(url, replace(SPEC, seed=9, posts=100, big_timelines=()))
        runtime = build_runtime(make_settings(url), Database.from_url(url))
        try:
            db = runtime.db
            assert await count(db, Post) == await count(db, FeedEvent) == 300
            stored = sorted(await rows(db, FeedEvent), key=lambda e: e.id)
            assert [e.id for e in stored] == [e.post_id for e in stored] == list(range(1, 301))
            membership = (await rows(db, TeamMembership))[0]
            token = await _bearer(db, runtime, membership.user_id)
            transport = httpx.ASGITransport(app=build_app(runtime.settings, runtime))
            async with httpx.AsyncClient(transport=transport, base_url=ORIGIN) as http:
                created = await GraphQLClient(http, token).execute(
                    CREATE,
                    {
                        "input": {
                            "patientId": encode_id("Patient", membership.patient_id),
                            "clientId": "after-seeding-1",
                            "category": "OTHER",
                            "body": "シードの後の投稿です。",
                        }
                    },
                )
            assert "errors" not in created, created
            assert created["data"]["createPost"]["id"] == encode_id("Post", 301)
            last = max(await rows(db, FeedEvent), key=lambda e: e.id)
            assert (last.id, last.post_id) == (301, 301)
        finally:
            await runtime.close()


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (["--posts", "-1"], "--posts"),
        (["--posts", str(MAX_POSTS + 1)], "--posts"),
        (["--big-timeline", "-5"], "--big-timeline"),
        (["--big-timeline", str(MAX_POSTS + 1)], "--big-timeline"),
        (["--posts", str(MAX_POSTS), "--big-timeline", "1"], "--posts"),
    ],
)
async def test_impossible_post_counts_are_refused_and_nothing_is_written(
    seeded: tuple[Database, SeedResult],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    option: str,
) -> None:
    db, _ = seeded
    before = await counts(db)
    monkeypatch.setenv("DATABASE_URL", db.engine.url.render_as_string(hide_password=False))
    command = ["seed", "synthetic", "--patients", "10", "--professionals", "8", *args]
    assert await asyncio.to_thread(main, command) == 2
    assert capsys.readouterr().err.startswith(option + ":")
    assert await counts(db) == before


@pytest.mark.parametrize("value", ["lots", "1e6", "5; DELETE FROM post", "0x10", ""])
async def test_non_numeric_post_counts_are_usage_errors(
    seeded: tuple[Database, SeedResult], monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    db, _ = seeded
    before = await counts(db)
    monkeypatch.setenv("DATABASE_URL", db.engine.url.render_as_string(hide_password=False))
    for option in ("--posts", "--big-timeline"):
        command = ["seed", "synthetic", "--patients", "10", "--professionals", "8", option, value]
        with pytest.raises(SystemExit) as exited:
            await asyncio.to_thread(main, command)
        assert exited.value.code == 2
    assert await counts(db) == before


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"patients": 0, "professionals": 0, "posts": 5}, "posts"),
        ({"patients": 1, "posts": 5, "big_timelines": (10,)}, "posts"),
        ({"patients": 0, "professionals": 0, "posts": 0, "big_timelines": (10,)}, "big-timeline"),
        ({"big_timelines": (0,)}, "big-timeline"),
        ({"big_timelines": (1,) * 11}, "big-timeline"),
    ],
)
async def test_the_service_refuses_posts_it_cannot_place_before_writing(
    seeded: tuple[Database, SeedResult], changes: dict[str, Any], field: str
) -> None:
    db, _ = seeded
    before = await counts(db)
    with pytest.raises(BadInput) as refused:
        await seed_synthetic(db, replace(SPEC, **changes))
    assert refused.value.field == field
    assert await counts(db) == before


async def test_production_mode_refuses_synthetic_posts(
    seeded: tuple[Database, SeedResult], monkeypatch: pytest.MonkeyPatch
) -> None:
    db, _ = seeded
    before = await counts(db)
    monkeypatch.setenv("DATABASE_URL", db.engine.url.render_as_string(hide_password=False))
    monkeypatch.setenv("RENRAKU_MODE", "production")
    monkeypatch.setenv("RENRAKU_SECRET_KEY", "s" * 48)
    args = ["seed", "synthetic", "--patients", "10", "--professionals", "8", "--posts", "20"]
    assert await asyncio.to_thread(main, args) == 2
    assert await counts(db) == before


async def test_the_command_loads_posts_and_a_big_timeline(
    backend: Backend, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    async with migrated(backend) as url:
        monkeypatch.setenv("DATABASE_URL", url)
        args = ["seed", "synthetic", "--patients", "30", "--professionals", "20"]
        args += ["--posts", "90", "--big-timeline", "150", "--seed", "2"]
        assert await asyncio.to_thread(main, args) == 0
        assert "240 posts with" in capsys.readouterr().out
        assert await asyncio.to_thread(main, ["audit", "verify"]) == 0
        db = Database.from_url(url)
        try:
            per_patient = Counter(p.patient_id for p in (await all_posts(db)).values())
            assert per_patient.most_common(1)[0][1] == 150
            assert sum(per_patient.values()) == await count(db, FeedEvent) == 240
        finally:
            await db.dispose()
