"""Function resource policies, one row per function and qualifier: the Statement list and its RevisionId."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import orjson
import sqlalchemy as sa

from nimbus.domain.policies import Statement
from nimbus.store.schema import function_policies as table


@dataclass(frozen=True)
class StoredPolicy:
    statements: list[Statement] = field(default_factory=list)
    revision_id: str | None = None  # None: no policy yet


class PolicyStore(Protocol):
    def get(self, name: str, qualifier: str) -> StoredPolicy:
        """The policy, or an empty one without a RevisionId when there is none."""
        ...

    def save(self, name: str, qualifier: str, policy: StoredPolicy) -> None:
        """Replace the policy; one without statements is removed, as AWS drops an emptied policy."""
        ...


class SqlPolicyStore:
    def __init__(self, engine: sa.Engine) -> None:
        self._engine = engine

    def get(self, name: str, qualifier: str) -> StoredPolicy:
        query = sa.select(table.c.statements, table.c.revision_id).where(*_matches(name, qualifier))
        with self._engine.connect() as connection:
            row = connection.execute(query).one_or_none()
        if row is None:
            return StoredPolicy()
        return StoredPolicy(orjson.loads(row.statements), row.revision_id)

    def save(self, name: str, qualifier: str, policy: StoredPolicy) -> None:
        with self._engine.begin() as connection:
            connection.execute(table.delete().where(*_matches(name, qualifier)))
            if policy.statements:
                connection.execute(table.insert().values(
                    function_name=name, qualifier=qualifier, statements=orjson.dumps(policy.statements).decode(),
                    revision_id=policy.revision_id,
                ))  # fmt: skip


def _matches(name: str, qualifier: str) -> tuple[sa.ColumnElement[bool], ...]:
    return table.c.function_name == name, table.c.qualifier == qualifier
