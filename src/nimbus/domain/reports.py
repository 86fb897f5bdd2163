"""The platform's log lines around each invoke, byte for byte as AWS prints them (Text log format)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass


@dataclass(frozen=True)
class Report:
    request_id: str
    duration_ms: float
    memory_size: int
    max_memory_mb: int
    init_duration_ms: float | None = None
    # SnapStart: a restored environment's first invoke shows its restore instead of an init.
    restore_duration_ms: float | None = None
    billed_restore_ms: float | None = None
    status: str | None = None  # None for success, "error" or "timeout"
    error_type: str | None = None

    @property
    def billed_ms(self) -> int:
        """1 ms granularity, rounded up; since Aug 2025 a cold start's INIT is billed too.

        Computed from the printed (2-decimal) figures, in hundredths, so that Billed Duration is always the ceiling of
        what the line shows: 2.0004 ms prints as "2.00 ms" and bills 2 ms, not 3.
        """
        hundredths = round(self.duration_ms * 100) + round((self.init_duration_ms or 0.0) * 100)
        return -(-hundredths // 100)


def init_start_line(runtime: str, region: str) -> str:
    """The first line of a cold start: `INIT_START Runtime Version: python:3.12.v18\tRuntime Version ARN: ...`.

    nimbus has one build of each runtime, so the version is v1 and the ARN's hash is derived from the runtime name.
    """
    if runtime.startswith("python"):
        version = f"python:{runtime.removeprefix('python')}.v1"
    else:
        family, _, release = runtime.partition(".")  # provided.al2023 -> provided:al2023
        version = f"{family}:{release}.v1"
    digest = hashlib.sha256(f"nimbus:{runtime}".encode()).hexdigest()
    return f"INIT_START Runtime Version: {version}\tRuntime Version ARN: arn:aws:lambda:{region}::runtime:{digest}"


def start_line(request_id: str, version: str) -> str:
    return f"START RequestId: {request_id} Version: {version}"


def end_line(request_id: str) -> str:
    return f"END RequestId: {request_id}"


def report_line(report: Report) -> str:
    fields = [
        f"REPORT RequestId: {report.request_id}",
        f"Duration: {report.duration_ms:.2f} ms",
        f"Billed Duration: {report.billed_ms} ms",
        f"Memory Size: {report.memory_size} MB",
        f"Max Memory Used: {report.max_memory_mb} MB",
    ]
    if report.init_duration_ms is not None:
        fields.append(f"Init Duration: {report.init_duration_ms:.2f} ms")
    if report.restore_duration_ms is not None:
        fields.append(f"Restore Duration: {report.restore_duration_ms:.2f} ms")
        fields.append(f"Billed Restore Duration: {-(-round((report.billed_restore_ms or 0.0) * 100) // 100)} ms")
    line = "\t".join(fields) + "\t"
    if report.status == "timeout":
        return line + "Status: timeout"
    if report.status == "error":
        return line + (f"Status: error\tError Type: {report.error_type}" if report.error_type else "Status: error")
    return line


def restore_start_line(runtime: str, region: str) -> str:
    """A restored environment's first line: RESTORE_START with the runtime version, as INIT_START has."""
    return "RESTORE_START" + init_start_line(runtime, region).removeprefix("INIT_START")


def restore_report_line(duration_ms: float, error_type: str | None) -> str:
    """`RESTORE_REPORT Restore Duration: X ms`, with `Status: error` and the error type when a hook failed."""
    status = f"\tStatus: error\tError Type: {error_type}" if error_type else ""
    return f"RESTORE_REPORT Restore Duration: {duration_ms:.2f} ms{status}"


def init_report_line(duration_ms: float, error_type: str | None) -> str:
    status = f"\tStatus: error\tError Type: {error_type}" if error_type else ""
    return f"INIT_REPORT Init Duration: {duration_ms:.2f} ms\tPhase: init{status}"
