"""What goes into an execution environment and what comes out, as plain data."""

from __future__ import annotations

import enum
from dataclasses import dataclass


@dataclass(frozen=True)
class InvokeInput:
    request_id: str
    payload: bytes
    deadline_ms: int
    invoked_arn: str
    client_context: str | None = None  # the decoded JSON text of X-Amz-Client-Context
    trace_id: str | None = None


class Status(enum.StrEnum):
    SUCCESS = "success"
    ERROR = "error"  # the function reported an error; the environment stays usable
    TIMEOUT = "timeout"
    CRASH = "crash"  # the process died or broke the protocol; the environment is gone


@dataclass(frozen=True)
class InvokeOutcome:
    status: Status
    payload: bytes
    duration_ms: float
    error_type: str | None = None
    # Error type for the REPORT line when it differs from the payload's (Runtime.OutOfMemory).
    report_error_type: str | None = None
    max_memory_mb: int = 0
    output: str = ""  # what the function printed during this invoke

    @property
    def is_error(self) -> bool:
        return self.status is not Status.SUCCESS

    @property
    def environment_lost(self) -> bool:
        return self.status in (Status.TIMEOUT, Status.CRASH)


@dataclass(frozen=True)
class InitOutcome:
    """The end of an environment's init: either ready, or an error document the first invoke returns."""

    duration_ms: float
    error_payload: bytes | None = None
    error_type: str | None = None
    output: str = ""
    max_memory_mb: int = 0  # measured when init failed: the REPORT of the invoke that returns the error shows it
    # SnapStart: this was a restore from the version's snapshot (duration_ms is the Restore Duration), and the time
    # its after-restore hooks took (AWS bills those as Billed Restore Duration).
    restore: bool = False
    hooks_ms: float = 0.0

    @property
    def ok(self) -> bool:
        return self.error_payload is None
