"""Wire request -> the operation's input members (a dict keyed by member name), as the model lays them out."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
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
    plan = _plan(shape)
    params: dict[str, Any] = {}
    for name, member, location, wire_name in plan.located:
        if location == "uri":
            if wire_name in path_params:
                params[name] = path_params[wire_name]
        elif location == "querystring":
            if wire_name in query:
                params[name] = _query_value(member, query[wire_name])
        elif wire_name in headers:  # header names are matched lower-cased
            params[name] = headers[wire_name]
    if plan.payload:
        params[plan.payload] = body
    elif body.strip():
        params.update(_body_members(plan.body_members, body))
    return params


@dataclass(frozen=True)
class _Plan:
    """Where each input member of an operation comes from, worked out once per shape (parsing is on the hot path)."""

    located: tuple[tuple[str, Shape, str, str], ...]  # (member, its shape, uri|querystring|header, wire name)
    payload: str | None  # the member the whole body is, if any
    body_members: Mapping[str, Shape]  # members carried in a JSON body


@cache
def _plan(shape: Shape) -> _Plan:
    located: list[tuple[str, Shape, str, str]] = []
    body_members: dict[str, Shape] = {}
    for name, member in shape.members.items():  # type: ignore[attr-defined]
        location = member.serialization.get("location")
        wire_name = member.serialization.get("name", name)
        if location in ("uri", "querystring"):
            located.append((name, member, location, wire_name))
        elif location == "header":
            located.append((name, member, location, wire_name.lower()))
        elif not location:
            body_members[name] = member
    return _Plan(tuple(located), shape.serialization.get("payload"), body_members)


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


def _body_members(members: Mapping[str, Shape], body: bytes) -> dict[str, Any]:
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise _bad_request(f"Could not parse request body into json: {exc}") from exc
    if not isinstance(document, dict):
        raise _bad_request("Could not parse request body into json: expected a JSON object")
    return {name: _decode(members[name], value, name) for name, value in document.items() if name in members}


# JSON types each model type accepts; anything else is refused here, before validation or a handler sees it.
_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "blob": (str,),
    "boolean": (bool,),
    "integer": (int,),
    "long": (int,),
    "double": (int, float),
    "float": (int, float),
    "timestamp": (int, float, str),
    "structure": (dict,),
    "list": (list,),
    "map": (dict,),
}


def _decode(shape: Shape, value: Any, path: str) -> Any:
    """Check a body member's JSON type and decode it; blob members are base64 strings wherever they nest."""
    if value is None:
        return None
    _check_type(shape, value, path)
    if shape.type_name == "blob":
        try:
            return base64.b64decode(value, validate=True)
        except binascii.Error as exc:
            raise _bad_request(f"Could not parse request body into json: invalid base64 in '{path}'") from exc
    if shape.type_name == "structure":
        members = shape.members  # type: ignore[attr-defined]
        return {k: _decode(members[k], v, f"{path}.{k}") for k, v in value.items() if k in members}
    if shape.type_name == "list":
        return [_decode(shape.member, v, f"{path}[]") for v in value]  # type: ignore[attr-defined]
    if shape.type_name == "map":
        return {k: _decode(shape.value, v, f"{path}.{k}") for k, v in value.items()}  # type: ignore[attr-defined]
    return value


def _check_type(shape: Shape, value: object, path: str) -> None:
    expected = _JSON_TYPES.get(shape.type_name, (object,))
    if not isinstance(value, expected) or (isinstance(value, bool) and bool not in expected):
        raise _bad_request(
            f"Could not parse request body into json: Cannot deserialize value of type {shape.type_name} "
            f"for '{path}' from {type(value).__name__} value"
        )


def _bad_request(message: str) -> ServiceError:
    return ServiceError("InvalidRequestContentException", 400, message)
