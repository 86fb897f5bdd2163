"""Retry and event-age arithmetic for asynchronous invocation, as AWS documents it.

reference/lambda-data-plane.md §6 (docs: invocation-async-error-handling):
- a function error (raised, timed out, crashed) uses up an attempt; Lambda "attempts to run it two more times, with
  a one-minute wait between the first two attempts, and two minutes between the second and third";
- a throttle or a platform fault returns the event to the queue without using up an attempt; "the retry interval
  increases exponentially from 1 second after the first attempt to a maximum of 5 minutes";
- an event older than MaximumEventAgeInSeconds is given up on. Like Lambda, a retry that could only start after the
  event expires is not scheduled: the event is given up on at once, with the response of the attempt that failed.

Times are epoch seconds. `scale` multiplies every delay and the age limit (the async_retry_scale setting), so a
test can watch minutes of AWS behaviour pass in a fraction of a second.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

DEFAULT_MAX_RETRIES = 2
DEFAULT_MAX_EVENT_AGE = 21_600  # 6 hours
# Waits after the first and the second failed attempt.
FUNCTION_ERROR_DELAYS = (60.0, 120.0)
THROTTLE_FIRST_DELAY = 1.0
THROTTLE_MAX_DELAY = 300.0


class Condition(enum.StrEnum):
    """`requestContext.condition` of an invocation record."""

    SUCCESS = "Success"
    RETRIES_EXHAUSTED = "RetriesExhausted"
    EVENT_AGE_EXCEEDED = "EventAgeExceeded"


@dataclass(frozen=True)
class RetryPolicy:
    max_retries: int = DEFAULT_MAX_RETRIES
    max_age: float = DEFAULT_MAX_EVENT_AGE
    scale: float = 1.0

    def function_error_delay(self, attempts: int) -> float:
        """The wait after the `attempts`-th failed attempt (1 → one minute, 2 → two minutes)."""
        index = min(max(attempts, 1), len(FUNCTION_ERROR_DELAYS)) - 1
        return FUNCTION_ERROR_DELAYS[index] * self.scale

    def throttle_delay(self, throttles: int) -> float:
        """The wait after the `throttles`-th refused run: 1 s, 2 s, 4 s ... at most 5 minutes."""
        exponent = min(max(throttles, 1) - 1, 16)
        return min(THROTTLE_FIRST_DELAY * 2.0**exponent, THROTTLE_MAX_DELAY) * self.scale

    def expires_at(self, enqueued_at: float) -> float:
        return enqueued_at + self.max_age * self.scale

    def is_expired(self, enqueued_at: float, now: float) -> bool:
        return now >= self.expires_at(enqueued_at)


@dataclass(frozen=True)
class Retry:
    """Run the event again at `at` (epoch seconds) with these counts."""

    at: float
    attempts: int
    throttles: int


@dataclass(frozen=True)
class GiveUp:
    condition: Condition


Decision = Retry | GiveUp


def after_function_error(
    policy: RetryPolicy, enqueued_at: float, attempts: int, throttles: int, now: float
) -> Decision:
    """The event's `attempts`-th run (counting this one) ended in a function error."""
    if attempts > policy.max_retries:
        return GiveUp(Condition.RETRIES_EXHAUSTED)
    at = now + policy.function_error_delay(attempts)
    if at >= policy.expires_at(enqueued_at):
        return GiveUp(Condition.EVENT_AGE_EXCEEDED)
    return Retry(at, attempts, throttles)


def after_throttle(policy: RetryPolicy, enqueued_at: float, attempts: int, throttles: int, now: float) -> Decision:
    """The event could not run (throttled, or a fault of the platform): `throttles` counts this refusal too."""
    at = now + policy.throttle_delay(throttles)
    if at >= policy.expires_at(enqueued_at):
        return GiveUp(Condition.EVENT_AGE_EXCEEDED)
    return Retry(at, attempts, throttles)
