"""TagResource, UntagResource, ListTags, and the Tags of CreateFunction and GetFunction.

Tags belong to the unqualified resource and are stored under its ARN as this server spells it (so an ARN given
with another partition spelling still finds them). Functions are the only taggable resources nimbus has today;
other kinds (event source mappings, code signing configs) register a lookup when they arrive.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Protocol

from nimbus.domain.arns import Identity
from nimbus.domain.functions import FunctionConfig
from nimbus.domain.tags import NO_TAGS, check_count, merged, parse_resource, without
from nimbus.errors import InvalidParameterValue, ResourceNotFound
from nimbus.store.tags import TagStore

NO_SUCH_RESOURCE = "The resource you requested does not exist."

# Given a resource's name, raise ResourceNotFound when it does not exist.
ExistenceCheck = Callable[[str], object]


class FunctionLookup(Protocol):
    def get(self, name: str, qualifier: str | None = None) -> FunctionConfig: ...


class TagService:
    def __init__(
        self,
        store: TagStore,
        functions: FunctionLookup,
        identity: Identity,
        others: Mapping[str, ExistenceCheck] | None = None,
    ) -> None:
        self._store = store
        self._functions = functions
        self._identity = identity
        self._others = dict(others or {})

    def list(self, arn: str) -> dict[str, str]:
        return self._store.get(self._resource(arn))

    def tag(self, arn: str, tags: Mapping[str, str]) -> None:
        if not tags:
            raise InvalidParameterValue(NO_TAGS)
        resource = self._resource(arn)
        self._store.replace(resource, merged(self._store.get(resource), tags))

    def untag(self, arn: str, keys: Iterable[str]) -> None:
        resource = self._resource(arn)
        self._store.replace(resource, without(self._store.get(resource), keys))

    # -- the Tags members of function operations ---------------------------------------------------------------
    @staticmethod
    def check_new(tags: Mapping[str, str]) -> None:
        """CreateFunction's Tags, checked before the function is created."""
        check_count(tags)

    def tag_new_function(self, name: str, tags: Mapping[str, str]) -> None:
        if tags:
            self._store.replace(self._identity.function_arn(name), tags)

    def of_function(self, name: str) -> dict[str, str]:
        return self._store.get(self._identity.function_arn(name))

    def adopt_legacy(self) -> int:
        """At startup: tags written before migration 0005 (inside each function's configuration) join the tag store
        under the function's ARN, which the migration could not spell (it knows no region or account). Idempotent."""
        return self._store.adopt_legacy(self._identity.function_arn)

    def _resource(self, arn: str) -> str:
        """The stored key of the resource an ARN names, once it is known to exist."""
        resource = parse_resource(arn)
        if resource.kind == "function":
            self._functions.get(resource.name)
            return self._identity.function_arn(resource.name)
        exists = self._others.get(resource.kind)
        if exists is None:
            raise ResourceNotFound(NO_SUCH_RESOURCE)
        exists(resource.name)
        return arn
