"""The demo notebook: `[[posts]]` of seed/demo.toml, loaded by `renraku seed demo`.

Each post is written through the same do_* functions as a real one, so its events and audit
records exist; the file's `key` is the post's client id, so loading twice adds nothing. Posts are
written oldest first (`minutes_ago`), so that their ids follow time as the timeline expects.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from renraku.accounts.models import User
from renraku.accounts.service import actor_for
from renraku.broker import Broker
from renraku.db import Database
from renraku.errors import BadInput
from renraku.feed import service
from renraku.feed.models import Post
from renraku.feed.posts import (
    PostDraft,
    do_create_post,
    new_post,
    validate_body,
    validate_client_id,
)
from renraku.feed.receipts import do_acknowledge_post, do_mark_read
from renraku.feed.vitals import validate_vitals
from renraku.kinds import PostCategory
from renraku.teams.models import Patient
from renraku.timeutil import utcnow


class DemoFileError(ValueError):
    """seed/demo.toml's posts do not fit its own people and patients."""


def validate_specs(world: dict[str, Any]) -> list[dict[str, Any]]:
    """The post specs, oldest first, each checked against the file's patients and teams."""
    patients = {p["key"]: p for p in world.get("patients", [])}
    specs = list(world.get("posts", []))
    minutes: dict[str, int] = {}
    for spec in specs:
        key = str(spec.get("key"))
        try:
            validate_client_id(key)
            validate_body(spec.get("body", ""))
            validate_vitals(spec.get("vitals", {}))
            PostCategory(spec["category"])
        except (BadInput, ValueError) as error:
            raise DemoFileError(f"post {key}: {error}") from None
        patient = patients.get(spec["patient"])
        if patient is None:
            raise DemoFileError(f"post {key}: no patient {spec['patient']}")
        team, family = list(patient.get("team", [])), list(patient.get("family", []))
        readers = team + family if spec.get("visible_to_family") else team
        people = [spec["author"], *spec.get("read_by", [])]
        strangers = [name for name in people if name not in readers]
        strangers += [name for name in spec.get("acknowledged_by", []) if name not in team]
        if strangers or spec["author"] in spec.get("read_by", []):
            raise DemoFileError(f"post {key}: cannot be written or read by {strangers}")
        parent = spec.get("reply_to")
        if parent is not None and (parent not in minutes or minutes[parent] <= spec["minutes_ago"]):
            raise DemoFileError(f"post {key}: reply_to must name an earlier post above it")
        minutes[key] = int(spec["minutes_ago"])
    return sorted(specs, key=lambda s: -int(s["minutes_ago"]))


async def load_demo_posts(db: Database, broker: Broker, world: dict[str, Any]) -> int:
    """Write the demo posts not written yet, with their receipts; how many were new."""
    specs = validate_specs(world)
    if not specs:
        return 0
    created = 0
    async with db.transaction() as session:
        users = await _users(session, specs)
        patients = await _patients(session)
        keys: dict[str, Post] = {}
        for spec in specs:
            author = users[spec["author"]]
            assert author.id is not None
            existing = await service.find_by_client_id(
                session, author_id=author.id, client_id=spec["key"]
            )
            if existing is not None:
                keys[spec["key"]] = existing
                continue
            post = await _write(session, broker, spec, author, patients, keys)
            keys[spec["key"]] = post
            created += 1
            for name in spec.get("read_by", []):
                await do_mark_read(session, broker, actor=actor_for(users[name]), posts=[post])
            for name in spec.get("acknowledged_by", []):
                await do_acknowledge_post(session, broker, actor=actor_for(users[name]), post=post)
    return created


async def _write(
    session: AsyncSession,
    broker: Broker,
    spec: dict[str, Any],
    author: User,
    patients: dict[str, int],
    keys: dict[str, Post],
) -> Post:
    draft = PostDraft(
        patient_id=patients[spec["patient"]],
        client_id=spec["key"],
        category=PostCategory(spec["category"]),
        body=spec.get("body", ""),
        vitals=dict(spec.get("vitals", {})),
        urgent=bool(spec.get("urgent", False)),
        visible_to_family=bool(spec.get("visible_to_family", False)),
    )
    actor = actor_for(author)
    # Checked as createPost checks it; then placed in its thread and back in time.
    post = new_post(actor, draft)
    parent = keys[spec["reply_to"]] if spec.get("reply_to") else None
    post.reply_to_id = (parent.reply_to_id or parent.id) if parent else None
    post.created_at = utcnow() - timedelta(minutes=int(spec["minutes_ago"]))
    return await do_create_post(session, broker, actor=actor, post=post, draft=draft)


async def _users(session: AsyncSession, specs: list[dict[str, Any]]) -> dict[str, User]:
    names = {s["author"] for s in specs}
    for spec in specs:
        names |= {*spec.get("read_by", []), *spec.get("acknowledged_by", [])}
    rows = await session.exec(select(User).where(col(User.username).in_(sorted(names))))
    return {u.username: u for u in rows.all()}


async def _patients(session: AsyncSession) -> dict[str, int]:
    rows = await session.exec(
        select(Patient.external_ref, Patient.id).where(col(Patient.external_ref).is_not(None))
    )
    return {ref: pid for ref, pid in rows.all() if ref is not None and pid is not None}
