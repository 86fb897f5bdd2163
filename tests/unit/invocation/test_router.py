"""Qualifier -> version per invoke: versions as given, aliases by their weights, drawn again on every route."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from nimbus.domain.aliases import Alias
from nimbus.domain.functions import CodeRef, FunctionConfig
from nimbus.errors import ResourceNotFound
from nimbus.invocation.router import VersionRouter

LATEST = FunctionConfig("fn", "python3.12", "arn:aws:iam::000000000000:role/r", "app.handler",
                        CodeRef("ab" * 32, "x", 1), "r", "2026-01-01T00:00:00.000+0000")  # fmt: skip


class Functions:
    def __init__(self) -> None:
        self.aliases = {
            "live": Alias("fn", "live", "1", "rev", weights={"2": 0.3}),
            "plain": Alias("fn", "plain", "2", "r"),
        }

    async def get_ready(self, name: str, qualifier: str | None = None) -> FunctionConfig:
        return LATEST.replace(version=qualifier or "$LATEST")

    def alias(self, name: str, alias_name: str) -> Alias:
        if alias_name not in self.aliases:
            raise ResourceNotFound(f"Function not found: {name}:{alias_name}")
        return self.aliases[alias_name]


def draws(*values: float) -> Iterator[float]:
    yield from values


def route(router: VersionRouter, qualifier: str | None) -> str:
    return asyncio.run(router.route("fn", qualifier)).version


def test_versions_and_latest_route_to_themselves() -> None:
    router = VersionRouter(Functions(), Functions(), draw=lambda: 0.0)
    assert [route(router, q) for q in (None, "$LATEST", "7")] == ["$LATEST", "$LATEST", "7"]


def test_an_alias_is_weighted_again_on_every_route() -> None:
    values = draws(0.1, 0.9, 0.29, 0.3)
    router = VersionRouter(Functions(), Functions(), draw=lambda: next(values))
    assert [route(router, "live") for _ in range(4)] == ["2", "1", "2", "1"]


def test_an_alias_without_routing_runs_its_version() -> None:
    assert route(VersionRouter(Functions(), Functions(), draw=lambda: 0.0), "plain") == "2"


def test_a_missing_alias_is_not_found() -> None:
    with pytest.raises(ResourceNotFound):
        route(VersionRouter(Functions(), Functions()), "gone")
