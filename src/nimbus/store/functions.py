"""Persistence of function configurations, one row per (function, version)."""

from __future__ import annotations

import time
from typing import Protocol

import sqlalchemy as sa

from nimbus.domain.arns import LATEST
from nimbus.domain.functions import FunctionConfig
from nimbus.store.codec import decode_config, encode_config
from nimbus.store.schema import function_versions, version_counters

# $LATEST first, then published versions in numeric order (as ListVersionsByFunction lists them).
_VERSION_ORDER = sa.case(
    (function_versions.c.version == LATEST, -1), else_=sa.cast(function_versions.c.version, sa.Integer)
)


class FunctionStore(Protocol):
    """Durable function configurations. Every method commits before it returns."""

    def get(self, name: str, version: str = LATEST) -> FunctionConfig | None: ...
    def insert(self, config: FunctionConfig) -> bool:
        """Add a new function version; False when one with that name and version exists."""
        ...

    def save(self, config: FunctionConfig) -> None:
        """Replace an existing version's configuration."""
        ...

    def delete(self, name: str) -> None:
        """Remove a function and all its versions."""
        ...

    def delete_version(self, name: str, version: str) -> None:
        """Remove one published version."""
        ...

    def usage(self) -> tuple[int, int]:
        """(number of functions, total bytes of their packages)."""
        ...

    def list_versions(self, name: str, after: int | None, limit: int) -> list[FunctionConfig]:
        """The function's versions, $LATEST first then by number; `after` is a position (-1 is $LATEST)."""
        ...

    def list_all(self, after: tuple[str, int] | None, limit: int) -> list[FunctionConfig]:
        """Every version of every function, by name then version; `after` is (name, position)."""
        ...

    def next_version(self, name: str) -> int:
        """Reserve the function's next version number: one more than any it ever had."""
        ...

    def list_latest(self, after: str | None, limit: int) -> list[FunctionConfig]:
        """$LATEST of each function, ordered by name, names strictly after `after`."""
        ...


class SqlFunctionStore:
    def __init__(self, engine: sa.Engine) -> None:
        self._engine = engine

    def get(self, name: str, version: str = LATEST) -> FunctionConfig | None:
        query = sa.select(function_versions.c.config).where(
            function_versions.c.function_name == name, function_versions.c.version == version
        )
        with self._engine.connect() as connection:
            text = connection.execute(query).scalar_one_or_none()
        return decode_config(text) if text is not None else None

    def insert(self, config: FunctionConfig) -> bool:
        row = {
            "function_name": config.name,
            "version": config.version,
            "config": encode_config(config),
            "created_at": time.time(),
        }
        try:
            with self._engine.begin() as connection:
                connection.execute(function_versions.insert().values(**row))
        except sa.exc.IntegrityError:
            return False
        return True

    def save(self, config: FunctionConfig) -> None:
        statement = (
            function_versions.update()
            .where(
                function_versions.c.function_name == config.name,
                function_versions.c.version == config.version,
            )
            .values(config=encode_config(config))
        )
        with self._engine.begin() as connection:
            connection.execute(statement)

    def delete(self, name: str) -> None:
        with self._engine.begin() as connection:
            connection.execute(function_versions.delete().where(function_versions.c.function_name == name))

    def delete_version(self, name: str, version: str) -> None:
        statement = function_versions.delete().where(
            function_versions.c.function_name == name, function_versions.c.version == version
        )
        with self._engine.begin() as connection:
            connection.execute(statement)

    def list_latest(self, after: str | None, limit: int) -> list[FunctionConfig]:
        query = sa.select(function_versions.c.config).where(function_versions.c.version == LATEST)
        if after is not None:
            query = query.where(function_versions.c.function_name > after)
        query = query.order_by(function_versions.c.function_name).limit(limit)
        with self._engine.connect() as connection:
            return [decode_config(text) for text in connection.execute(query).scalars()]

    def list_versions(self, name: str, after: int | None, limit: int) -> list[FunctionConfig]:
        query = sa.select(function_versions.c.config).where(function_versions.c.function_name == name)
        if after is not None:
            query = query.where(after < _VERSION_ORDER)
        query = query.order_by(_VERSION_ORDER).limit(limit)
        with self._engine.connect() as connection:
            return [decode_config(text) for text in connection.execute(query).scalars()]

    def list_all(self, after: tuple[str, int] | None, limit: int) -> list[FunctionConfig]:
        query = sa.select(function_versions.c.config)
        if after is not None:
            name, position = after
            query = query.where(
                sa.or_(
                    function_versions.c.function_name > name,
                    sa.and_(function_versions.c.function_name == name, position < _VERSION_ORDER),
                )
            )
        query = query.order_by(function_versions.c.function_name, _VERSION_ORDER).limit(limit)
        with self._engine.connect() as connection:
            return [decode_config(text) for text in connection.execute(query).scalars()]

    def next_version(self, name: str) -> int:
        counter = version_counters.c
        with self._engine.begin() as connection:
            last = connection.execute(
                sa.select(counter.last_version).where(counter.function_name == name)
            ).scalar_one_or_none()
            if last is None:
                connection.execute(version_counters.insert().values(function_name=name, last_version=1))
                return 1
            connection.execute(
                version_counters.update().where(counter.function_name == name).values(last_version=last + 1)
            )
            return int(last) + 1

    def usage(self) -> tuple[int, int]:
        count = 0
        total = 0
        after: str | None = None
        while page := self.list_latest(after, 500):
            count += len(page)
            total += sum(config.code.size for config in page)
            after = page[-1].name
        return count, total
