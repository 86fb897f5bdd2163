"""Function URL configs, one row per function and qualifier, found again by their URL id."""

from __future__ import annotations

from typing import Any, Protocol

import orjson
import sqlalchemy as sa

from nimbus.domain.function_urls import Cors, UrlConfig
from nimbus.store import per_qualifier
from nimbus.store.schema import function_url_configs as table


class FunctionUrlStore(Protocol):
    def get(self, name: str, qualifier: str) -> UrlConfig | None: ...
    def by_url_id(self, url_id: str) -> UrlConfig | None: ...
    def insert(self, config: UrlConfig) -> bool: ...
    def save(self, config: UrlConfig) -> None: ...
    def delete(self, name: str, qualifier: str) -> bool: ...
    def list(self, name: str, after: str | None, limit: int) -> list[UrlConfig]: ...


class SqlFunctionUrlStore:
    def __init__(self, engine: sa.Engine) -> None:
        self._engine = engine

    def get(self, name: str, qualifier: str) -> UrlConfig | None:
        return self._one(sa.select(table).where(*per_qualifier.matches(table, name, qualifier)))

    def by_url_id(self, url_id: str) -> UrlConfig | None:
        return self._one(sa.select(table).where(table.c.url_id == url_id))

    def insert(self, config: UrlConfig) -> bool:
        """Add a config; False when the qualifier already has one."""
        try:
            with self._engine.begin() as connection:
                connection.execute(table.insert().values(**_row(config)))
        except sa.exc.IntegrityError:
            return False
        return True

    def save(self, config: UrlConfig) -> None:
        key = per_qualifier.matches(table, config.function_name, config.qualifier)
        with self._engine.begin() as connection:
            connection.execute(table.update().where(*key).values(**_row(config)))

    def delete(self, name: str, qualifier: str) -> bool:
        return per_qualifier.delete(self._engine, table, name, qualifier)

    def list(self, name: str, after: str | None, limit: int) -> list[UrlConfig]:
        return [_config(row) for row in per_qualifier.rows_after(self._engine, table, name, after, limit)]

    def _one(self, query: sa.Select[Any]) -> UrlConfig | None:
        with self._engine.connect() as connection:
            row = connection.execute(query).mappings().first()
        return None if row is None else _config(row)


def _row(config: UrlConfig) -> dict[str, Any]:
    return {
        "function_name": config.function_name,
        "qualifier": config.qualifier,
        "url_id": config.url_id,
        "auth_type": config.auth_type,
        "invoke_mode": config.invoke_mode,
        "cors": None if config.cors is None else orjson.dumps(config.cors.to_wire()).decode(),
        "creation_time": config.creation_time,
        "last_modified_time": config.last_modified_time,
    }


def _config(row: Any) -> UrlConfig:
    values = dict(row)
    cors = values.pop("cors")
    return UrlConfig(**values, cors=None if cors is None else Cors.from_wire(orjson.loads(cors)))
