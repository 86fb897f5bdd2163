"""Payload checks on the way in, with AWS's limits and messages."""

from __future__ import annotations

import base64
import binascii

import orjson

from nimbus.errors import InvalidRequestContent, RequestEntityTooLarge
from nimbus.invocation.requests import InvocationType

SYNC_LIMIT = 6 * 1024 * 1024  # 6291456
ASYNC_LIMIT = 1024 * 1024  # raised from 256 KB in Oct 2025
# InvokeAsync (deprecated) kept the old limit; its message is the Event invoke's of that time (inferred).
INVOKE_ASYNC_LIMIT = 256 * 1024
CLIENT_CONTEXT_LIMIT = 3583


def check_payload(payload: bytes, invocation_type: InvocationType, async_limit: int = ASYNC_LIMIT) -> None:
    if invocation_type is InvocationType.EVENT and len(payload) > async_limit:
        raise RequestEntityTooLarge(
            f"{len(payload)} byte payload is too large for the Event invocation type (limit {async_limit} bytes)"
        )
    if len(payload) > SYNC_LIMIT:
        raise RequestEntityTooLarge(f"Request must be smaller than {SYNC_LIMIT} bytes for the InvokeFunction operation")
    if payload:
        try:
            orjson.loads(payload)
        except orjson.JSONDecodeError as exc:
            raise InvalidRequestContent(
                f"Could not parse request body into json: Could not parse payload into json: {exc}"
            ) from exc


def decode_client_context(header: str | None) -> str | None:
    """X-Amz-Client-Context: base64 of a JSON object; returns the JSON text the function's context gets."""
    if header is None or header == "":
        return None
    try:
        text = base64.b64decode(header, validate=True)
        document = orjson.loads(text)
    except (binascii.Error, ValueError):
        document = None
    if not isinstance(document, dict) or len(header) > CLIENT_CONTEXT_LIMIT:
        raise InvalidRequestContent("Client context must be a valid Base64-encoded JSON object.")
    return text.decode()
