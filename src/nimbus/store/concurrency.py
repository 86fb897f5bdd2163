"""Reserved concurrency (one row per function) and provisioned concurrency configs (per function and qualifier)."""

from __future__ import annotations

from typing import Any, Protocol

import sqlalchemy as sa

from nimbus.domain.concurrency import ProvisionedConfig
from nimbus.store import per_qualifier
from nimbus.store.schema import function_concurrency as reserved_table
from nimbus.store.schema import provisioned_concurrency as provisioned_table


class ConcurrencyStore(Protocol):
    def reservations(self) -> dict[str, int]: ...
    def set_reserved(self, name: str, reserved: int) -> None: ...
    def delete_reserved(self, name: str) -> None: ...
    def provisioned(self, name: str | None = None) -> list[ProvisionedConfig]:
        """Configs of one function (or of all) in qualifier order."""
        ...

    def save_provisioned(self, config: ProvisionedConfig) -> None: ...
    def delete_provisioned(self, name: str, qualifier: str) -> bool: ...


class SqlConcurrencyStore:
    def __init__(self, engine: sa.Engine) -> None:
        self._engine = engine

    def reservations(self) -> dict[str, int]:
        with self._engine.connect() as connection:
            rows = connection.execute(sa.select(reserved_table)).mappings()
            return {row["function_name"]: row["reserved"] for row in rows}

    def set_reserved(self, name: str, reserved: int) -> None:
        with self._engine.begin() as connection:
            connection.execute(reserved_table.delete().where(reserved_table.c.function_name == name))
            connection.execute(reserved_table.insert().values(function_name=name, reserved=reserved))

    def delete_reserved(self, name: str) -> None:
        with self._engine.begin() as connection:
            connection.execute(reserved_table.delete().where(reserved_table.c.function_name == name))

    def provisioned(self, name: str | None = None) -> list[ProvisionedConfig]:
        query = sa.select(provisioned_table).order_by(provisioned_table.c.function_name, provisioned_table.c.qualifier)
        if name is not None:
            query = query.where(provisioned_table.c.function_name == name)
        with self._engine.connect() as connection:
            return [_config(row) for row in connection.execute(query).mappings()]

    def save_provisioned(self, config: ProvisionedConfig) -> None:
        """Insert or replace the qualifier's config."""
        key = per_qualifier.matches(provisioned_table, config.function_name, config.qualifier)
        with self._engine.begin() as connection:
            connection.execute(provisioned_table.delete().where(*key))
            connection.execute(provisioned_table.insert().values(**vars(config)))

    def delete_provisioned(self, name: str, qualifier: str) -> bool:
        return per_qualifier.delete(self._engine, provisioned_table, name, qualifier)


def _config(row: Any) -> ProvisionedConfig:
    return ProvisionedConfig(**dict(row))
