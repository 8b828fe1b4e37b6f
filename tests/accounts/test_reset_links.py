"""Password-reset links: who may issue one for whom, and what issuing records."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlmodel import col, select

from renraku.accounts.admin import check_create_operator
from renraku.accounts.models import OneTimeLink
from renraku.accounts.secrets import token_hash
from renraku.audit.models import AuditRecord
from renraku.ids import encode_id
from renraku.runtime import Runtime
from renraku.timeutil import utcnow
from tests.accounts.helpers import snapshot, user_gid, user_row
from tests.support.graphql import GraphQLClient, error_codes

ISSUE = """
mutation($userId: ID!) { issuePasswordResetLink(userId: $userId) { url expiresAt } }
"""
SECOND_OPERATOR = "operator.two"

# actor, target, allowed. Team facts from seed/demo.toml: cm.tanaka coordinates teams with
# nurse.sato and family.ito; cm.watanabe coordinates one with dr.yamamoto (of Nishio); nurse.sato
# coordinates none.
MATRIX = [
    ("cm.tanaka", "nurse.sato", True),
    ("cm.tanaka", "family.ito", True),
    ("cm.tanaka", "cm.watanabe", False),  # shares no team that cm.tanaka coordinates
    ("cm.tanaka", "dr.yamamoto", False),
    ("cm.tanaka", "manager.gamagori", False),
    ("cm.tanaka", "cm.tanaka", False),  # not one's own account
    ("cm.watanabe", "dr.yamamoto", True),  # a team member from another municipality
    ("nurse.sato", "dr.suzuki", False),  # a member, not the coordinator
    ("family.ito", "nurse.sato", False),
    ("manager.gamagori", "nurse.sato", True),
    ("manager.gamagori", "family.ito", True),
    ("manager.gamagori", "planner.gamagori", True),
    ("manager.gamagori", "nurse.kimura", False),  # of Nishio
    ("manager.gamagori", "manager.nishio", False),
    ("manager.gamagori", "operator", False),
    ("planner.gamagori", "nurse.sato", False),
    ("operator", "manager.gamagori", True),
    ("operator", "planner.nishio", True),
    ("operator", SECOND_OPERATOR, True),
    ("operator", "operator", False),
    ("operator", "nurse.sato", False),  # operators never manage professionals' accounts
    ("operator", "family.ito", False),
]


async def test_reset_link_authorisation(gql: GraphQLClient, runtime: Runtime) -> None:
    await check_create_operator(runtime, username=SECOND_OPERATOR, display_name="運用 二郎")
    clients = {actor: await gql.login(actor) for actor in {row[0] for row in MATRIX}}
    for actor, target, allowed in MATRIX:
        before = await snapshot(runtime.db)
        target_row = await user_row(runtime.db, target)
        assert target_row.id is not None
        result = await clients[actor].execute(ISSUE, {"userId": encode_id("User", target_row.id)})
        if not allowed:
            assert error_codes(result) == ["NOT_FOUND"], (actor, target, result)
            assert await snapshot(runtime.db) == before, (actor, target)
            continue
        assert "errors" not in result, (actor, target, result)
        sessions, links, audits, users = before
        assert await snapshot(runtime.db) == (sessions, links + 1, audits + 1, users)
        async with runtime.db.session() as session:
            record = (
                await session.exec(select(AuditRecord).order_by(col(AuditRecord.id).desc()))
            ).first()
        assert record is not None and record.action == "accounts.reset_link_issued"
        assert record.actor_id == (await user_row(runtime.db, actor)).id
        assert record.object_ids == [target_row.id], (actor, target)


@pytest.mark.parametrize(
    "user_id",
    [
        encode_id("User", 999_999),
        encode_id("Patient", 1),
        "not-an-id",
        "x" * 500,
        "",
    ],
    ids=["missing", "other-type", "malformed", "oversized", "empty"],
)
async def test_ids_that_do_not_resolve_are_not_found(
    gql: GraphQLClient, runtime: Runtime, user_id: str
) -> None:
    client = await gql.login("operator")
    before = await snapshot(runtime.db)
    result = await client.execute(ISSUE, {"userId": user_id})
    assert error_codes(result) == ["NOT_FOUND"]
    assert await snapshot(runtime.db) == before


async def test_signed_out_callers_cannot_issue_links(gql: GraphQLClient, runtime: Runtime) -> None:
    result = await gql.execute(ISSUE, {"userId": await user_gid(runtime.db, "nurse.sato")})
    assert error_codes(result) == ["UNAUTHENTICATED"]


async def test_the_link_is_ours_expires_and_is_stored_only_as_a_hash(
    gql: GraphQLClient, runtime: Runtime
) -> None:
    client = await gql.login("manager.gamagori")
    result = await client.execute(ISSUE, {"userId": await user_gid(runtime.db, "nurse.sato")})
    issued = result["data"]["issuePasswordResetLink"]
    url = urlsplit(issued["url"])
    assert f"{url.scheme}://{url.netloc}" == runtime.settings.public_origin
    assert url.path == "/auth/link"
    token = parse_qs(url.query)["token"][0]
    async with runtime.db.session() as session:
        link = (
            await session.exec(
                select(OneTimeLink).where(OneTimeLink.token_hash == token_hash(token))
            )
        ).one()
    assert link.purpose == "reset" and link.used_at is None
    expected = utcnow() + timedelta(hours=runtime.settings.reset_link_hours)
    assert abs(link.expires_at - expected) < timedelta(minutes=1)
    assert issued["expiresAt"].startswith(link.expires_at.isoformat()[:19])
