"""What an invoke asks for and what it answers, independent of the wire."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class InvocationType(enum.StrEnum):
    REQUEST_RESPONSE = "RequestResponse"
    EVENT = "Event"
    DRY_RUN = "DryRun"


@dataclass(frozen=True)
class InvokeRequest:
    function_name: str
    qualifier: str | None
    payload: bytes
    invocation_type: InvocationType = InvocationType.REQUEST_RESPONSE
    tail_logs: bool = False
    client_context: str | None = None  # decoded JSON text
    # The API request's id: AWS answers an invoke with the function's own request id as x-amzn-RequestId.
    request_id: str | None = None


@dataclass(frozen=True)
class InvokeResponse:
    status_code: int
    request_id: str
    payload: bytes = b""
    function_error: str | None = None
    log_result: str | None = None  # base64 of the log tail
    executed_version: str | None = None
