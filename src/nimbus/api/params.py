"""Wire request -> the operation's input members (a dict keyed by member name), as the model lays them out."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping, Sequence
from typing import Any

import orjson
from botocore.model import OperationModel, Shape

from nimbus.errors import ServiceError


def parse_input(
    operation: OperationModel,
    path_params: Mapping[str, str],
    query: Mapping[str, Sequence[str]],
    headers: Mapping[str, str],
    body: bytes,
) -> dict[str, Any]:
    shape = operation.input_shape
    if shape is None:
        return {}
    params: dict[str, Any] = {}
    payload_member = shape.serialization.get("payload")
    for name, member in shape.members.items():
        location = member.serialization.get("location")
        wire_name = member.serialization.get("name", name)
        if location == "uri" and wire_name in path_params:
            params[name] = path_params[wire_name]
        elif location == "querystring" and wire_name in query:
            params[name] = _query_value(member, query[wire_name])
        elif location == "header" and wire_name.lower() in headers:
            params[name] = headers[wire_name.lower()]
    if payload_member:
        params[payload_member] = body
    elif body.strip():
        params.update(_body_members(shape, body))
    return params


def _query_value(member: Shape, values: Sequence[str]) -> Any:
    if member.type_name == "list":
        return list(values)
    value = values[0]
    if member.type_name in ("integer", "long"):
        try:
            return int(value)
        except ValueError:
            raise _bad_request(f"Cannot parse '{value}' as a number") from None
    if member.type_name == "boolean":
        return value.lower() == "true"
    return value


def _body_members(shape: Shape, body: bytes) -> dict[str, Any]:
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise _bad_request(f"Could not parse request body into json: {exc}") from exc
    if not isinstance(document, dict):
        raise _bad_request("Could not parse request body into json: expected a JSON object")
    members = {name: member for name, member in shape.members.items() if not member.serialization.get("location")}
    return {name: _decode(members[name], value) for name, value in document.items() if name in members}


def _decode(shape: Shape, value: Any) -> Any:
    """Blob members inside JSON bodies are base64 strings; decode them wherever they nest."""
    if value is None:
        return None
    if shape.type_name == "blob" and isinstance(value, str):
        try:
            return base64.b64decode(value, validate=True)
        except binascii.Error as exc:
            raise _bad_request("Could not parse request body into json: invalid base64 in a blob member") from exc
    if shape.type_name == "structure" and isinstance(value, dict):
        members = shape.members  # type: ignore[attr-defined]
        return {k: _decode(members[k], v) if k in members else v for k, v in value.items()}
    if shape.type_name == "list" and isinstance(value, list):
        return [_decode(shape.member, v) for v in value]  # type: ignore[attr-defined]
    return value


def _bad_request(message: str) -> ServiceError:
    return ServiceError("InvalidRequestContentException", 400, message)
