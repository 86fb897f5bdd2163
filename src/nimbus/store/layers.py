"""Layer versions and their policies, one row per version; a counter per layer so version numbers are never reused."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator
from typing import Any, Protocol

import orjson
import sqlalchemy as sa

from nimbus.domain.functions import CodeRef
from nimbus.domain.layers import LayerPolicy, LayerVersion
from nimbus.store.schema import layer_versions as table
from nimbus.store.schema import layers as counters

Key = tuple[str, int]  # (layer name, version)


class LayerStore(Protocol):
    """Durable layer versions. Every method commits before it returns."""

    def publish(self, draft: LayerVersion) -> LayerVersion:
        """Store `draft` as the layer's next version (one more than any it ever had); returns it numbered."""
        ...

    def get_many(self, keys: Iterable[Key]) -> dict[Key, LayerVersion]: ...
    def delete(self, name: str, version: int) -> None: ...
    def versions(self, name: str, before: int | None) -> Iterator[LayerVersion]:
        """The layer's versions, newest first, numbered below `before` when given."""
        ...

    def newest_first(self, after_name: str | None) -> Iterator[LayerVersion]:
        """Every layer's versions, by layer name, newest first within a layer; names strictly after `after_name`."""
        ...

    def save_policy(self, name: str, version: int, policy: LayerPolicy | None) -> None: ...
    def total_code_size(self) -> int: ...


class SqlLayerStore:
    def __init__(self, engine: sa.Engine) -> None:
        self._engine = engine

    def publish(self, draft: LayerVersion) -> LayerVersion:
        with self._engine.begin() as connection:
            # The UPDATE takes the write lock first, so two publishers cannot read the same last number.
            bumped = connection.execute(
                counters.update().where(counters.c.name == draft.name).values(last_version=counters.c.last_version + 1)
            ).rowcount
            if not bumped:
                connection.execute(counters.insert().values(name=draft.name, last_version=1))
            number = connection.execute(
                sa.select(counters.c.last_version).where(counters.c.name == draft.name)
            ).scalar_one()
            published = dataclasses.replace(draft, version=int(number))
            connection.execute(table.insert().values(**_row(published)))
        return published

    def get_many(self, keys: Iterable[Key]) -> dict[Key, LayerVersion]:
        wanted = set(keys)
        if not wanted:
            return {}
        names = {name for name, _ in wanted}
        query = sa.select(table).where(table.c.layer_name.in_(names))
        with self._engine.connect() as connection:
            found = [_layer_version(row) for row in connection.execute(query).mappings()]
        return {key: layer for layer in found if (key := (layer.name, layer.version)) in wanted}

    def delete(self, name: str, version: int) -> None:
        with self._engine.begin() as connection:
            connection.execute(table.delete().where(table.c.layer_name == name, table.c.version == version))

    def versions(self, name: str, before: int | None) -> Iterator[LayerVersion]:
        query = sa.select(table).where(table.c.layer_name == name)
        if before is not None:
            query = query.where(table.c.version < before)
        yield from self._stream(query.order_by(table.c.version.desc()))

    def newest_first(self, after_name: str | None) -> Iterator[LayerVersion]:
        query = sa.select(table)
        if after_name is not None:
            query = query.where(table.c.layer_name > after_name)
        yield from self._stream(query.order_by(table.c.layer_name, table.c.version.desc()))

    def save_policy(self, name: str, version: int, policy: LayerPolicy | None) -> None:
        values = _policy_columns(policy)
        statement = table.update().where(table.c.layer_name == name, table.c.version == version).values(**values)
        with self._engine.begin() as connection:
            connection.execute(statement)

    def total_code_size(self) -> int:
        with self._engine.connect() as connection:
            return int(connection.execute(sa.select(sa.func.coalesce(sa.func.sum(table.c.code_size), 0))).scalar_one())

    def _stream(self, query: sa.Select[Any]) -> Iterator[LayerVersion]:
        # Read in pages so a caller that stops early (a page of a listing) does not hold a cursor open.
        offset = 0
        while True:
            with self._engine.connect() as connection:
                rows = list(connection.execute(query.offset(offset).limit(_BATCH)).mappings())
            yield from (_layer_version(row) for row in rows)
            if len(rows) < _BATCH:
                return
            offset += _BATCH


_BATCH = 200


def _row(layer: LayerVersion) -> dict[str, Any]:
    return {
        "layer_name": layer.name,
        "version": layer.version,
        "description": layer.description,
        "created_date": layer.created_date,
        "compatible_runtimes": _json_list(layer.compatible_runtimes),
        "compatible_architectures": _json_list(layer.compatible_architectures),
        "license_info": layer.license_info,
        "code_sha256_hex": layer.code.sha256_hex,
        "code_sha256": layer.code.code_sha256,
        "code_size": layer.code.size,
        **_policy_columns(layer.policy),
    }


def _policy_columns(policy: LayerPolicy | None) -> dict[str, Any]:
    if policy is None or not policy.statements:
        return {"policy": None, "policy_revision": None}
    statements = [dict(statement) for statement in policy.statements]
    return {"policy": orjson.dumps(statements).decode(), "policy_revision": policy.revision_id}


def _json_list(values: tuple[str, ...] | None) -> str | None:
    return orjson.dumps(list(values)).decode() if values is not None else None


def _tuple(text: str | None) -> tuple[str, ...] | None:
    return tuple(orjson.loads(text)) if text is not None else None


def _layer_version(row: Any) -> LayerVersion:
    policy = None
    if row["policy"] is not None:
        policy = LayerPolicy(tuple(orjson.loads(row["policy"])), row["policy_revision"])
    return LayerVersion(
        name=row["layer_name"],
        version=int(row["version"]),
        code=CodeRef(row["code_sha256_hex"], row["code_sha256"], int(row["code_size"])),
        created_date=row["created_date"],
        description=row["description"],
        compatible_runtimes=_tuple(row["compatible_runtimes"]),
        compatible_architectures=_tuple(row["compatible_architectures"]),
        license_info=row["license_info"],
        policy=policy,
    )
