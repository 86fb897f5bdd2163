"""Invocation records, EventBridge entries and dead-letter attributes, in AWS's formats."""

from __future__ import annotations

import datetime as dt

import orjson

from nimbus.domain.invocation_records import (
    AttemptResponse,
    RecordContext,
    dead_letter_attributes,
    error_message,
    event_bridge_entry,
    invocation_record,
)
from nimbus.domain.retries import Condition

ARN = "arn:aws:lambda:us-east-1:000000000000:function:fn:$LATEST"
MOMENT = dt.datetime(2019, 11, 14, 18, 16, 5, 568_900, tzinfo=dt.UTC)


def context(condition: Condition, count: int = 1, payload: bytes = b'{"ORDER_IDS": [1]}') -> RecordContext:
    return RecordContext("e4b46cbf", ARN, condition, count, payload)


def test_failure_record_matches_the_aws_example() -> None:
    error = b'{"errorMessage": "RequestId: e4b46cbf Process exited before completing request"}'
    response = AttemptResponse(200, "$LATEST", error, "Unhandled")
    record = invocation_record(context(Condition.RETRIES_EXHAUSTED, 3), response, MOMENT)
    assert record == {
        "version": "1.0",
        "timestamp": "2019-11-14T18:16:05.568Z",
        "requestContext": {"requestId": "e4b46cbf", "functionArn": ARN, "condition": "RetriesExhausted",
                           "approximateInvokeCount": 3},
        "requestPayload": {"ORDER_IDS": [1]},
        "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
        "responsePayload": {"errorMessage": "RequestId: e4b46cbf Process exited before completing request"},
    }  # fmt: skip
    assert list(record) == ["version", "timestamp", "requestContext", "requestPayload", "responseContext",
                            "responsePayload"]  # fmt: skip


def test_success_record_has_no_function_error() -> None:
    record = invocation_record(context(Condition.SUCCESS), AttemptResponse(200, "$LATEST", b'"done"'), MOMENT)
    assert record["responseContext"] == {"statusCode": 200, "executedVersion": "$LATEST"}
    assert record["responsePayload"] == "done"
    assert record["requestContext"]["condition"] == "Success"


def test_a_function_returning_nothing_gives_a_null_response_payload() -> None:
    record = invocation_record(context(Condition.SUCCESS), AttemptResponse(200, "$LATEST", b"null"), MOMENT)
    assert record["responsePayload"] is None


def test_an_event_that_never_ran_has_no_response_members() -> None:
    record = invocation_record(context(Condition.EVENT_AGE_EXCEEDED, 0, b""), None, MOMENT)
    assert "responseContext" not in record and "responsePayload" not in record
    assert record["requestPayload"] == {}
    assert record["requestContext"]["approximateInvokeCount"] == 0


def test_event_bridge_entry_carries_the_record_as_detail() -> None:
    bus = "arn:aws:events:us-east-1:123456789012:event-bus/b"
    record = invocation_record(context(Condition.RETRIES_EXHAUSTED), None, MOMENT)
    entry = event_bridge_entry(bus, ARN, record)
    assert entry["Source"] == "lambda"
    assert entry["DetailType"] == "Lambda Function Invocation Result - Failure"
    assert entry["EventBusName"] == bus
    assert entry["Resources"] == [ARN]
    assert orjson.loads(entry["Detail"]) == record
    success = invocation_record(context(Condition.SUCCESS), None, MOMENT)
    assert event_bridge_entry(bus, ARN, success)["DetailType"] == "Lambda Function Invocation Result - Success"


def test_dead_letter_attributes_name_the_request_and_the_error() -> None:
    assert dead_letter_attributes("rid", 200, "boom") == {
        "RequestID": {"DataType": "String", "StringValue": "rid"},
        "ErrorCode": {"DataType": "Number", "StringValue": "200"},
        "ErrorMessage": {"DataType": "String", "StringValue": "boom"},
    }


def test_error_message_is_the_functions_error_message_cut_to_1_kb() -> None:
    long = "é" * 700  # 1400 bytes of UTF-8
    response = AttemptResponse(200, "$LATEST", orjson.dumps({"errorMessage": long, "errorType": "ValueError"}))
    message = error_message(response, "fallback")
    assert len(message.encode()) <= 1024 and message == "é" * 512
    assert error_message(AttemptResponse(200, "$LATEST", b'{"errorType": "X"}'), "f") == '{"errorType": "X"}'
    assert error_message(None, "Event age exceeded") == "Event age exceeded"
