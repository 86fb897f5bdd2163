"""Fixtures the control-plane unit tests share: a migrated SQLite database and a function store over it."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from nimbus.store.database import create_engine, migrate, sqlite_url
from nimbus.store.functions import SqlFunctionStore
from tests.unit.control.fakes import function


@pytest.fixture
def engine(tmp_path: Path) -> sa.Engine:
    engine = create_engine(sqlite_url(tmp_path))
    migrate(engine)
    return engine


@pytest.fixture
def functions(engine: sa.Engine) -> SqlFunctionStore:
    """The store holding function "fn": its $LATEST and its version 1."""
    store = SqlFunctionStore(engine)
    store.insert(function("fn"))
    store.insert(function("fn", "1"))
    return store
