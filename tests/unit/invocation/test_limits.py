"""Concurrency accounting: reserved pools, the shared unreserved pool, provisioned concurrency, AWS's reasons."""

from __future__ import annotations

import pytest

from nimbus.errors import TooManyRequests
from nimbus.invocation.limits import ConcurrencyLimits, Reason


def throttle_reason(limits: ConcurrencyLimits, name: str) -> str:
    with pytest.raises(TooManyRequests) as caught:
        limits.acquire(name)
    assert caught.value.status == 429 and caught.value.headers == {"Retry-After": "1"}
    return caught.value.extra["Reason"]


def test_zero_reserved_throttles_every_invoke_with_the_reserved_reason() -> None:
    limits = ConcurrencyLimits(1000)
    limits.set_reserved("fn", 0)
    assert throttle_reason(limits, "fn") == "ReservedFunctionConcurrentInvocationLimitExceeded"
    assert limits.running("fn") == 0


def test_reserved_concurrency_caps_the_function_and_frees_on_release() -> None:
    limits = ConcurrencyLimits(1000)
    limits.set_reserved("fn", 1)
    slot = limits.acquire("fn")
    assert throttle_reason(limits, "fn") == Reason.RESERVED
    limits.release(slot)
    limits.release(limits.acquire("fn"))
    assert limits.running("fn") == 0


def test_account_limit_throttles_unreserved_functions_with_the_account_reason() -> None:
    limits = ConcurrencyLimits(2)
    slots = [limits.acquire("a"), limits.acquire("b")]
    assert throttle_reason(limits, "c") == "ConcurrentInvocationLimitExceeded"
    limits.release(slots[0])
    limits.acquire("c")


def test_reservations_are_taken_out_of_the_shared_pool_and_kept_for_their_function() -> None:
    limits = ConcurrencyLimits(3)
    limits.set_reserved("reserved", 2)
    assert (limits.unreserved, limits.shared_pool) == (1, 1)
    limits.acquire("other")
    assert throttle_reason(limits, "other") == Reason.ACCOUNT
    limits.acquire("reserved")
    limits.acquire("reserved")  # its reservation stays available while the shared pool is full
    assert throttle_reason(limits, "reserved") == Reason.RESERVED


def test_provisioned_concurrency_is_used_first_then_the_shared_pool() -> None:
    limits = ConcurrencyLimits(3)
    limits.set_provisioned("fn", 2)
    assert limits.shared_pool == 1 and limits.unreserved == 3  # GetAccountSettings counts reservations only
    own = [limits.acquire("fn"), limits.acquire("fn")]
    assert not any(slot.shared for slot in own)
    shared = limits.acquire("fn")
    assert shared.shared
    assert throttle_reason(limits, "fn") == Reason.ACCOUNT
    limits.release(own[0])
    assert not limits.acquire("fn").shared  # a freed provisioned slot is used before the shared pool


def test_provisioned_concurrency_of_a_reserved_function_comes_out_of_its_reservation() -> None:
    limits = ConcurrencyLimits(1000)
    limits.set_reserved("fn", 1)
    limits.set_provisioned("fn", 1)
    assert limits.shared_pool == 999
    limits.acquire("fn")
    assert throttle_reason(limits, "fn") == Reason.RESERVED


def test_lease_returns_the_slot_when_the_invoke_fails() -> None:
    limits = ConcurrencyLimits(1)
    with pytest.raises(RuntimeError), limits.lease("fn"):
        raise RuntimeError("boom")
    assert limits.running("fn") == 0
    with limits.lease("fn"):
        assert limits.running("fn") == 1


def test_removing_a_reservation_puts_the_function_back_in_the_shared_pool() -> None:
    limits = ConcurrencyLimits(10)
    limits.set_reserved("fn", 0)
    limits.set_reserved("fn", None)
    assert limits.reserved("fn") is None and limits.unreserved == 10
    limits.acquire("fn")
