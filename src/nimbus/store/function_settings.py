"""Per-function and per-version settings that tools read and write, as JSON values under a setting name."""

from __future__ import annotations

from typing import Any, Protocol

import orjson
import sqlalchemy as sa

from nimbus.store.schema import function_settings as table


class FunctionSettingsStore(Protocol):
    def get(self, name: str, qualifier: str, setting: str) -> Any | None:
        """The stored value, or None when the setting was never put."""
        ...

    def put(self, name: str, qualifier: str, setting: str, value: Any) -> None: ...


class SqlFunctionSettingsStore:
    def __init__(self, engine: sa.Engine) -> None:
        self._engine = engine

    def get(self, name: str, qualifier: str, setting: str) -> Any | None:
        query = sa.select(table.c.value).where(*_matches(name, qualifier, setting))
        with self._engine.connect() as connection:
            text = connection.execute(query).scalar_one_or_none()
        return orjson.loads(text) if text is not None else None

    def put(self, name: str, qualifier: str, setting: str, value: Any) -> None:
        row = {"function_name": name, "qualifier": qualifier, "setting": setting, "value": orjson.dumps(value).decode()}
        with self._engine.begin() as connection:
            connection.execute(table.delete().where(*_matches(name, qualifier, setting)))
            connection.execute(table.insert().values(**row))


def _matches(name: str, qualifier: str, setting: str) -> tuple[sa.ColumnElement[bool], ...]:
    return table.c.function_name == name, table.c.qualifier == qualifier, table.c.setting == setting
