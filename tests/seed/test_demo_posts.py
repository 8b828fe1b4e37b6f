"""The demo notebook of seed/demo.toml: what it holds, that it loads once, and that a broken
entry is refused with its key named."""

from __future__ import annotations

import copy
from collections import Counter
from typing import Any

import pytest
from sqlalchemy import func
from sqlmodel import col, select

from renraku.audit.models import AuditRecord
from renraku.broker import MemoryBroker
from renraku.db import Database
from renraku.feed.models import FeedEvent, Post, PostAcknowledgement, PostRead
from renraku.runtime import Runtime
from renraku.seed.demo_posts import DemoFileError, load_demo_posts, validate_specs
from tests.feed.post_support import Clients, clients, feed_snapshot, patient_gid

__all__ = ["clients"]

GAMAGORI = "232149"
TIMELINE = """query($id: ID!) {
  patient(id: $id) { timeline(first: 50) { edges { node { clientId body replies { clientId } } } } }
}"""
OVERDUE = "{ myOverdueInstructions { clientId } }"


def _posts(demo: dict[str, Any]) -> list[dict[str, Any]]:
    return list(demo["posts"])


def test_every_patient_of_the_demo_town_has_a_few_posts(demo: dict[str, Any]) -> None:
    town = {p["key"] for p in demo["patients"] if p["municipality"] == GAMAGORI}
    per_patient = Counter(p["patient"] for p in _posts(demo))
    assert set(per_patient) == town
    assert all(2 <= n <= 4 for n in per_patient.values()), per_patient


def test_the_demo_notebook_shows_each_kind_of_post(demo: dict[str, Any]) -> None:
    posts = _posts(demo)
    assert any(p.get("urgent") and not p.get("read_by") for p in posts)
    assert any(p["category"] == "instruction" and p.get("acknowledged_by") for p in posts)
    assert any(p.get("visible_to_family") for p in posts)
    assert any(p.get("reply_to") for p in posts)
    assert validate_specs(demo)  # every entry fits the file's own people


async def test_the_demo_posts_are_stored_with_their_events_and_receipts(
    runtime: Runtime, demo: dict[str, Any]
) -> None:
    keys = {p["key"]: p for p in _posts(demo)}
    async with runtime.db.session() as session:
        stored = (await session.exec(select(Post).where(col(Post.client_id).in_(keys)))).all()
        created = (
            await session.exec(
                select(FeedEvent.post_id).where(col(FeedEvent.kind) == "feed.post_created")
            )
        ).all()
        audited = (
            await session.exec(
                select(AuditRecord.detail).where(col(AuditRecord.action) == "feed.post_created")
            )
        ).all()
        reads = (await session.exec(select(PostRead.post_id))).all()
        acks = (await session.exec(select(PostAcknowledgement.post_id))).all()
    assert sorted(p.client_id for p in stored) == sorted(keys)
    ids: dict[str, int] = {}
    for p in stored:
        assert p.id is not None
        ids[p.client_id] = p.id
    assert {ids[k] for k in keys} <= set(created)
    assert {ids[k] for k in keys} <= {d["post_id"] for d in audited}
    for key, spec in keys.items():
        assert Counter(reads)[ids[key]] == len(
            {*spec.get("read_by", []), *spec.get("acknowledged_by", [])}
        ), key
        assert Counter(acks)[ids[key]] == len(spec.get("acknowledged_by", [])), key
    flagged = [p for p in stored if p.vitals_flags]
    assert flagged, "a vitals post outside the usual range"
    # Ids follow time, as the timeline expects: older posts have smaller ids.
    by_age = sorted(stored, key=lambda p: p.created_at)
    assert [p.id for p in by_age] == sorted(p.id for p in stored if p.id is not None)


async def test_loading_the_demo_posts_again_adds_nothing(
    database_url: str, runtime: Runtime, demo: dict[str, Any]
) -> None:
    before = await feed_snapshot(runtime)
    db = Database.from_url(database_url)
    try:
        assert await load_demo_posts(db, MemoryBroker(), demo) == 0
    finally:
        await db.dispose()
    assert await feed_snapshot(runtime) == before


async def test_the_demo_notebook_reads_as_the_file_says(clients: Clients, runtime: Runtime) -> None:
    family = await clients("family.ito")
    ito = await patient_gid(runtime, "pt-ito-haru")
    seen = (await family.execute(TIMELINE, {"id": ito}))["data"]["patient"]["timeline"]["edges"]
    assert [(e["node"]["clientId"], e["node"]["replies"]) for e in seen] == [
        ("demo-ito-03", [{"clientId": "demo-ito-04"}])
    ]
    coordinator = await clients("cm.tanaka")
    overdue = (await coordinator.execute(OVERDUE))["data"]["myOverdueInstructions"]
    assert [p["clientId"] for p in overdue] == ["demo-okamoto-01"]


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"patient": "pt-nobody"}, "no patient"),
        ({"author": "nurse.kimura"}, "cannot be written"),
        ({"read_by": ["family.ito"]}, "cannot be written"),
        ({"acknowledged_by": ["family.ito"]}, "cannot be written"),
        ({"reply_to": "demo-ito-04"}, "reply_to"),
        ({"key": "bad key!"}, "clientId"),
    ],
)
def test_a_post_that_does_not_fit_the_file_is_refused(
    demo: dict[str, Any], change: dict[str, Any], named: str
) -> None:
    world = copy.deepcopy(demo)
    target = next(p for p in world["posts"] if p["key"] == "demo-ito-01")
    target.update(change)
    with pytest.raises(DemoFileError) as raised:
        validate_specs(world)
    assert named in str(raised.value)


async def test_a_broken_post_entry_stores_nothing(
    database_url: str, runtime: Runtime, demo: dict[str, Any]
) -> None:
    world = copy.deepcopy(demo)
    world["posts"].append(
        {
            "key": "demo-broken",
            "patient": "pt-ito-haru",
            "author": "nurse.sato",
            "category": "vitals",
            "body": "測定",
            "vitals": {"temperature": 3.7},
            "minutes_ago": 5,
        }
    )
    for spec in world["posts"]:
        spec["key"] = spec["key"] + "-again"
        if spec.get("reply_to"):
            spec["reply_to"] = spec["reply_to"] + "-again"
    before = await feed_snapshot(runtime)
    db = Database.from_url(database_url)
    try:
        with pytest.raises(DemoFileError, match="demo-broken-again: Must be between"):
            await load_demo_posts(db, MemoryBroker(), world)
    finally:
        await db.dispose()
    assert await feed_snapshot(runtime) == before
    async with runtime.db.session() as session:
        count = (await session.exec(select(func.count()).select_from(Post))).one()
    assert count == len(before["post"])
