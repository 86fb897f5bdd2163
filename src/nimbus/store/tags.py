"""Tags, one row per (resource ARN, key)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

import sqlalchemy as sa

from nimbus.store.schema import resource_tags as table


class TagStore(Protocol):
    def get(self, resource: str) -> dict[str, str]: ...
    def replace(self, resource: str, tags: Mapping[str, str]) -> None:
        """Make these the resource's tags, all of them."""
        ...


class SqlTagStore:
    def __init__(self, engine: sa.Engine) -> None:
        self._engine = engine

    def get(self, resource: str) -> dict[str, str]:
        query = sa.select(table.c.tag_key, table.c.tag_value).where(table.c.resource == resource)
        with self._engine.connect() as connection:
            return {row.tag_key: row.tag_value for row in connection.execute(query)}

    def replace(self, resource: str, tags: Mapping[str, str]) -> None:
        rows = [{"resource": resource, "tag_key": key, "tag_value": value} for key, value in tags.items()]
        with self._engine.begin() as connection:
            connection.execute(table.delete().where(table.c.resource == resource))
            if rows:
                connection.execute(table.insert(), rows)
