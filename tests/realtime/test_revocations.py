"""Losing access is announced on the broker after commit, never before, never on rollback; in
process and through the real Redis."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from sqlmodel import select

from renraku.broker import MemoryBroker, RedisBroker
from renraku.db import Database
from renraku.ids import decode_id
from renraku.revocations import (
    CHANNEL,
    Revocation,
    RevocationReason,
    revoke_on_commit,
)
from renraku.runtime import Runtime, build_runtime
from renraku.settings import Settings
from renraku.teams.models import TeamMembership
from tests.conftest import make_settings
from tests.overlay.helpers import END, demo_incident_id, patients_inside
from tests.realtime.support import (
    BROKER_KINDS,
    REDIS_URL,
    drain_until_marker,
    receive,
    unique_prefix,
)
from tests.support.graphql import GraphQLClient
from tests.teams.helpers import patient_id, patient_pk, user_id, user_pk

END_MEMBERSHIP = """
mutation($p: ID!, $u: ID!, $reason: String!) {
  endTeamMembership(patientId: $p, userId: $u, reason: $reason) { role }
}
"""
ARCHIVE = "mutation($id: ID!) { archivePatient(id: $id, reason: DISCHARGE) { id } }"
OFFBOARD = "mutation($u: ID!) { offboardProfessional(userId: $u) { endedMemberships } }"


@pytest.fixture(params=BROKER_KINDS)
def broker_kind(request: pytest.FixtureRequest) -> str:
    kind: str = request.param
    return kind


@pytest.fixture
def prefix() -> str:
    return unique_prefix()


@pytest.fixture
def settings(database_url: str, broker_kind: str) -> Settings:
    return make_settings(database_url, broker_url=REDIS_URL if broker_kind == "redis" else None)


async def _runtime_for(settings: Settings, prefix: str) -> Runtime:
    built = build_runtime(settings, Database.from_url(settings.database_url))
    if settings.broker_url:
        assert isinstance(built.broker, RedisBroker)
        assert built.redis is not None
        # Channels of this test alone, so runs sharing the Redis never hear each other.
        await built.broker.close()
        built.broker = RedisBroker(built.redis, prefix=prefix)
    else:
        assert isinstance(built.broker, MemoryBroker)
    return built


@pytest.fixture
async def runtime(settings: Settings, prefix: str) -> AsyncIterator[Runtime]:
    built = await _runtime_for(settings, prefix)
    yield built
    await built.close()


def revocations(messages: list[dict[str, Any]]) -> list[Revocation]:
    return [r for m in messages if (r := Revocation.from_message(m)) is not None]


async def test_ending_a_membership_is_announced_once_committed(
    gql: GraphQLClient, runtime: Runtime
) -> None:
    nurse, ito = await user_pk(runtime, "nurse.sato"), await patient_pk(runtime, "pt-ito-haru")
    coordinator = await gql.login("cm.tanaka")
    async with runtime.broker.subscribe(CHANNEL) as subscription:

        async def listen() -> tuple[dict[str, Any], list[Any]]:
            message = await receive(subscription)
            # Read the database the moment the signal arrives: the change must already be there.
            async with runtime.db.session() as session:
                ends = (
                    await session.exec(
                        select(TeamMembership.ends_at).where(
                            TeamMembership.user_id == nurse, TeamMembership.patient_id == ito
                        )
                    )
                ).all()
            return message, list(ends)

        listener = asyncio.create_task(listen())
        result = await coordinator.execute(
            END_MEMBERSHIP,
            {
                "p": await patient_id(runtime, "pt-ito-haru"),
                "u": await user_id(runtime, "nurse.sato"),
                "reason": "担当交代",
            },
        )
        assert "errors" not in result, result
        message, ends = await listener
        assert all(end is not None for end in ends) and ends
        assert Revocation.from_message(message) == Revocation(
            user_ids=(nurse,), patient_ids=(ito,), reason=RevocationReason.MEMBERSHIP_ENDED
        )
        assert await drain_until_marker(runtime.broker, subscription, "after") == []


async def test_the_signal_waits_for_commit_and_a_rollback_sends_none(runtime: Runtime) -> None:
    async with runtime.broker.subscribe(CHANNEL) as subscription:
        async with runtime.db.transaction() as session:
            revoke_on_commit(
                session,
                runtime,
                user_id=1,
                patient_ids=[2],
                reason=RevocationReason.MEMBERSHIP_ENDED,
            )
            # Published inside the transaction: it must arrive before the revocation does.
            await runtime.broker.publish(CHANNEL, {"marker": "inside"})
            assert await receive(subscription) == {"marker": "inside"}
        [revocation] = revocations([await receive(subscription)])
        assert revocation.user_ids == (1,) and revocation.patient_ids == (2,)

        with pytest.raises(RuntimeError, match="changed my mind"):
            async with runtime.db.transaction() as session:
                revoke_on_commit(
                    session,
                    runtime.broker,
                    user_ids=[3],
                    patient_ids=[4],
                    reason=RevocationReason.OFFBOARDED,
                )
                raise RuntimeError("changed my mind")
        assert await drain_until_marker(runtime.broker, subscription, "after rollback") == []


async def test_nothing_to_revoke_publishes_nothing(runtime: Runtime) -> None:
    async with runtime.broker.subscribe(CHANNEL) as subscription:
        async with runtime.db.transaction() as session:
            revoke_on_commit(
                session, runtime, user_ids=[], patient_ids=[1], reason=RevocationReason.OFFBOARDED
            )
            revoke_on_commit(
                session, runtime, user_id=1, patient_ids=[], reason=RevocationReason.OFFBOARDED
            )
        assert await drain_until_marker(runtime.broker, subscription, "end") == []


async def _expected_archive(runtime: Runtime, demo: dict[str, Any]) -> Revocation:
    patient = next(p for p in demo["patients"] if p["key"] == "pt-ito-haru")
    users = [await user_pk(runtime, u) for u in [*patient["team"], *patient["family"]]]
    return Revocation(
        tuple(sorted(users)),
        (await patient_pk(runtime, "pt-ito-haru"),),
        RevocationReason.PATIENT_ARCHIVED,
    )


async def _expected_offboard(runtime: Runtime, demo: dict[str, Any]) -> Revocation:
    keys = [
        p["key"]
        for p in demo["patients"]
        if "nurse.kimura" in p["team"] and p["municipality"] == "232131"
    ]
    patients = sorted([await patient_pk(runtime, k) for k in keys])
    return Revocation(
        (await user_pk(runtime, "nurse.kimura"),), tuple(patients), RevocationReason.OFFBOARDED
    )


async def _expected_incident_end(runtime: Runtime, demo: dict[str, Any]) -> Revocation:
    incident = decode_id("Incident", await demo_incident_id(runtime))
    planners = [
        await user_pk(runtime, a["username"])
        for a in demo["accounts"]
        if a["kind"] == "planner" and a["municipality"] == "232149"
    ]
    return Revocation(
        tuple(sorted(planners)),
        tuple(sorted(await patients_inside(runtime, incident))),
        RevocationReason.INCIDENT_ENDED,
    )


Action = Callable[[GraphQLClient, Runtime], Awaitable[dict[str, Any]]]


async def _archive(gql: GraphQLClient, runtime: Runtime) -> dict[str, Any]:
    manager = await gql.login("manager.gamagori")
    return await manager.execute(ARCHIVE, {"id": await patient_id(runtime, "pt-ito-haru")})


async def _offboard(gql: GraphQLClient, runtime: Runtime) -> dict[str, Any]:
    manager = await gql.login("manager.nishio")
    return await manager.execute(OFFBOARD, {"u": await user_id(runtime, "nurse.kimura")})


async def _end_incident(gql: GraphQLClient, runtime: Runtime) -> dict[str, Any]:
    planner = await gql.login("planner.gamagori")
    return await planner.execute(END, {"id": await demo_incident_id(runtime)})


@pytest.mark.parametrize(
    ("action", "expected"),
    [
        (_archive, _expected_archive),
        (_offboard, _expected_offboard),
        (_end_incident, _expected_incident_end),
    ],
    ids=["archivePatient", "offboardProfessional", "endIncident"],
)
async def test_each_way_of_losing_access_names_who_lost_which_patients(
    gql: GraphQLClient,
    runtime: Runtime,
    demo: dict[str, Any],
    action: Action,
    expected: Callable[[Runtime, dict[str, Any]], Awaitable[Revocation]],
) -> None:
    wanted = await expected(runtime, demo)
    assert wanted.user_ids and wanted.patient_ids
    async with runtime.broker.subscribe(CHANNEL) as subscription:
        result = await action(gql, runtime)
        assert "errors" not in result, result
        assert revocations(await drain_until_marker(runtime.broker, subscription, "end")) == [
            wanted
        ]


async def test_a_failed_action_announces_nothing(gql: GraphQLClient, runtime: Runtime) -> None:
    manager = await gql.login("manager.gamagori")
    async with runtime.broker.subscribe(CHANNEL) as subscription:
        # Another municipality's professional: NOT_FOUND, nothing changes, nothing is said.
        result = await manager.execute(OFFBOARD, {"u": await user_id(runtime, "nurse.kimura")})
        assert result["errors"][0]["extensions"]["code"] == "NOT_FOUND"
        result = await manager.execute(
            END_MEMBERSHIP,
            {
                "p": await patient_id(runtime, "pt-ito-haru"),
                "u": await user_id(runtime, "nurse.sato"),
                "reason": "",
            },
        )
        assert result["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
        assert await drain_until_marker(runtime.broker, subscription, "end") == []


async def test_a_subscriber_in_another_runtime_hears_it_only_through_redis(
    gql: GraphQLClient, runtime: Runtime, settings: Settings, prefix: str, broker_kind: str
) -> None:
    other = await _runtime_for(settings, prefix)
    try:
        async with (
            runtime.broker.subscribe(CHANNEL) as here,
            other.broker.subscribe(CHANNEL) as there,
        ):
            result = await _offboard(gql, runtime)
            assert "errors" not in result, result
            heard_here = revocations(await drain_until_marker(runtime.broker, here, "here"))
            heard_there = revocations(await drain_until_marker(other.broker, there, "there"))
            assert len(heard_here) == 1
            assert heard_there == (heard_here if broker_kind == "redis" else [])
    finally:
        await other.close()
