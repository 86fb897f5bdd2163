"""Retry and event-age arithmetic of asynchronous invocation, on a fake clock."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from nimbus.domain.retries import (
    Condition,
    GiveUp,
    Retry,
    RetryPolicy,
    after_function_error,
    after_throttle,
)


@dataclass
class FakeClock:
    now: float = 1_000_000.0

    def advance(self, seconds: float) -> float:
        self.now += seconds
        return self.now


def test_function_errors_wait_one_then_two_minutes() -> None:
    policy = RetryPolicy()
    assert (policy.function_error_delay(1), policy.function_error_delay(2)) == (60.0, 120.0)


def test_throttle_backoff_doubles_from_one_second_to_five_minutes() -> None:
    policy = RetryPolicy()
    assert [policy.throttle_delay(n) for n in (1, 2, 3, 4)] == [1.0, 2.0, 4.0, 8.0]
    assert policy.throttle_delay(9) == 256.0
    assert policy.throttle_delay(10) == policy.throttle_delay(500) == 300.0


def test_scale_shrinks_every_delay_and_the_age_limit() -> None:
    policy = RetryPolicy(scale=0.01)
    assert policy.function_error_delay(1) == pytest.approx(0.6)
    assert policy.throttle_delay(1) == pytest.approx(0.01)
    assert policy.expires_at(100.0) == pytest.approx(100.0 + 216.0)


def test_default_policy_retries_twice_then_gives_up() -> None:
    clock, policy = FakeClock(), RetryPolicy()
    enqueued = clock.now
    first = after_function_error(policy, enqueued, attempts=1, throttles=0, now=clock.now)
    assert first == Retry(clock.now + 60, attempts=1, throttles=0)
    second = after_function_error(policy, enqueued, attempts=2, throttles=0, now=clock.advance(61))
    assert second == Retry(clock.now + 120, attempts=2, throttles=0)
    third = after_function_error(policy, enqueued, attempts=3, throttles=0, now=clock.advance(121))
    assert third == GiveUp(Condition.RETRIES_EXHAUSTED)


def test_zero_retries_gives_up_after_the_first_attempt() -> None:
    decision = after_function_error(RetryPolicy(max_retries=0), 0.0, attempts=1, throttles=0, now=1.0)
    assert decision == GiveUp(Condition.RETRIES_EXHAUSTED)


def test_a_retry_that_would_start_after_the_age_limit_is_not_scheduled() -> None:
    clock = FakeClock()
    policy = RetryPolicy(max_age=60)
    decision = after_function_error(policy, clock.now, attempts=1, throttles=0, now=clock.advance(1))
    assert decision == GiveUp(Condition.EVENT_AGE_EXCEEDED)


def test_a_retry_within_the_age_limit_is_scheduled() -> None:
    clock = FakeClock()
    policy = RetryPolicy(max_age=3600)
    decision = after_function_error(policy, clock.now, attempts=1, throttles=0, now=clock.advance(5))
    assert decision == Retry(clock.now + 60, attempts=1, throttles=0)


def test_throttles_back_off_without_using_up_attempts() -> None:
    clock, policy = FakeClock(), RetryPolicy()
    enqueued = clock.now
    for throttles, delay in ((1, 1.0), (2, 2.0), (3, 4.0)):
        decision = after_throttle(policy, enqueued, attempts=1, throttles=throttles, now=clock.advance(1))
        assert decision == Retry(clock.now + delay, attempts=1, throttles=throttles)


def test_throttled_event_expires_at_the_age_limit() -> None:
    clock = FakeClock()
    policy = RetryPolicy(max_age=60)
    enqueued = clock.now
    assert isinstance(after_throttle(policy, enqueued, 0, 5, now=clock.advance(30)), Retry)
    assert after_throttle(policy, enqueued, 0, 6, now=clock.advance(29)) == GiveUp(Condition.EVENT_AGE_EXCEEDED)


def test_expiry_is_measured_from_acceptance() -> None:
    clock = FakeClock()
    policy = RetryPolicy(max_age=60, scale=0.5)
    enqueued = clock.now
    assert not policy.is_expired(enqueued, clock.advance(29.9))
    assert policy.is_expired(enqueued, clock.advance(0.1))
