"""Persistence of aliases, one row per (function, alias), with a write-through cache for the invoke path."""

from __future__ import annotations

from typing import Any, Protocol

import orjson
import sqlalchemy as sa

from nimbus.domain.aliases import Alias
from nimbus.store.schema import aliases


class AliasStore(Protocol):
    """Durable aliases. Every write commits before it returns."""

    def list(self, function_name: str) -> list[Alias]:
        """The function's aliases, ordered by name."""
        ...

    def get(self, function_name: str, name: str) -> Alias | None: ...

    def insert(self, alias: Alias) -> bool:
        """Add an alias; False when the function already has one by that name."""
        ...

    def save(self, alias: Alias) -> None: ...

    def delete(self, function_name: str, name: str) -> None: ...

    def forget(self, function_name: str) -> None:
        """The function was deleted (its rows went with it): drop anything remembered about it."""
        ...


class SqlAliasStore:
    def __init__(self, engine: sa.Engine) -> None:
        self._engine = engine

    def list(self, function_name: str) -> list[Alias]:
        query = sa.select(aliases).where(aliases.c.function_name == function_name).order_by(aliases.c.name)
        with self._engine.connect() as connection:
            return [_decode(row._mapping) for row in connection.execute(query)]

    def get(self, function_name: str, name: str) -> Alias | None:
        query = sa.select(aliases).where(aliases.c.function_name == function_name, aliases.c.name == name)
        with self._engine.connect() as connection:
            row = connection.execute(query).first()
        return _decode(row._mapping) if row is not None else None

    def insert(self, alias: Alias) -> bool:
        try:
            with self._engine.begin() as connection:
                connection.execute(aliases.insert().values(**_encode(alias)))
        except sa.exc.IntegrityError:
            return False
        return True

    def save(self, alias: Alias) -> None:
        statement = (
            aliases.update()
            .where(aliases.c.function_name == alias.function_name, aliases.c.name == alias.name)
            .values(**_encode(alias))
        )
        with self._engine.begin() as connection:
            connection.execute(statement)

    def delete(self, function_name: str, name: str) -> None:
        statement = aliases.delete().where(aliases.c.function_name == function_name, aliases.c.name == name)
        with self._engine.begin() as connection:
            connection.execute(statement)

    def forget(self, function_name: str) -> None:
        pass  # nothing remembered


class CachedAliasStore:
    """Keeps each function's aliases in memory once read: an invoke through an alias never reads the database.

    Writes go through to the store first, then to memory; this process is the only writer.
    """

    def __init__(self, store: AliasStore) -> None:
        self._store = store
        self._functions: dict[str, dict[str, Alias]] = {}

    def list(self, function_name: str) -> list[Alias]:
        return sorted(self._loaded(function_name).values(), key=lambda alias: alias.name)

    def get(self, function_name: str, name: str) -> Alias | None:
        return self._loaded(function_name).get(name)

    def insert(self, alias: Alias) -> bool:
        if not self._store.insert(alias):
            return False
        self._loaded(alias.function_name)[alias.name] = alias
        return True

    def save(self, alias: Alias) -> None:
        self._store.save(alias)
        self._loaded(alias.function_name)[alias.name] = alias

    def delete(self, function_name: str, name: str) -> None:
        self._store.delete(function_name, name)
        self._loaded(function_name).pop(name, None)

    def forget(self, function_name: str) -> None:
        self._functions.pop(function_name, None)
        self._store.forget(function_name)

    def _loaded(self, function_name: str) -> dict[str, Alias]:
        cached = self._functions.get(function_name)
        if cached is None:
            cached = {alias.name: alias for alias in self._store.list(function_name)}
            self._functions[function_name] = cached
        return cached


def _encode(alias: Alias) -> dict[str, Any]:
    return {
        "function_name": alias.function_name,
        "name": alias.name,
        "function_version": alias.function_version,
        "description": alias.description,
        "weights": orjson.dumps(dict(alias.weights)).decode(),
        "revision_id": alias.revision_id,
    }


def _decode(row: Any) -> Alias:
    return Alias(
        function_name=row["function_name"],
        name=row["name"],
        function_version=row["function_version"],
        description=row["description"],
        weights={str(k): float(v) for k, v in orjson.loads(row["weights"]).items()},
        revision_id=row["revision_id"],
    )


class NoAliasStore:
    """A backend that keeps nothing: under CachedAliasStore it makes an in-memory store (tests, defaults)."""

    def list(self, function_name: str) -> list[Alias]:
        return []

    def get(self, function_name: str, name: str) -> Alias | None:
        return None

    def insert(self, alias: Alias) -> bool:
        return True

    def save(self, alias: Alias) -> None:
        pass

    def delete(self, function_name: str, name: str) -> None:
        pass

    def forget(self, function_name: str) -> None:
        pass


def memory_alias_store() -> CachedAliasStore:
    return CachedAliasStore(NoAliasStore())
