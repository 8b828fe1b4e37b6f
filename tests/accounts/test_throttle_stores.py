"""The sign-in slow-down behaves the same in memory and in Redis (shared by workers)."""

from __future__ import annotations

import uuid

import pytest

from renraku.errors import RateLimited
from renraku.throttle import (
    FailureStore,
    Limits,
    LoginThrottle,
)

LIMITS = Limits(
    free_per_account_address=3,
    free_per_account=6,
    free_per_address=50,
    max_delay_seconds=60,
    window_seconds=900,
)


async def _fail(throttle: LoginThrottle, user: str, address: str, times: int) -> None:
    for _ in range(times):
        await throttle.failed(user, address)


async def test_free_failures_then_a_wait(store: FailureStore) -> None:
    throttle = LoginThrottle(store, LIMITS)
    user = f"u-{uuid.uuid4().hex}"
    await _fail(throttle, user, "10.0.0.1", 2)
    await throttle.check(user, "10.0.0.1")
    await _fail(throttle, user, "10.0.0.1", 1)
    with pytest.raises(RateLimited) as raised:
        await throttle.check(user, "10.0.0.1")
    assert 1 <= raised.value.retry_after <= LIMITS.max_delay_seconds


async def test_wait_doubles_but_never_passes_the_cap(store: FailureStore) -> None:
    throttle = LoginThrottle(store, LIMITS)
    user = f"u-{uuid.uuid4().hex}"
    waits = []
    for _ in range(12):
        await throttle.failed(user, "10.0.0.2")
        try:
            await throttle.check(user, "10.0.0.2")
            waits.append(0)
        except RateLimited as error:
            waits.append(error.retry_after)
    assert waits == sorted(waits)
    assert max(waits) == LIMITS.max_delay_seconds


async def test_someone_elses_failures_slow_the_account_only_briefly(store: FailureStore) -> None:
    throttle = LoginThrottle(store, LIMITS)
    user = f"u-{uuid.uuid4().hex}"
    await _fail(throttle, user, "10.0.0.3", 3)
    # From another address the owner is not held by the (account, address) count...
    await throttle.check(user, "10.0.0.4")
    # ...and even once the per-account count bites, the wait is bounded, never a lockout.
    await _fail(throttle, user, "10.0.0.3", 30)
    with pytest.raises(RateLimited) as raised:
        await throttle.check(user, "10.0.0.4")
    assert raised.value.retry_after <= LIMITS.max_delay_seconds


async def test_success_clears_the_account_address_count(store: FailureStore) -> None:
    throttle = LoginThrottle(store, LIMITS)
    user = f"u-{uuid.uuid4().hex}"
    await _fail(throttle, user, "10.0.0.5", 2)
    await throttle.succeeded(user, "10.0.0.5")
    await _fail(throttle, user, "10.0.0.5", 2)
    await throttle.check(user, "10.0.0.5")
