"""SqlFunctionStore on SQLite: insert, save, versions, ordered listing, usage."""

from __future__ import annotations

from pathlib import Path

import pytest

from nimbus.domain.functions import CodeRef, FunctionConfig
from nimbus.store.database import create_engine, migrate, sqlite_url
from nimbus.store.functions import SqlFunctionStore


@pytest.fixture
def store(tmp_path: Path) -> SqlFunctionStore:
    engine = create_engine(sqlite_url(tmp_path))
    migrate(engine)
    return SqlFunctionStore(engine)


def _config(name: str, version: str = "$LATEST", size: int = 10) -> FunctionConfig:
    return FunctionConfig(
        name=name,
        runtime="python3.12",
        role="arn:aws:iam::000000000000:role/r",
        handler="app.handler",
        code=CodeRef(sha256_hex="ab" * 32, code_sha256="x", size=size),
        revision_id="rev",
        last_modified="2026-01-01T00:00:00.000+0000",
        version=version,
    )


def test_insert_then_get(store: SqlFunctionStore) -> None:
    assert store.insert(_config("f"))
    assert store.get("f") == _config("f")
    assert store.get("missing") is None


def test_a_second_insert_of_the_same_name_is_refused(store: SqlFunctionStore) -> None:
    assert store.insert(_config("f"))
    assert not store.insert(_config("f"))


def test_save_replaces_the_configuration(store: SqlFunctionStore) -> None:
    store.insert(_config("f"))
    store.save(_config("f").replace(timeout=30))
    saved = store.get("f")
    assert saved is not None and saved.timeout == 30


def test_delete_removes_every_version(store: SqlFunctionStore) -> None:
    store.insert(_config("f"))
    store.insert(_config("f", version="1"))
    store.delete("f")
    assert store.get("f") is None
    assert store.get("f", "1") is None


def test_delete_version_keeps_the_others(store: SqlFunctionStore) -> None:
    store.insert(_config("f"))
    store.insert(_config("f", version="1"))
    store.delete_version("f", "1")
    assert store.get("f") is not None
    assert store.get("f", "1") is None


def test_list_latest_pages_by_name(store: SqlFunctionStore) -> None:
    for name in ("c", "a", "b", "d"):
        store.insert(_config(name))
    store.insert(_config("a", version="1"))
    assert [c.name for c in store.list_latest(None, 2)] == ["a", "b"]
    assert [c.name for c in store.list_latest("b", 10)] == ["c", "d"]


def test_usage_counts_functions_and_their_code(store: SqlFunctionStore) -> None:
    store.insert(_config("a", size=100))
    store.insert(_config("b", size=50))
    assert store.usage() == (2, 150)
