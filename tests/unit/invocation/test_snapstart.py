"""SnapStart's API errors (status, code, AWS's message) and the StateReason of a version whose snapshot failed."""

from __future__ import annotations

import orjson

from nimbus.invocation.snapstart import (
    NOT_READY,
    SnapStartFailed,
    SnapStartNotReady,
    SnapStartTimedOut,
    failed_reason,
    restore_error,
)
from nimbus.runtime.results import InitOutcome


def test_not_ready_is_a_409_with_aws_documented_message() -> None:
    error = SnapStartNotReady()
    assert (error.code, error.status) == ("SnapStartNotReadyException", 409)
    assert error.message == NOT_READY
    assert NOT_READY == (
        "Lambda is initializing your function. It will be ready to invoke once your function state becomes ACTIVE."
    )


def test_a_hook_that_timed_out_is_a_snapstart_timeout() -> None:
    timed_out = InitOutcome(10_000.0, b"{}", "SnapStartTimeoutException", restore=True)
    error = restore_error(timed_out)
    assert isinstance(error, SnapStartTimedOut)
    assert (error.code, error.status) == ("SnapStartTimeoutException", 408)
    assert error.message == "Lambda couldn't restore the snapshot within the timeout limit."


def test_a_hook_that_raised_is_a_snapstart_exception() -> None:
    for error_type in ("RuntimeError", "Runtime.Unknown", "Runtime.ExitError", None):
        error = restore_error(InitOutcome(1.0, b"{}", error_type, restore=True))
        assert isinstance(error, SnapStartFailed)
        assert (error.code, error.status) == ("SnapStartException", 400)
    assert SnapStartFailed().message.startswith("The afterRestore() runtime hook encountered an error.")


def test_failed_reason_names_the_init_error_and_its_message() -> None:
    payload = orjson.dumps({"errorMessage": "no init", "errorType": "ValueError", "stackTrace": []})
    assert failed_reason(InitOutcome(3.0, payload, "ValueError")) == (
        "Lambda couldn't create a snapshot of the function: ValueError: no init"
    )


def test_failed_reason_without_a_message_ends_at_the_type() -> None:
    payload = orjson.dumps({"errorType": "Runtime.ExitError"})
    assert failed_reason(InitOutcome(3.0, payload, "Runtime.ExitError")) == (
        "Lambda couldn't create a snapshot of the function: Runtime.ExitError"
    )


def test_failed_reason_of_an_unreadable_payload_falls_back_to_the_error_type() -> None:
    assert failed_reason(InitOutcome(3.0, b"not json", "Sandbox.Timedout")) == (
        "Lambda couldn't create a snapshot of the function: Sandbox.Timedout"
    )
    assert failed_reason(InitOutcome(3.0, b"{}", None)) == (
        "Lambda couldn't create a snapshot of the function: Runtime.Unknown"
    )
