"""What asynchronous invocation sends to destinations and dead-letter queues, in AWS's exact formats.

reference/lambda-data-plane.md §6 (docs: invocation-async-retain-records, dlq):
- an invocation record: version, timestamp, requestContext {requestId, functionArn, condition,
  approximateInvokeCount}, requestPayload, responseContext {statusCode, executedVersion[, functionError]},
  responsePayload. A record for an event that never ran (expired while throttled) has no response members;
- on an EventBridge bus it is the `detail` of an event from source `lambda` with detail-type
  "Lambda Function Invocation Result - Success" or "... - Failure";
- a dead-letter message is the event payload as it was, with message attributes RequestID (String), ErrorCode
  (Number, the HTTP status code) and ErrorMessage (String, the first 1 KB of the error message).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import orjson

from nimbus.domain.retries import Condition

RECORD_VERSION = "1.0"
EVENT_SOURCE = "lambda"
SUCCESS_DETAIL_TYPE = "Lambda Function Invocation Result - Success"
FAILURE_DETAIL_TYPE = "Lambda Function Invocation Result - Failure"
ERROR_MESSAGE_LIMIT = 1024


@dataclass(frozen=True)
class AttemptResponse:
    """How an attempt ended, as the invoke API would have answered it synchronously."""

    status_code: int
    executed_version: str
    payload: bytes
    function_error: str | None = None  # "Unhandled" for every function error


@dataclass(frozen=True)
class RecordContext:
    request_id: str
    function_arn: str  # qualified: ...:function:name:$LATEST
    condition: Condition
    approximate_invoke_count: int
    request_payload: bytes


def invocation_record(context: RecordContext, response: AttemptResponse | None, moment: dt.datetime) -> dict[str, Any]:
    record: dict[str, Any] = {
        "version": RECORD_VERSION,
        "timestamp": iso_millis(moment),
        "requestContext": {
            "requestId": context.request_id,
            "functionArn": context.function_arn,
            "condition": context.condition.value,
            "approximateInvokeCount": context.approximate_invoke_count,
        },
        "requestPayload": json_value(context.request_payload, empty={}),
    }
    if response is not None:
        response_context: dict[str, Any] = {"statusCode": response.status_code,
                                            "executedVersion": response.executed_version}  # fmt: skip
        if response.function_error:
            response_context["functionError"] = response.function_error
        record["responseContext"] = response_context
        record["responsePayload"] = json_value(response.payload, empty=None)
    return record


def event_bridge_entry(bus_arn: str, function_arn: str, record: dict[str, Any]) -> dict[str, Any]:
    """A PutEvents entry carrying the record to a bus."""
    success = record["requestContext"]["condition"] == Condition.SUCCESS.value
    return {
        "Source": EVENT_SOURCE,
        "DetailType": SUCCESS_DETAIL_TYPE if success else FAILURE_DETAIL_TYPE,
        "Detail": orjson.dumps(record).decode(),
        "EventBusName": bus_arn,
        "Resources": [function_arn],
    }


def dead_letter_attributes(request_id: str, error_code: int, error_message: str) -> dict[str, dict[str, str]]:
    """Message attributes of a dead-letter message, in the shape SQS SendMessage and SNS Publish both take."""
    return {
        "RequestID": {"DataType": "String", "StringValue": request_id},
        "ErrorCode": {"DataType": "Number", "StringValue": str(error_code)},
        "ErrorMessage": {"DataType": "String", "StringValue": error_message},
    }


def error_message(response: AttemptResponse | None, fallback: str) -> str:
    """The function's errorMessage (or the whole error document when it has none), cut to its first 1 KB."""
    text = fallback
    if response is not None and response.payload:
        document = json_value(response.payload, empty=None)
        message = document.get("errorMessage") if isinstance(document, dict) else None
        text = str(message) if message is not None else response.payload.decode("utf-8", "replace")
    return text.encode()[:ERROR_MESSAGE_LIMIT].decode("utf-8", "ignore") or fallback


def json_value(raw: bytes, empty: Any) -> Any:
    """A payload as the JSON value it holds; text that is not JSON (a custom runtime may answer so) as a string."""
    if not raw:
        return empty
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return raw.decode("utf-8", "replace")


def iso_millis(moment: dt.datetime) -> str:
    """`2019-11-14T18:16:05.568Z`"""
    utc = moment.astimezone(dt.UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"
