"""restJson responses and errors, as botocore and the aws cli parse them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from nimbus.api.model import is_modeled_error, message_key
from nimbus.errors import ServiceError


@dataclass
class WireResponse:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str | None = "application/json"


def json_response(status: int, document: Mapping[str, Any] | None = None, **headers: str) -> WireResponse:
    return WireResponse(status, orjson.dumps(document or {}), dict(headers))


def error_response(error: ServiceError) -> WireResponse:
    document: dict[str, Any] = {message_key(error.code): error.message}
    # Modeled errors carry `Type` (AWS: "User" for client errors). Errors the service framework raises before an
    # operation runs (ValidationException, signature errors) are outside the model and AWS sends them without it.
    if is_modeled_error(error.code):
        document["Type"] = "User" if error.status < 500 else "Service"
    document.update(error.extra)
    headers = {"x-amzn-ErrorType": error.code, **error.headers}
    return WireResponse(error.status, orjson.dumps(document), headers)


async def send(send_: Any, response: WireResponse, request_id: str) -> None:
    """Write a response to an ASGI `send` callable."""
    raw_headers = [
        (b"x-amzn-requestid", request_id.encode()),
        (b"content-length", str(len(response.body)).encode()),
    ]
    if response.content_type is not None:
        raw_headers.append((b"content-type", response.content_type.encode()))
    raw_headers.extend((k.lower().encode(), v.encode()) for k, v in response.headers.items())
    await send_({"type": "http.response.start", "status": response.status, "headers": raw_headers})
    await send_({"type": "http.response.body", "body": response.body})
