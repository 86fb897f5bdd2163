"""SnapStart's log lines: RESTORE_START, RESTORE_REPORT and the REPORT of a restored environment's first invoke."""

from __future__ import annotations

import pytest

from nimbus.domain.reports import Report, init_start_line, report_line, restore_report_line, restore_start_line

RID = "8f507cfc-xmpl-4697-b07a-ac58fc914c95"


def test_restore_start_carries_the_runtime_version_as_init_start_does() -> None:
    line = restore_start_line("python3.12", "us-east-1")
    assert line.startswith(
        "RESTORE_START Runtime Version: python:3.12.v1\tRuntime Version ARN: arn:aws:lambda:us-east-1::"
    )
    assert line.removeprefix("RESTORE_START") == init_start_line("python3.12", "us-east-1").removeprefix("INIT_START")


def test_restore_report_of_a_successful_restore() -> None:
    assert restore_report_line(12.3456, None) == "RESTORE_REPORT Restore Duration: 12.35 ms"


def test_restore_report_of_a_failed_hook_names_the_error() -> None:
    assert restore_report_line(5.0, "Runtime.Unknown") == (
        "RESTORE_REPORT Restore Duration: 5.00 ms\tStatus: error\tError Type: Runtime.Unknown"
    )


def test_report_after_a_restore_shows_restore_and_billed_restore_instead_of_init() -> None:
    report = Report(
        RID, duration_ms=2.5, memory_size=128, max_memory_mb=40, restore_duration_ms=210.123, billed_restore_ms=3.2
    )
    assert report_line(report) == (
        f"REPORT RequestId: {RID}\tDuration: 2.50 ms\tBilled Duration: 3 ms\tMemory Size: 128 MB\t"
        "Max Memory Used: 40 MB\tRestore Duration: 210.12 ms\tBilled Restore Duration: 4 ms\t"
    )


@pytest.mark.parametrize(("hooks_ms", "billed"), [(0.0, 0), (0.004, 0), (0.01, 1), (1.0, 1), (1.001, 1), (99.5, 100)])
def test_billed_restore_duration_is_the_ceiling_of_the_hooks_time_in_printed_hundredths(
    hooks_ms: float, billed: int
) -> None:
    report = Report(RID, 1.0, 128, 40, restore_duration_ms=50.0, billed_restore_ms=hooks_ms)
    assert f"\tBilled Restore Duration: {billed} ms\t" in report_line(report)


def test_restore_is_not_billed_in_billed_duration() -> None:
    """AWS bills the restore separately (Billed Restore Duration); Billed Duration stays the invoke's."""
    report = Report(RID, 10.0, 128, 40, restore_duration_ms=300.0, billed_restore_ms=0.0)
    assert "\tBilled Duration: 10 ms\t" in report_line(report)


def test_a_restored_invoke_that_failed_keeps_its_status_after_the_restore_fields() -> None:
    report = Report(
        RID, 1.0, 128, 40, restore_duration_ms=5.0, billed_restore_ms=0.0, status="error", error_type="Runtime.Unknown"
    )
    assert report_line(report).endswith(
        "\tRestore Duration: 5.00 ms\tBilled Restore Duration: 0 ms\tStatus: error\tError Type: Runtime.Unknown"
    )
