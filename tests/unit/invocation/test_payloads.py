"""Payload and client-context checks, with AWS's limits and messages."""

from __future__ import annotations

import base64

import pytest

from nimbus.errors import InvalidRequestContent, RequestEntityTooLarge
from nimbus.invocation.payloads import (
    ASYNC_LIMIT,
    INVOKE_ASYNC_LIMIT,
    SYNC_LIMIT,
    check_payload,
    decode_client_context,
)
from nimbus.invocation.requests import InvocationType

SYNC = InvocationType.REQUEST_RESPONSE


def test_json_payloads_and_an_empty_body_pass() -> None:
    for payload in (b"", b"{}", b"[1, 2]", b'"text"', b"null", b"3"):
        check_payload(payload, SYNC)


def test_payload_that_is_not_json_is_invalid_request_content() -> None:
    with pytest.raises(InvalidRequestContent, match=r"^Could not parse request body into json: Could not parse"):
        check_payload(b"{not json", SYNC)


def test_sync_payload_over_6_mb_is_too_large() -> None:
    check_payload(b'"' + b"x" * (SYNC_LIMIT - 2) + b'"', SYNC)
    with pytest.raises(RequestEntityTooLarge) as caught:
        check_payload(b"x" * (SYNC_LIMIT + 1), SYNC)
    assert caught.value.message == "Request must be smaller than 6291456 bytes for the InvokeFunction operation"
    assert caught.value.status == 413


def test_event_payload_over_1_mb_is_too_large() -> None:
    size = ASYNC_LIMIT + 1
    with pytest.raises(RequestEntityTooLarge) as caught:
        check_payload(b"x" * size, InvocationType.EVENT)
    expected = f"{size} byte payload is too large for the Event invocation type (limit 1048576 bytes)"
    assert caught.value.message == expected


def test_client_context_is_decoded_to_its_json_text() -> None:
    header = base64.b64encode(b'{"custom":{"k":"v"}}').decode()
    assert decode_client_context(header) == '{"custom":{"k":"v"}}'
    assert decode_client_context(None) is None


@pytest.mark.parametrize(
    "header",
    [
        "not base64!",
        base64.b64encode(b"not json").decode(),
        base64.b64encode(b"[1, 2]").decode(),  # JSON, but not an object
        base64.b64encode(b'{"k":"' + b"v" * 3000 + b'"}').decode(),  # over 3583 bytes
    ],
)
def test_bad_client_context_is_invalid_request_content(header: str) -> None:
    with pytest.raises(InvalidRequestContent, match=r"^Client context must be a valid Base64-encoded JSON object\.$"):
        decode_client_context(header)


def test_invoke_async_keeps_the_old_256_kb_limit() -> None:
    check_payload(b'"' + b"x" * (INVOKE_ASYNC_LIMIT - 2) + b'"', InvocationType.EVENT, INVOKE_ASYNC_LIMIT)
    with pytest.raises(RequestEntityTooLarge) as caught:
        check_payload(b"x" * (INVOKE_ASYNC_LIMIT + 1), InvocationType.EVENT, INVOKE_ASYNC_LIMIT)
    assert caught.value.message == "262145 byte payload is too large for the Event invocation type (limit 262144 bytes)"
