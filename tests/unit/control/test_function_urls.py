"""FunctionUrlService over the SQLite store: AWS's errors, paging, and URLs that follow their function."""

from __future__ import annotations

import itertools
from collections.abc import Callable

import pytest
import sqlalchemy as sa

from nimbus.control.function_urls import FunctionUrlService, UrlChanges
from nimbus.domain.function_urls import Cors
from nimbus.errors import ResourceConflict, ResourceNotFound, ValidationError
from nimbus.store.function_urls import SqlFunctionUrlStore
from nimbus.store.functions import SqlFunctionStore
from tests.unit.control.fakes import IDENTITY, StoredFunctions


@pytest.fixture
def service(engine: sa.Engine, functions: SqlFunctionStore) -> FunctionUrlService:
    ids = (f"{n:032d}" for n in itertools.count())
    return FunctionUrlService(
        SqlFunctionUrlStore(engine), StoredFunctions(functions), IDENTITY, "http://127.0.0.1:9009",
        alias_exists=lambda name, alias: alias == "live", clock=lambda: 1700000000.5, new_id=lambda: next(ids),
    )  # fmt: skip


def test_create_then_resolve_by_url_id(service: FunctionUrlService) -> None:
    config = service.create("fn", None, UrlChanges(auth_type="NONE", cors=Cors(allow_origins=("*",))))
    assert config.qualifier == "$LATEST" and config.invoke_mode == "BUFFERED"
    assert config.creation_time == "2023-11-14T22:13:20.500000Z" == config.last_modified_time
    assert service.url(config) == f"http://{config.url_id}.lambda-url.us-east-1.localhost:9009/"
    assert service.arn(config) == "arn:aws:lambda:us-east-1:000000000000:function:fn"
    assert service.resolve(config.url_id) == config
    assert service.resolve("unknown") is None


def test_a_second_create_conflicts_naming_the_function(service: FunctionUrlService) -> None:
    service.create("fn", None, UrlChanges(auth_type="NONE"))
    with pytest.raises(ResourceConflict) as caught:
        service.create("fn", None, UrlChanges(auth_type="AWS_IAM"))
    assert caught.value.message == (
        "Failed to create function url config for [functionArn = arn:aws:lambda:us-east-1:000000000000:function:fn]."
        " Error message:  FunctionUrlConfig exists for this Lambda function"
    )


def test_missing_function_or_alias_messages(service: FunctionUrlService) -> None:
    calls: list[Callable[[], object]] = [
        lambda: service.create("nope", None, UrlChanges(auth_type="NONE")),
        lambda: service.create("fn", "ghost", UrlChanges(auth_type="NONE")),
        lambda: service.update("nope", None, UrlChanges()),
        lambda: service.update("fn", "ghost", UrlChanges()),
        lambda: service.list("nope", None, None),
    ]
    for call in calls:
        with pytest.raises(ResourceNotFound, match=r"^Function does not exist$"):
            call()
    calls = [
        lambda: service.get("nope", None),
        lambda: service.get("fn", None),
        lambda: service.delete("fn", None),
        lambda: service.update("fn", None, UrlChanges()),
    ]
    for call in calls:
        with pytest.raises(ResourceNotFound, match=r"^The resource you requested does not exist\.$"):
            call()


@pytest.mark.parametrize("qualifier", ["$LATEST", "1"])
def test_versions_and_latest_are_not_url_qualifiers(service: FunctionUrlService, qualifier: str) -> None:
    with pytest.raises(ValidationError) as caught:
        service.get("fn", qualifier)
    assert caught.value.message == (
        f"1 validation error detected: Value '{qualifier}' at 'qualifier' failed to satisfy constraint: Member must "
        r"satisfy regular expression pattern: ((?!^\d+$)^[0-9a-zA-Z-_]+$)"
    )


def test_update_changes_only_what_it_names(service: FunctionUrlService) -> None:
    created = service.create("fn", "live", UrlChanges(auth_type="NONE", cors=Cors(max_age=5)))
    updated = service.update("fn", "live", UrlChanges(auth_type="AWS_IAM"))
    assert updated.auth_type == "AWS_IAM" and updated.cors == Cors(max_age=5) and updated.url_id == created.url_id
    assert service.arn(updated) == "arn:aws:lambda:us-east-1:000000000000:function:fn:live"
    assert service.get("fn", "live") == updated


def test_list_pages_by_qualifier_and_delete(service: FunctionUrlService) -> None:
    service.create("fn", None, UrlChanges(auth_type="NONE"))
    service.create("fn", "live", UrlChanges(auth_type="NONE"))
    first, marker = service.list("fn", None, 1)
    assert [c.qualifier for c in first] == ["$LATEST"] and marker == "$LATEST"
    rest, marker = service.list("fn", marker, 1)
    assert [c.qualifier for c in rest] == ["live"] and marker is None
    service.delete("fn", "live")
    assert [c.qualifier for c in service.list("fn", None, None)[0]] == ["$LATEST"]


def test_deleting_the_function_or_the_alias_deletes_its_urls(service: FunctionUrlService, engine: sa.Engine) -> None:
    latest = service.create("fn", None, UrlChanges(auth_type="NONE"))
    alias = service.create("fn", "live", UrlChanges(auth_type="NONE"))
    with engine.begin() as connection:
        connection.execute(sa.text("INSERT INTO aliases (function_name, name, function_version, description, weights,"
                                   " revision_id) VALUES ('fn', 'live', '1', '', '{}', 'r')"))  # fmt: skip
        connection.execute(sa.text("DELETE FROM aliases WHERE name = 'live'"))
    assert service.resolve(alias.url_id) is None and service.resolve(latest.url_id) is not None
    with engine.begin() as connection:
        connection.execute(sa.text("DELETE FROM function_versions WHERE function_name = 'fn'"))
    assert service.resolve(latest.url_id) is None
