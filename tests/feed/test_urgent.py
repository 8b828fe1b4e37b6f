"""The urgent-escalation job: an urgent post no professional read in time goes to the coordinator.

The demo notebook holds one such post already (pt-nakano-shigeru, coordinator cm.watanabe).
Times are moved by writing created_at, never by waiting.
"""

from __future__ import annotations

import json

from sqlalchemy import func, update
from sqlmodel import col, select

from renraku.audit.models import AuditRecord
from renraku.feed.models import FeedEvent, Post
from renraku.feed.urgent import JOB_NAME, NOTICE_KIND, escalate_unread
from renraku.ids import encode_id
from renraku.jobs import all_jobs
from renraku.notices.models import Notice
from renraku.runtime import Runtime
from renraku.settings import load_settings
from renraku.teams.models import TeamMembership
from renraku.timeutil import utcnow
from tests.feed.post_support import (
    READ_POST,
    Clients,
    age_post,
    clients,
    create_post,
    patient_gid,
    post_pk,
)
from tests.support.concurrent import side_by_side
from tests.teams.helpers import patient_pk, user_pk

__all__ = ["clients"]

MARK = "mutation($ids: [ID!]!) { markPostsRead(postIds: $ids) }"
OLD = 2.0  # hours: past the default 30 minutes


async def _escalated(runtime: Runtime) -> dict[int | None, object]:
    async with runtime.db.session() as session:
        rows = await session.exec(
            select(Post.id, Post.escalated_at).where(col(Post.escalated_at).is_not(None))
        )
        return dict(rows.all())


async def _notices(runtime: Runtime, post_id: int) -> list[Notice]:
    async with runtime.db.session() as session:
        rows = await session.exec(select(Notice).where(col(Notice.kind) == NOTICE_KIND))
        return [n for n in rows.all() if n.data.get("post_id") == post_id]


async def _quiet(runtime: Runtime) -> None:
    """Escalate whatever the demo world holds, so each test sees only its own posts."""
    await escalate_unread(runtime)


async def test_an_unread_urgent_post_is_raised_to_the_coordinator_once(
    clients: Clients, runtime: Runtime
) -> None:
    async with runtime.db.session() as session:
        demo = (
            await session.exec(select(Post).where(col(Post.client_id) == "demo-nakano-02"))
        ).one()
    assert demo.urgent and demo.escalated_at is None
    audit_before = await _max_audit(runtime)

    assert await escalate_unread(runtime) >= 1
    assert demo.id is not None
    escalated = await _escalated(runtime)
    assert demo.id in escalated
    (notice,) = await _notices(runtime, demo.id)
    assert notice.user_id == await user_pk(runtime, "cm.watanabe")
    assert notice.data == {"post_id": demo.id, "patient_id": demo.patient_id}
    assert notice.patient_id == demo.patient_id
    # Ids only: nothing of the post's text in the notice.
    assert "アラーム" not in json.dumps(notice.data, ensure_ascii=False)

    async with runtime.db.session() as session:
        events = (
            await session.exec(
                select(FeedEvent).where(
                    col(FeedEvent.kind) == "feed.post_escalated",
                    col(FeedEvent.post_id) == demo.id,
                )
            )
        ).all()
        records = (
            await session.exec(
                select(AuditRecord).where(
                    col(AuditRecord.id) > audit_before,
                    col(AuditRecord.action) == "feed.posts_escalated",
                )
            )
        ).all()
    assert [(e.audience, e.patient_id) for e in events] == [("professionals", demo.patient_id)]
    (record,) = records
    assert (record.actor_id, record.actor_kind) == (None, "system")
    assert demo.id in record.detail["post_ids"] and demo.patient_id in record.object_ids

    # The next round finds nothing new; the post is never raised twice.
    assert await escalate_unread(runtime) == 0
    assert len(await _notices(runtime, demo.id)) == 1
    coordinator = await clients("cm.watanabe")
    shown = await coordinator.execute(READ_POST, {"id": _gid(demo.id)})
    assert shown["data"]["post"]["escalatedAt"] is not None


def _gid(pk: int) -> str:
    return encode_id("Post", pk)


async def _max_audit(runtime: Runtime) -> int:
    async with runtime.db.session() as session:
        return int((await session.exec(select(func.max(AuditRecord.id)))).one() or 0)


async def test_a_post_read_by_a_professional_or_not_yet_due_stays_put(
    clients: Clients, runtime: Runtime
) -> None:
    await _quiet(runtime)
    pid = await patient_gid(runtime, "pt-ito-haru")
    nurse = await clients("nurse.sato")
    read = await create_post(nurse, pid, "至急：発熱", urgent=True)
    fresh = await create_post(nurse, pid, "至急：転倒", urgent=True)
    calm = await create_post(nurse, pid, "通常の記録")
    withdrawn = await create_post(nurse, pid, "至急（誤り）", urgent=True)
    family_only = await create_post(nurse, pid, "至急：ご家族へ", urgent=True, visibleToFamily=True)
    for post in (read, calm, withdrawn, family_only):
        await age_post(runtime, post["id"], hours=OLD)
    doctor = await clients("dr.suzuki")
    assert (await doctor.execute(MARK, {"ids": [read["id"]]}))["data"]["markPostsRead"] == 1
    retract = 'mutation($id: ID!) { retractPost(postId: $id, reason: "誤記") { id } }'
    assert "errors" not in await nurse.execute(retract, {"id": withdrawn["id"]})
    # Read by family only: no professional has seen it.
    family = await clients("family.ito")
    assert (await family.execute(MARK, {"ids": [family_only["id"]]}))["data"]["markPostsRead"]

    assert await escalate_unread(runtime) == 1
    assert set(await _escalated(runtime)) >= {post_pk(family_only["id"])}
    for post in (read, fresh, calm, withdrawn):
        assert post_pk(post["id"]) not in await _escalated(runtime)
    coordinator = await user_pk(runtime, "cm.tanaka")
    assert [n.user_id for n in await _notices(runtime, post_pk(family_only["id"]))] == [coordinator]


async def test_a_read_by_someone_no_longer_on_the_team_does_not_count(
    clients: Clients, runtime: Runtime
) -> None:
    await _quiet(runtime)
    pid = await patient_gid(runtime, "pt-ito-haru")
    post = await create_post(await clients("nurse.sato"), pid, "至急：SpO2 低下", urgent=True)
    await age_post(runtime, post["id"], hours=OLD)
    pharmacist = await clients("pharm.kato")
    assert (await pharmacist.execute(MARK, {"ids": [post["id"]]}))["data"]["markPostsRead"] == 1
    async with runtime.db.transaction() as session:
        await session.exec(
            update(TeamMembership)
            .where(
                col(TeamMembership.patient_id) == await patient_pk(runtime, "pt-ito-haru"),
                col(TeamMembership.user_id) == await user_pk(runtime, "pharm.kato"),
            )
            .values(ends_at=utcnow())
        )
    assert await escalate_unread(runtime) == 1
    assert post_pk(post["id"]) in await _escalated(runtime)


async def test_two_workers_running_the_job_at_once_raise_each_post_once(
    clients: Clients, runtime: Runtime
) -> None:
    await _quiet(runtime)
    nurse = await clients("nurse.takahashi")
    posts = []
    for key in ("pt-okamoto-fumi", "pt-hattori-kiyo", "pt-goto-isamu"):
        post = await create_post(nurse, await patient_gid(runtime, key), "至急", urgent=True)
        await age_post(runtime, post["id"], hours=OLD)
        posts.append(post_pk(post["id"]))
    handled = await side_by_side(*(escalate_unread(runtime) for _ in range(4)))
    assert sum(handled) == len(posts)
    for post_id in posts:
        assert len(await _notices(runtime, post_id)) == 1
    async with runtime.db.session() as session:
        events = (
            await session.exec(
                select(FeedEvent.post_id).where(col(FeedEvent.kind) == "feed.post_escalated")
            )
        ).all()
    assert all(events.count(p) == 1 for p in posts)


async def test_the_job_runs_every_minute_and_its_times_are_configuration() -> None:
    (job,) = [j for j in all_jobs() if j.name == JOB_NAME]
    assert job.every_seconds == 60
    assert load_settings({}).urgent_escalation_minutes == 30
    assert load_settings({}).instruction_overdue_hours == 24
    env = {"RENRAKU_URGENT_ESCALATION_MINUTES": "5", "RENRAKU_INSTRUCTION_OVERDUE_HOURS": "48"}
    configured = load_settings(env)
    assert (configured.urgent_escalation_minutes, configured.instruction_overdue_hours) == (5, 48)
