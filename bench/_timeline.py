"""The access benchmark's timeline parts: the first page of a patient's notebook, and whether its
cost depends on how long the notebook is.

The size ratio runs through the real GraphQL endpoint (the Starlette app over ASGI, bearer
token, read auditing on): the first page of the patient with the big timeline against the first
page of a patient with 100 posts, one request of each in turn, after a warm-up.
"""

from __future__ import annotations

import time
from typing import Any

import httpx
from sqlalchemy import func
from sqlmodel import col, select

from _common import median, percentile
from renraku.accounts.actions import do_create_session
from renraku.accounts.models import User
from renraku.app import build_app
from renraku.feed.models import Post
from renraku.ids import encode_id
from renraku.kinds import TeamRole
from renraku.runtime import Runtime
from renraku.teams.models import TeamMembership

SMALL_TIMELINE = 100
GOAL_SIZE_RATIO = 1.5  # the 100,000-post notebook's first page at most 1.5x the 100-post one's

TIMELINE_QUERY = """
query Timeline($id: ID!) {
  patient(id: $id) { timeline(first: 20) { edges { node { id body category urgent createdAt } } } }
}"""


async def timeline_of_size(runtime: Runtime, size: int) -> int:
    """A patient with exactly `size` posts (the generator's big timelines have such)."""
    async with runtime.db.session() as session:
        found = (
            await session.exec(
                select(Post.patient_id)
                .group_by(col(Post.patient_id))
                .having(func.count() == size)
                .limit(1)
            )
        ).first()
    if found is None:
        raise SystemExit(f"no patient has {size:,} posts: seed with big_timelines including it")
    return found


async def coordinator_token(runtime: Runtime, patient_id: int) -> str:
    """A bearer token for the coordinator of the patient's team (no sign-in: no password)."""
    async with runtime.db.transaction() as session:
        user = (
            await session.exec(
                select(User)
                .join(TeamMembership, col(TeamMembership.user_id) == User.id)
                .where(
                    col(TeamMembership.patient_id) == patient_id,
                    col(TeamMembership.role) == TeamRole.COORDINATOR.value,
                )
            )
        ).one()
        issued = await do_create_session(session, runtime, user=user, kind="bearer", method="bench")
    return issued.token


async def _page(http: httpx.AsyncClient, token: str, patient_id: int) -> float:
    began = time.perf_counter()
    response = await http.post(
        "/graphql",
        json={"query": TIMELINE_QUERY, "variables": {"id": encode_id("Patient", patient_id)}},
        headers={"Authorization": f"Bearer {token}"},
    )
    elapsed = time.perf_counter() - began
    body: dict[str, Any] = response.json()
    edges = (((body.get("data") or {}).get("patient") or {}).get("timeline") or {}).get("edges")
    if response.status_code != 200 or "errors" in body or not edges or len(edges) != 20:
        raise SystemExit(f"timeline page failed: {response.status_code} {body.get('errors')}")
    return elapsed * 1000


async def size_ratio(runtime: Runtime, big: int, requests: int) -> float:
    """Print the first page of the `big`-post timeline beside the 100-post one; return the
    paired ratio (the goal's figure)."""
    big_id = await timeline_of_size(runtime, big)
    small_id = await timeline_of_size(runtime, SMALL_TIMELINE)
    tokens = {pid: await coordinator_token(runtime, pid) for pid in (big_id, small_id)}
    transport = httpx.ASGITransport(app=build_app(runtime.settings, runtime))
    times: dict[int, list[float]] = {big_id: [], small_id: []}
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8000") as http:
        for i in range(requests + 10):  # the first 10 of each warm up and are not counted
            order = (big_id, small_id) if i % 2 == 0 else (small_id, big_id)
            for pid in order:
                elapsed = await _page(http, tokens[pid], pid)
                if i >= 10:
                    times[pid].append(elapsed)
            if i % 50 == 0:
                await runtime.read_auditor.flush()
    await runtime.read_auditor.flush()
    ours, base = times[big_id], times[small_id]
    paired = median([o / b for o, b in zip(ours, base, strict=True)])
    print(
        f"timeline first page over HTTP: {big:,} posts {median(ours):.2f} ms "
        f"(p95 {percentile(ours, 0.95):.2f}), {SMALL_TIMELINE} posts {median(base):.2f} ms "
        f"(p95 {percentile(base, 0.95):.2f}); ratio {median(ours) / median(base):.3f}, "
        f"p95 {percentile(ours, 0.95) / percentile(base, 0.95):.3f}, paired {paired:.3f} "
        f"({requests} requests each)"
    )
    return paired
