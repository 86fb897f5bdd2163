"""Method + path -> operation, built from the model's `http.requestUri` values (their date prefixes are irregular).

Path parameters arrive percent-encoded (an ARN is sent as `arn%3Aaws%3A...`): the raw path is split on `/` first
and each segment decoded after, so an encoded `/` can never split a parameter.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import parse_qsl, unquote

from nimbus.api.model import lambda_model


@dataclass(frozen=True)
class Route:
    operation: str
    method: str
    segments: tuple[str | None, ...]  # a literal, or None where a parameter stands
    params: tuple[str, ...]  # parameter names, in order of the None segments
    static_query: tuple[tuple[str, str], ...]  # e.g. (("find", "LayerVersion"),)

    @property
    def specificity(self) -> tuple[int, int]:
        literals = sum(1 for s in self.segments if s is not None)
        return (len(self.static_query), literals)


@dataclass(frozen=True)
class Match:
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


class Router:
    def __init__(self, routes: Sequence[Route]) -> None:
        table: dict[tuple[str, int], list[Route]] = {}
        for route in routes:
            table.setdefault((route.method, len(route.segments)), []).append(route)
        for candidates in table.values():
            candidates.sort(key=lambda r: r.specificity, reverse=True)
        self._table = table

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
        for route in self._table.get((method, len(parts)), ()):
            if not all(query.get(key, [None])[0] == value for key, value in route.static_query):
                continue
            params = _bind(route, parts)
            if params is not None:
                return Match(route, params)
        return None


def _bind(route: Route, parts: Sequence[str]) -> dict[str, str] | None:
    values: dict[str, str] = {}
    names = iter(route.params)
    for literal, part in zip(route.segments, parts, strict=True):
        if literal is None:
            values[next(names)] = unquote(part)
        elif literal != part:
            return None
    return values
