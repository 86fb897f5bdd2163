"""CreateAlias, GetAlias, UpdateAlias, DeleteAlias and ListAliases.

An alias points at a published version (or $LATEST) and may send a share of its invokes to one more version
(RoutingConfig). The routing rules live in domain.aliases; this service checks that the versions exist and keeps
the aliases in the (cached) store that the invoke path reads.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Mapping

from nimbus.control.functions import FunctionService
from nimbus.control.versions import STALE_REVISION
from nimbus.domain.aliases import Alias, check_routing
from nimbus.domain.arns import Identity
from nimbus.domain.paging import cut_page
from nimbus.errors import PreconditionFailed, ResourceConflict, ResourceNotFound
from nimbus.store.aliases import AliasStore


@dataclasses.dataclass(frozen=True)
class AliasChange:
    """UpdateAlias: None leaves a member as it is; weights {} removes the routing."""

    function_version: str | None = None
    description: str | None = None
    weights: Mapping[str, float] | None = None
    revision_id: str | None = None


class AliasService:
    def __init__(self, store: AliasStore, functions: FunctionService, identity: Identity) -> None:
        self._store = store
        self._functions = functions
        self._identity = identity

    def create(
        self, name: str, alias_name: str, function_version: str, description: str, weights: Mapping[str, float]
    ) -> Alias:
        self._functions.get(name, function_version)
        if self._store.get(name, alias_name) is not None:
            raise ResourceConflict(f"Alias already exists: {self._identity.function_arn(name, alias_name)}")
        self._check_routing(name, function_version, weights)
        alias = Alias(name, alias_name, function_version, str(uuid.uuid4()), description, dict(weights))
        if not self._store.insert(alias):
            raise ResourceConflict(f"Alias already exists: {self._identity.function_arn(name, alias_name)}")
        return alias

    def get(self, name: str, alias_name: str) -> Alias:
        self._functions.get(name)
        alias = self._store.get(name, alias_name)
        if alias is None:
            raise ResourceNotFound(f"Cannot find alias arn: {self._identity.function_arn(name, alias_name)}")
        return alias

    def update(self, name: str, alias_name: str, change: AliasChange) -> Alias:
        self._functions.get(name)
        alias = self._store.get(name, alias_name)
        if alias is None:
            raise ResourceNotFound(f"Alias not found: {self._identity.function_arn(name, alias_name)}")
        if change.revision_id is not None and change.revision_id != alias.revision_id:
            raise PreconditionFailed(STALE_REVISION)
        version = change.function_version or alias.function_version
        if change.function_version is not None:
            self._functions.get(name, version)
        weights = alias.weights if change.weights is None else dict(change.weights)
        self._check_routing(name, version, weights)
        description = alias.description if change.description is None else change.description
        updated = dataclasses.replace(
            alias, function_version=version, description=description, weights=weights, revision_id=str(uuid.uuid4())
        )
        self._store.save(updated)
        return updated

    def renew_revision(self, name: str, alias_name: str, revision_id: str) -> Alias:
        """Give an alias a new RevisionId without other change (AddPermission/RemovePermission on it do)."""
        alias = self.get(name, alias_name)
        renewed = dataclasses.replace(alias, revision_id=revision_id)
        self._store.save(renewed)
        return renewed

    def delete(self, name: str, alias_name: str) -> None:
        """Deleting an alias that does not exist succeeds (DeleteAlias declares no ResourceNotFoundException)."""
        self._functions.get(name)
        self._store.delete(name, alias_name)

    def list(
        self, name: str, function_version: str | None, marker: str | None, max_items: int
    ) -> tuple[list[Alias], str | None]:
        self._functions.get(name)
        matching = [a for a in self._store.list(name) if function_version in (None, a.function_version)]
        if marker:
            matching = [alias for alias in matching if alias.name > marker]
        return cut_page(matching, max_items, lambda alias: alias.name)

    def _check_routing(self, name: str, function_version: str, weights: Mapping[str, float]) -> None:
        check_routing(function_version, weights)
        for version in weights:
            self._functions.get(name, version)
