"""Constraint checks driven by the model: required, length, range, pattern and enum, worded as AWS words them.

    1 validation error detected: Value '3000' at 'timeout' failed to satisfy constraint: Member must have value
    less than or equal to 900

botocore checks only required/min/type on the client; max, pattern and enum arrive here unchecked, and other
clients check nothing, so everything is checked. Where AWS enforces tighter limits than the model publishes
(MemorySize 10240, Timeout 900 for ordinary functions) an overlay supplies them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import cache, lru_cache
from typing import Any

from botocore.model import Shape

from nimbus.errors import ValidationError

# (shape name, metadata key) -> value AWS enforces for ordinary (non managed-instance) functions.
OVERLAYS: Mapping[tuple[str, str], int] = {("MemorySize", "max"): 10240, ("Timeout", "max"): 900}
# Members checked elsewhere with a different error code (Runtime: InvalidParameterValueException).
SKIPPED_ENUMS = frozenset({"Runtime"})
_CACHED_LENGTH = 256


def validate(shape: Shape | None, params: Mapping[str, Any]) -> None:
    if shape is None:
        return
    violations: list[str] = []
    _structure(shape, params, "", violations)
    if violations:
        raise ValidationError(violations)


def member_path(prefix: str, name: str) -> str:
    lowered = name[:1].lower() + name[1:]
    return f"{prefix}.{lowered}" if prefix else lowered


def render(value: Any) -> str:
    """Java toString, as AWS renders offending values."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ", ".join(render(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{render(k)}={render(v)}" for k, v in value.items()) + "}"
    if isinstance(value, bytes):
        return "java.nio.HeapByteBuffer"
    return str(value)


def _violation(shape: Shape, value: Any, path: str, constraint: str) -> str:
    # AWS never echoes a sensitive member (environment variables, zip bytes): "Value at 'x' failed ...".
    shown = "" if shape.metadata.get("sensitive") else f" '{render(value)}'"
    return f"Value{shown} at '{path}' failed to satisfy constraint: {constraint}"


def _structure(shape: Shape, value: Mapping[str, Any], prefix: str, out: list[str]) -> None:
    required, members = _layout(shape)
    for name, lowered in required:
        if value.get(name) is None:
            path = f"{prefix}.{lowered}" if prefix else lowered
            out.append(f"Value null at '{path}' failed to satisfy constraint: Member must not be null")
    for name, member, lowered in members:
        if name in value and value[name] is not None:
            _check(member, value[name], f"{prefix}.{lowered}" if prefix else lowered, out)


@cache
def _layout(shape: Shape) -> tuple[tuple[tuple[str, str], ...], tuple[tuple[str, Shape, str], ...]]:
    """A structure's required members and its members, each with its name as AWS writes it in a path (worked out
    once per shape: validation is on the hot path)."""
    members = shape.members.items()  # type: ignore[attr-defined]
    required = tuple((name, member_path("", name)) for name in shape.required_members)
    return required, tuple((name, member, member_path("", name)) for name, member in members)


def _check(shape: Shape, value: Any, path: str, out: list[str]) -> None:
    problems = _problems(shape, value)
    if problems:
        out.extend(_violation(shape, value, path, p) for p in problems)
        return
    if shape.type_name == "structure" and isinstance(value, Mapping):
        _structure(shape, value, path, out)
    elif shape.type_name == "list" and isinstance(value, list):
        element = shape.member  # type: ignore[attr-defined]
        inner = [p for item in value for p in _problems(element, item)]
        if inner:
            joined = ", ".join(dict.fromkeys(inner))
            out.append(_violation(shape, value, path, f"Member must satisfy constraint: [{joined}]"))
    elif shape.type_name == "map" and isinstance(value, Mapping):
        _map(shape, value, path, out)


def _map(shape: Shape, value: Mapping[str, Any], path: str, out: list[str]) -> None:
    key_problems = [p for k in value for p in _problems(shape.key, k)]  # type: ignore[attr-defined]
    value_problems = [p for v in value.values() for p in _problems(shape.value, v)]  # type: ignore[attr-defined]
    for label, problems in (("Map keys", key_problems), ("Map value", value_problems)):
        if problems:
            joined = ", ".join(dict.fromkeys(problems))
            out.append(_violation(shape, value, path, f"{label} must satisfy constraint: [{joined}]"))


def _problems(shape: Shape, value: Any) -> list[str]:
    if shape.type_name == "string" and isinstance(value, str):
        if len(value) <= _CACHED_LENGTH:
            return list(_cached_string_problems(shape, value))
        return _string_problems(shape, value)
    meta = shape.metadata
    problems: list[str] = []
    if shape.type_name in ("integer", "long") and isinstance(value, int) and not isinstance(value, bool):
        high = OVERLAYS.get((shape.name, "max"), meta.get("max"))
        if high is not None and value > high:
            problems.append(f"Member must have value less than or equal to {high}")
        if "min" in meta and value < meta["min"]:
            problems.append(f"Member must have value greater than or equal to {meta['min']}")
    elif shape.type_name in ("list", "map") and isinstance(value, list | dict):
        problems += _length(shape, len(value))
    return problems


@lru_cache(maxsize=4096)
def _cached_string_problems(shape: Shape, value: str) -> tuple[str, ...]:
    # The same function names, qualifiers and enum values come back request after request, and a pattern match
    # costs more than the lookup. Only short values are kept (_CACHED_LENGTH), so the cache stays small.
    return tuple(_string_problems(shape, value))


def _string_problems(shape: Shape, value: str) -> list[str]:
    meta = shape.metadata
    problems = _length(shape, len(value))
    if "pattern" in meta and not _pattern(meta["pattern"]).fullmatch(value):
        problems.append(f"Member must satisfy regular expression pattern: {meta['pattern']}")
    if "enum" in meta and shape.name not in SKIPPED_ENUMS and value not in meta["enum"]:
        problems.append(f"Member must satisfy enum value set: [{', '.join(meta['enum'])}]")
    return problems


def _length(shape: Shape, length: int) -> list[str]:
    meta = shape.metadata
    if "max" in meta and length > meta["max"]:
        return [f"Member must have length less than or equal to {meta['max']}"]
    if "min" in meta and length < meta["min"]:
        return [f"Member must have length greater than or equal to {meta['min']}"]
    return []


@cache
def _pattern(source: str) -> re.Pattern[str]:
    try:
        return re.compile(source, re.DOTALL)
    except re.error:
        return re.compile(r".*", re.DOTALL)  # a Java-only construct: leave it to the service logic
