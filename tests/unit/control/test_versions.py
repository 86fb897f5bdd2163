"""Versions and aliases over the real SQLite stores: numbering, conflicts, deletes and what follows a function."""

from __future__ import annotations

import asyncio
import io
import zipfile
from collections.abc import Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest

from nimbus.control.aliases import AliasChange, AliasService
from nimbus.control.functions import FunctionService, NewFunction
from nimbus.control.packages import CodeSource
from nimbus.control.versions import VersionService
from nimbus.domain.arns import Identity
from nimbus.errors import InvalidParameterValue, ResourceConflict, ResourceNotFound
from nimbus.store.aliases import CachedAliasStore, SqlAliasStore
from nimbus.store.code import CodeStore
from nimbus.store.database import create_engine, migrate, sqlite_url
from nimbus.store.functions import SqlFunctionStore

T = TypeVar("T")
IDENTITY = Identity("us-east-1", "000000000000")
ARN = "arn:aws:lambda:us-east-1:000000000000:function:fn"


class Pool:
    async def retire(self, function_name: str) -> None:
        pass


@dataclass
class Services:
    functions: FunctionService
    versions: VersionService
    aliases: AliasService


def package(text: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("bootstrap", text)
    return buffer.getvalue()


@pytest.fixture
def services(tmp_path: Path) -> Services:
    engine = create_engine(sqlite_url(tmp_path))
    migrate(engine)
    store = SqlFunctionStore(engine)
    aliases = CachedAliasStore(SqlAliasStore(engine))
    functions = FunctionService(store, CodeStore(tmp_path / "code"), Pool(), IDENTITY, 10,  # type: ignore[arg-type]
                                aliases=aliases)  # fmt: skip
    return Services(functions, VersionService(functions, store, IDENTITY), AliasService(aliases, functions, IDENTITY))


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coroutine)


async def created(services: Services, name: str = "fn") -> None:
    new = NewFunction(name, CodeSource(zip_file=package("v1")), "provided.al2", "arn:aws:iam::0:role/r", "h")
    await services.functions.create(new)
    await services.functions.settled(name)


async def updated(services: Services, text: str) -> None:
    await services.functions.update_code("fn", CodeSource(zip_file=package(text)), None)
    await services.functions.settled("fn")


def test_publish_while_an_update_is_in_progress_is_a_conflict(services: Services) -> None:
    async def scenario() -> None:
        await created(services)
        await services.functions.update_configuration("fn", {"description": "x"}, None)
        with pytest.raises(ResourceConflict) as caught:
            await services.versions.publish("fn")  # the update has not settled yet
        assert caught.value.message == (
            f"The operation cannot be performed at this time. An update is in progress for resource: {ARN}"
        )

    run(scenario())


def test_numbers_are_never_reused_but_restart_with_a_new_function(services: Services) -> None:
    async def scenario() -> list[str]:
        await created(services)
        numbers = [(await services.versions.publish("fn")).version]
        await updated(services, "v2")
        numbers.append((await services.versions.publish("fn")).version)
        await services.functions.delete("fn", "2")
        await updated(services, "v3")
        numbers.append((await services.versions.publish("fn")).version)
        await services.functions.delete("fn", None)
        await created(services)
        numbers.append((await services.versions.publish("fn")).version)
        return numbers

    assert run(scenario()) == ["1", "2", "3", "1"]


def test_publishing_renews_the_revision_of_latest(services: Services) -> None:
    async def scenario() -> tuple[str, str]:
        await created(services)
        before = services.functions.get("fn").revision_id
        await services.versions.publish("fn")
        return before, services.functions.get("fn").revision_id

    before, after = run(scenario())
    assert before != after


def test_an_alias_qualifier_reads_the_version_it_points_to(services: Services) -> None:
    async def scenario() -> None:
        await created(services)
        await services.versions.publish("fn")
        services.aliases.create("fn", "live", "1", "", {})
        assert services.functions.get("fn", "live").version == "1"
        with pytest.raises(ResourceNotFound) as caught:
            services.functions.get("fn", "gone")
        assert caught.value.message == f"Function not found: {ARN}:gone"

    run(scenario())


def test_a_version_an_alias_routes_to_cannot_be_deleted(services: Services) -> None:
    async def scenario() -> None:
        await created(services)
        await services.versions.publish("fn")
        await updated(services, "v2")
        await services.versions.publish("fn")
        services.aliases.create("fn", "live", "1", "", {"2": 0.1})
        for version in ("1", "2"):
            with pytest.raises(ResourceConflict) as caught:
                await services.functions.delete("fn", version)
            assert caught.value.message == "Unable to delete version because the following aliases reference it: [live]"
        with pytest.raises(InvalidParameterValue):
            await services.functions.delete("fn", "live")
        services.aliases.update("fn", "live", AliasChange(weights={}))
        await services.functions.delete("fn", "2")

    run(scenario())


def test_aliases_go_with_their_function(services: Services) -> None:
    async def scenario() -> None:
        await created(services)
        services.aliases.create("fn", "live", "$LATEST", "", {})
        await services.functions.delete("fn", None)
        await created(services)
        with pytest.raises(ResourceNotFound):
            services.aliases.get("fn", "live")
        assert services.aliases.list("fn", None, None, 50) == ([], None)

    run(scenario())
