"""Tags, one row per (resource ARN, key)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol

import orjson
import sqlalchemy as sa

from nimbus.store.schema import function_versions
from nimbus.store.schema import resource_tags as table

# Before migration 0005 a function's tags were the "tags" member of its $LATEST configuration JSON.
_LEGACY_MEMBER = "tags"


class TagStore(Protocol):
    def get(self, resource: str) -> dict[str, str]: ...
    def replace(self, resource: str, tags: Mapping[str, str]) -> None:
        """Make these the resource's tags, all of them."""
        ...

    def adopt_legacy(self, function_arn: Callable[[str], str]) -> int:
        """Move tags still kept in functions' configurations (written before migration 0005) to this store, under
        the function's ARN; the number of functions they came from."""
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

    def adopt_legacy(self, function_arn: Callable[[str], str]) -> int:
        latest = function_versions.c.version == "$LATEST"
        query = sa.select(function_versions.c.function_name, function_versions.c.config).where(
            latest, function_versions.c.config.like(f'%"{_LEGACY_MEMBER}"%')
        )
        adopted = 0
        with self._engine.begin() as connection:  # one transaction: tags move, or stay where they were
            for name, text in connection.execute(query).all():
                config: dict[str, Any] = orjson.loads(text)
                if _LEGACY_MEMBER not in config:
                    continue  # the text matched elsewhere (a description, a variable)
                legacy = config.pop(_LEGACY_MEMBER) or {}
                resource = function_arn(name)
                kept = {row.tag_key for row in connection.execute(
                    sa.select(table.c.tag_key).where(table.c.resource == resource)
                )}  # fmt: skip
                rows = [{"resource": resource, "tag_key": key, "tag_value": value}
                        for key, value in legacy.items() if key not in kept]  # fmt: skip
                if rows:
                    connection.execute(table.insert(), rows)
                connection.execute(
                    function_versions.update()
                    .where(function_versions.c.function_name == name, latest)
                    .values(config=orjson.dumps(config).decode())
                )
                adopted += 1
        return adopted
