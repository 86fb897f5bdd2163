"""Tables with one row per function and qualifier (event invoke configs, function URLs, provisioned concurrency):
the row a (function, qualifier) key names, deleting it, and a function's rows page by page in qualifier order."""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa


def matches(table: sa.Table, name: str, qualifier: str) -> tuple[sa.ColumnElement[bool], ...]:
    return table.c.function_name == name, table.c.qualifier == qualifier


def delete(engine: sa.Engine, table: sa.Table, name: str, qualifier: str) -> bool:
    """Remove the key's row; False when there was none."""
    with engine.begin() as connection:
        return bool(connection.execute(table.delete().where(*matches(table, name, qualifier))).rowcount)


def rows_after(engine: sa.Engine, table: sa.Table, name: str, after: str | None, limit: int) -> Sequence[sa.RowMapping]:
    """Up to `limit` of the function's rows whose qualifier sorts after `after` (None: from the first)."""
    query = sa.select(table).where(table.c.function_name == name)
    if after is not None:
        query = query.where(table.c.qualifier > after)
    with engine.connect() as connection:
        return connection.execute(query.order_by(table.c.qualifier).limit(limit)).mappings().all()
