"""Method + path -> operation, built from the model's `http.requestUri` values (their date prefixes are irregular).

Path parameters arrive percent-encoded (an ARN is sent as `arn%3Aaws%3A...`): the raw path is split on `/` first
and each segment decoded after, so an encoded `/` can never split a parameter.

Matching is on the Invoke hot path, so it is a few dictionary lookups rather than a scan: routes are grouped by
method and segment count, then by which positions hold literals, then by the literals themselves.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple
from urllib.parse import parse_qsl, unquote

from nimbus.api.model import lambda_model


@dataclass(frozen=True)
class Route:
    operation: str
    method: str
    segments: tuple[str | None, ...]  # a literal, or None where a parameter stands
    params: tuple[str, ...]  # parameter names, in order of the None segments
    static_query: tuple[tuple[str, str], ...]  # e.g. (("find", "LayerVersion"),)
    literal_positions: tuple[int, ...] = field(init=False)
    param_positions: tuple[int, ...] = field(init=False)

    def __post_init__(self) -> None:
        literals = tuple(i for i, s in enumerate(self.segments) if s is not None)
        object.__setattr__(self, "literal_positions", literals)
        object.__setattr__(self, "param_positions", tuple(i for i, s in enumerate(self.segments) if s is None))

    @property
    def literals(self) -> tuple[str, ...]:
        return tuple(s for s in self.segments if s is not None)


class Match(NamedTuple):  # a tuple, not a frozen dataclass: built on every request, and cheaper to build
    route: Route
    path_params: Mapping[str, str]


def parse_route(operation: str, method: str, request_uri: str) -> Route:
    path, _, query = request_uri.partition("?")
    segments: list[str | None] = []
    params: list[str] = []
    for part in path.strip("/").split("/"):
        if part.startswith("{") and part.endswith("}"):
            segments.append(None)
            params.append(part[1:-1].rstrip("+"))
        else:
            segments.append(part)
    return Route(operation, method, tuple(segments), tuple(params), tuple(parse_qsl(query)))


# Literal positions -> (literal values -> routes, those with a static query first).
_Group = tuple[tuple[int, ...], dict[tuple[str, ...], list[Route]]]


class Router:
    def __init__(self, routes: Sequence[Route]) -> None:
        grouped: dict[tuple[str, int], dict[tuple[int, ...], dict[tuple[str, ...], list[Route]]]] = {}
        for route in routes:
            by_positions = grouped.setdefault((route.method, len(route.segments)), {})
            by_positions.setdefault(route.literal_positions, {}).setdefault(route.literals, []).append(route)
        self._index: dict[tuple[str, int], list[_Group]] = {}
        for key, by_positions in grouped.items():
            for candidates in (c for literals in by_positions.values() for c in literals.values()):
                candidates.sort(key=lambda r: len(r.static_query), reverse=True)
            # More literals first: `.../event-invoke-config/list` beats `.../{Name}/{Qualifier}`.
            self._index[key] = sorted(by_positions.items(), key=lambda item: len(item[0]), reverse=True)

    @classmethod
    def from_model(cls) -> Router:
        model = lambda_model()
        routes = []
        for name in model.operation_names:
            http = model.operation_model(name).http
            routes.append(parse_route(name, http["method"], http["requestUri"]))
        return cls(routes)

    def match(self, method: str, raw_path: str, query: Mapping[str, Sequence[str]]) -> Match | None:
        parts = raw_path.strip("/").split("/")
        for positions, by_literals in self._index.get((method, len(parts)), ()):
            for route in by_literals.get(tuple(map(parts.__getitem__, positions)), ()):
                if not route.static_query or all(
                    query.get(key, (None,))[0] == value for key, value in route.static_query
                ):
                    params = {
                        name: unquote(parts[i]) for name, i in zip(route.params, route.param_positions, strict=True)
                    }
                    return Match(route, params)
        return None
