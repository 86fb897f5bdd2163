"""START / END / REPORT / INIT_* lines, byte for byte as AWS prints them in the Text log format."""

from __future__ import annotations

import re

import pytest

from nimbus.domain.reports import Report, end_line, init_report_line, init_start_line, report_line, start_line

RID = "8f507cfc-xmpl-4697-b07a-ac58fc914c95"


def test_start_line_names_request_and_version() -> None:
    assert start_line(RID, "$LATEST") == f"START RequestId: {RID} Version: $LATEST"
    assert start_line(RID, "3") == f"START RequestId: {RID} Version: 3"


def test_end_line() -> None:
    assert end_line(RID) == f"END RequestId: {RID}"


def test_warm_report_has_tabs_and_a_trailing_tab() -> None:
    line = report_line(Report(RID, duration_ms=26.734, memory_size=128, max_memory_mb=75))
    assert line == (
        f"REPORT RequestId: {RID}\tDuration: 26.73 ms\tBilled Duration: 27 ms\tMemory Size: 128 MB\t"
        "Max Memory Used: 75 MB\t"
    )


def test_cold_report_adds_init_duration_and_bills_it() -> None:
    line = report_line(Report(RID, duration_ms=15.74, memory_size=128, max_memory_mb=56, init_duration_ms=130.49))
    assert line == (
        f"REPORT RequestId: {RID}\tDuration: 15.74 ms\tBilled Duration: 147 ms\tMemory Size: 128 MB\t"
        "Max Memory Used: 56 MB\tInit Duration: 130.49 ms\t"
    )


@pytest.mark.parametrize(
    ("duration", "init", "billed"),
    [
        (0.21, None, 1),
        (1.0, None, 1),
        (2.0004, None, 2),  # prints as 2.00 ms: billed is the ceiling of what the line shows
        (3004.92, 111.23, 3117),
        (133.61, 80.0, 214),
    ],
)
def test_billed_duration_is_the_ceiling_in_whole_ms(duration: float, init: float | None, billed: int) -> None:
    assert Report(RID, duration, 128, 1, init_duration_ms=init).billed_ms == billed


def test_timeout_report_ends_with_status_timeout() -> None:
    line = report_line(Report(RID, 1000.5, 128, 40, status="timeout"))
    assert line.endswith("Max Memory Used: 40 MB\tStatus: timeout")


def test_error_report_names_the_error_type() -> None:
    line = report_line(Report(RID, 376256.59, 10239, 10239, 551.73, status="error", error_type="Runtime.OutOfMemory"))
    assert line == (
        f"REPORT RequestId: {RID}\tDuration: 376256.59 ms\tBilled Duration: 376809 ms\tMemory Size: 10239 MB\t"
        "Max Memory Used: 10239 MB\tInit Duration: 551.73 ms\tStatus: error\tError Type: Runtime.OutOfMemory"
    )


def test_init_report_for_a_failed_init() -> None:
    line = init_report_line(245.08, "Runtime.ImportModuleError")
    assert (
        line
        == "INIT_REPORT Init Duration: 245.08 ms\tPhase: init\tStatus: error\tError Type: Runtime.ImportModuleError"
    )


@pytest.mark.parametrize(
    ("runtime", "version"),
    [("python3.12", "python:3.12"), ("python3.9", "python:3.9"), ("provided.al2023", "provided:al2023")],
)
def test_init_start_names_the_runtime_version(runtime: str, version: str) -> None:
    line = init_start_line(runtime, "eu-west-1")
    pattern = rf"INIT_START Runtime Version: {re.escape(version)}\.v\d+\tRuntime Version ARN: "
    pattern += r"arn:aws:lambda:eu-west-1::runtime:[0-9a-f]{64}"
    assert re.fullmatch(pattern, line)
