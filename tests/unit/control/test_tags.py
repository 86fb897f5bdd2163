"""TagService on SQLite: tag, untag, list, the resources it accepts, and tags follow their function."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config

from nimbus.control.tags import NO_SUCH_RESOURCE, TagService
from nimbus.domain.tags import NO_TAGS, QUALIFIED_RESOURCE, TOO_MANY_TAGS
from nimbus.errors import InvalidParameterValue, ResourceNotFound
from nimbus.store import database
from nimbus.store.database import create_engine, migrate, sqlite_url
from nimbus.store.functions import SqlFunctionStore
from nimbus.store.tags import SqlTagStore
from tests.unit.control.fakes import IDENTITY, StoredFunctions, function

ARN = "arn:aws:lambda:us-east-1:000000000000:function:fn"
ESM = "arn:aws:lambda:us-east-1:000000000000:event-source-mapping:12345678-1234-1234-1234-123456789012"


@pytest.fixture
def functions(functions: SqlFunctionStore) -> SqlFunctionStore:
    functions.insert(function("fn2"))
    return functions


@pytest.fixture
def service(engine: sa.Engine, functions: SqlFunctionStore) -> TagService:
    return TagService(SqlTagStore(engine), StoredFunctions(functions), IDENTITY)


def test_tag_merges_and_untag_removes(service: TagService) -> None:
    service.tag(ARN, {"a": "1", "b": "2"})
    service.tag(ARN, {"b": "3"})
    assert service.list(ARN) == {"a": "1", "b": "3"}
    service.untag(ARN, ["a", "missing"])
    assert service.list(ARN) == {"b": "3"}
    assert service.of_function("fn") == {"b": "3"}
    assert service.of_function("fn2") == {}


def test_empty_tags_too_many_tags_and_qualified_arns_are_refused(service: TagService) -> None:
    with pytest.raises(InvalidParameterValue, match=NO_TAGS):
        service.tag(ARN, {})
    with pytest.raises(InvalidParameterValue, match=TOO_MANY_TAGS):
        service.tag(ARN, {f"k{i}": "v" for i in range(51)})
    with pytest.raises(InvalidParameterValue, match=QUALIFIED_RESOURCE):
        service.tag(f"{ARN}:1", {"a": "1"})
    with pytest.raises(InvalidParameterValue, match=TOO_MANY_TAGS):
        service.check_new({f"k{i}": "v" for i in range(51)})


def test_missing_functions_and_unknown_resource_kinds_are_not_found(service: TagService) -> None:
    with pytest.raises(ResourceNotFound, match="Function not found: arn:aws:lambda:us-east-1:000000000000:function:x"):
        service.list("arn:aws:lambda:us-east-1:000000000000:function:x")
    with pytest.raises(ResourceNotFound, match=NO_SUCH_RESOURCE):
        service.tag(ESM, {"a": "1"})


def test_other_resource_kinds_can_be_registered(engine: sa.Engine, functions: SqlFunctionStore) -> None:
    kinds = {"event-source-mapping": lambda _: None}
    service = TagService(SqlTagStore(engine), StoredFunctions(functions), IDENTITY, kinds)
    service.tag(ESM, {"a": "1"})
    assert service.list(ESM) == {"a": "1"}


def test_a_deleted_function_takes_its_tags_and_only_its_own(service: TagService, functions: SqlFunctionStore) -> None:
    service.tag_new_function("fn", {"a": "1"})
    service.tag_new_function("fn2", {"b": "2"})
    functions.delete("fn")
    functions.insert(function("fn"))
    assert service.list(ARN) == {}
    assert service.of_function("fn2") == {"b": "2"}


def legacy_database(tmp_path: Path, rows: dict[str, dict[str, object]]) -> sa.Engine:
    """A database at revision 0004 holding $LATEST rows shaped as the codec wrote them before 0005 (tags inside)."""
    engine = create_engine(sqlite_url(tmp_path))
    config = Config()
    config.set_main_option("script_location", str(Path(database.__file__).parent / "migrations"))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0004")
    with engine.begin() as connection:
        for name, config_json in rows.items():
            connection.execute(sa.text(
                "INSERT INTO function_versions (function_name, version, config, created_at) "
                "VALUES (:name, '$LATEST', :config, 0)"
            ), {"name": name, "config": orjson.dumps(config_json).decode()})  # fmt: skip
    return engine


def legacy_config(name: str, tags: dict[str, str], description: str = "") -> dict[str, object]:
    # The shape store/codec.py wrote before migration 0005 (git show e703058:src/nimbus/store/codec.py).
    return {
        "name": name, "runtime": "python3.12", "role": "arn:aws:iam::000000000000:role/r", "handler": "app.handler",
        "code": ["ab" * 32, "x", 1], "revision_id": "rev", "last_modified": "2026-01-01T00:00:00.000+0000",
        "version": "$LATEST", "description": description, "timeout": 3, "memory_size": 128, "ephemeral_storage": 512,
        "environment": None, "architectures": ["x86_64"], "package_type": "Zip", "state": "Active",
        "state_reason": None, "state_reason_code": None, "last_update_status": "Successful",
        "last_update_reason": None, "last_update_reason_code": None, "passthrough": {}, "tags": tags,
    }  # fmt: skip


def test_tags_kept_in_configurations_before_0005_are_adopted_once(tmp_path: Path) -> None:
    engine = legacy_database(tmp_path, {
        "fn": legacy_config("fn", {"team": "a", "cost": "b"}),
        "fn2": legacy_config("fn2", {}, description='says "tags" in passing'),
    })  # fmt: skip
    migrate(engine)
    service = TagService(SqlTagStore(engine), StoredFunctions(SqlFunctionStore(engine)), IDENTITY)
    assert service.list(ARN) == {}  # the codec ignores the old member: untagged until adopted
    assert service.adopt_legacy() == 2
    assert service.list(ARN) == {"team": "a", "cost": "b"} == service.of_function("fn")
    assert service.list(f"{ARN}2") == {}
    with engine.connect() as connection:
        stored = connection.execute(sa.text("SELECT config FROM function_versions WHERE function_name = 'fn'"))
        assert "tags" not in orjson.loads(stored.scalar_one())
    service.untag(ARN, ["cost"])
    assert service.adopt_legacy() == 0  # nothing left to adopt: a removed tag does not come back
    assert service.list(ARN) == {"team": "a"}
    assert SqlFunctionStore(engine).get("fn") is not None  # the rewritten configuration still decodes
