"""Event invoke configs, one row per function and qualifier."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol

import sqlalchemy as sa

from nimbus.domain.event_invoke import EventInvokeConfig
from nimbus.store import per_qualifier
from nimbus.store.schema import event_invoke_configs as table

Key = tuple[str, str]  # (function name, qualifier)


class EventInvokeConfigStore(Protocol):
    def get(self, name: str, qualifier: str) -> EventInvokeConfig | None: ...
    def get_many(self, keys: Iterable[Key]) -> dict[Key, EventInvokeConfig]: ...
    def save(self, config: EventInvokeConfig) -> None: ...
    def delete(self, name: str, qualifier: str) -> bool: ...
    def list(self, name: str, after: str | None, limit: int) -> list[EventInvokeConfig]: ...


class SqlEventInvokeConfigStore:
    def __init__(self, engine: sa.Engine) -> None:
        self._engine = engine

    def get(self, name: str, qualifier: str) -> EventInvokeConfig | None:
        return self.get_many([(name, qualifier)]).get((name, qualifier))

    def get_many(self, keys: Iterable[Key]) -> dict[Key, EventInvokeConfig]:
        wanted = set(keys)
        if not wanted:
            return {}
        names = {name for name, _ in wanted}
        query = sa.select(table).where(table.c.function_name.in_(names))
        with self._engine.connect() as connection:
            configs = [_config(row) for row in connection.execute(query).mappings()]
        return {key: config for config in configs if (key := (config.function_name, config.qualifier)) in wanted}

    def save(self, config: EventInvokeConfig) -> None:
        """Insert or replace the qualifier's config."""
        key = per_qualifier.matches(table, config.function_name, config.qualifier)
        with self._engine.begin() as connection:
            connection.execute(table.delete().where(*key))
            connection.execute(table.insert().values(**_row(config)))

    def delete(self, name: str, qualifier: str) -> bool:
        return per_qualifier.delete(self._engine, table, name, qualifier)

    def list(self, name: str, after: str | None, limit: int) -> list[EventInvokeConfig]:
        return [_config(row) for row in per_qualifier.rows_after(self._engine, table, name, after, limit)]


def _row(config: EventInvokeConfig) -> dict[str, Any]:
    return {
        "function_name": config.function_name,
        "qualifier": config.qualifier,
        "maximum_retry_attempts": config.maximum_retry_attempts,
        "maximum_event_age": config.maximum_event_age,
        "on_success": config.on_success,
        "on_failure": config.on_failure,
        "last_modified": config.last_modified,
    }


def _config(row: Any) -> EventInvokeConfig:
    return EventInvokeConfig(**dict(row))
