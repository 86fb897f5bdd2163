"""Reserved concurrency (Put/Get/DeleteFunctionConcurrency) and provisioned concurrency configs
(Put/Get/Delete/ListProvisionedConcurrencyConfigs).

Settings are kept in the store and mirrored into invocation.limits (what may run) and the pool's provisioned
environments (what is started ahead). After a restart `start()` loads both again and re-provisions. Rules and
messages: domain.concurrency.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from nimbus.domain.aliases import Alias, is_version_number
from nimbus.domain.arns import LATEST, Identity
from nimbus.domain.clock import lambda_timestamp, utc_now
from nimbus.domain.concurrency import (
    ALIAS_ON_PROVISIONED_VERSION,
    NO_PROVISIONED_CONFIG,
    NOT_ALIAS_OR_VERSION,
    PROVISIONED_ON_LATEST,
    VERSION_UNDER_PROVISIONED_ALIAS,
    ProvisionedConfig,
    ProvisionedState,
    check_provisioned,
    check_reservation,
)
from nimbus.domain.functions import FunctionConfig
from nimbus.domain.paging import cut_page, page_size
from nimbus.errors import InvalidParameterValue, ResourceConflict, ResourceNotFound, ServiceError
from nimbus.invocation.limits import ConcurrencyLimits
from nimbus.runtime.provisioned import ProvisionedEnvironments
from nimbus.runtime.spec import EnvironmentSpec
from nimbus.store.concurrency import ConcurrencyStore


class FunctionLookup(Protocol):
    def get(self, name: str, qualifier: str | None = None) -> FunctionConfig: ...
    def alias(self, name: str, alias_name: str) -> Alias: ...


SpecSource = Callable[[FunctionConfig], EnvironmentSpec]


class ConcurrencyService:
    def __init__(
        self,
        store: ConcurrencyStore,
        functions: FunctionLookup,
        limits: ConcurrencyLimits,
        provisioned: ProvisionedEnvironments,
        specs: SpecSource,
        identity: Identity,
    ) -> None:
        self._store = store
        self._functions = functions
        self._limits = limits
        self._provisioned = provisioned
        self._specs = specs
        self._identity = identity

    async def start(self) -> None:
        """Load reservations and start the provisioned environments of every config (after a restart too)."""
        for name, reserved in self._store.reservations().items():
            self._limits.set_reserved(name, reserved)
        for name in {config.function_name for config in self._store.provisioned()}:
            await self.sync(name)

    # -- reserved ------------------------------------------------------------------------------------------------
    def put_reserved(self, name: str, reserved: int) -> int:
        self._function(name)
        others = {other: n for other, n in self._limits.reservations().items() if other != name}
        check_reservation(self._limits.account_limit, others, reserved)
        self._store.set_reserved(name, reserved)
        self._limits.set_reserved(name, reserved)
        return reserved

    def get_reserved(self, name: str) -> int | None:
        self._function(name)
        return self._limits.reserved(name)

    def delete_reserved(self, name: str) -> None:
        self._function(name)
        self._store.delete_reserved(name)
        self._limits.set_reserved(name, None)

    @property
    def account_limit(self) -> int:
        return self._limits.account_limit

    @property
    def unreserved(self) -> int:
        return self._limits.unreserved

    # -- provisioned -----------------------------------------------------------------------------------------------
    async def put_provisioned(self, name: str, qualifier: str, requested: int) -> ProvisionedConfig:
        if qualifier == LATEST:
            raise InvalidParameterValue(PROVISIONED_ON_LATEST)
        version = self._target(name, qualifier).version
        others = [c for c in self._store.provisioned(name) if c.qualifier != qualifier]
        total = requested + sum(c.requested for c in others)
        unreserved_left = self._limits.shared_pool + self._own_provisioned(name)
        check_provisioned(total, self._limits.reserved(name), unreserved_left, self._limits.account_limit)
        self._check_conflicts(name, qualifier, version, others)
        config = ProvisionedConfig(name, qualifier, requested, lambda_timestamp(utc_now()))
        self._store.save_provisioned(config)
        await self.sync(name)
        return config

    def get_provisioned(self, name: str, qualifier: str) -> tuple[ProvisionedConfig, ProvisionedState]:
        if qualifier == LATEST:
            raise InvalidParameterValue(NOT_ALIAS_OR_VERSION)
        self._target(name, qualifier)
        config = next((c for c in self._store.provisioned(name) if c.qualifier == qualifier), None)
        if config is None:
            raise _not_found()
        return config, self._provisioned.state((name, qualifier))

    def list_provisioned(
        self, name: str, marker: str | None, max_items: int | None
    ) -> tuple[list[tuple[ProvisionedConfig, ProvisionedState]], str | None]:
        self._function(name)
        configs = [c for c in self._store.provisioned(name) if marker is None or c.qualifier > marker]
        page, next_marker = cut_page(configs, page_size(max_items), lambda config: config.qualifier)
        return [(c, self._provisioned.state((name, c.qualifier))) for c in page], next_marker

    async def delete_provisioned(self, name: str, qualifier: str) -> None:
        """Deleting a config that does not exist succeeds, as on AWS (the qualifier itself must exist)."""
        if qualifier == LATEST:
            raise InvalidParameterValue(NOT_ALIAS_OR_VERSION)
        self._target(name, qualifier)
        self._store.delete_provisioned(name, qualifier)
        await self.sync(name)

    async def sync(self, name: str) -> None:
        """Make the running state match the stored configs of a function: after a put or delete, a deleted function,
        version or alias (the store's triggers removed their rows), or an alias moved to another version."""
        configs = self._store.provisioned(name)
        wanted = {c.qualifier for c in configs}
        for key in self._provisioned.configured():
            if key[0] == name and key[1] not in wanted:
                await self._provisioned.deprovision(key)
        total = 0
        for config in configs:
            try:
                target = self._functions.get(name, config.qualifier)
            except ResourceNotFound:  # gone meanwhile; its row goes with it
                self._store.delete_provisioned(name, config.qualifier)
                await self._provisioned.deprovision((name, config.qualifier))
                continue
            total += config.requested
            await self._provisioned.provision((name, config.qualifier), self._specs(target), config.requested)
        self._limits.set_provisioned(name, total)

    async def function_deleted(self, name: str, qualifier: str | None) -> None:
        """DeleteFunction (or of one version) succeeded: drop what the deleted function or version held."""
        if qualifier is None:
            self._limits.set_reserved(name, None)
        await self.sync(name)

    # -- checks ----------------------------------------------------------------------------------------------------
    def _function(self, name: str) -> FunctionConfig:
        return self._functions.get(name)  # ResourceNotFound "Function not found: arn:...:function:NAME"

    def _target(self, name: str, qualifier: str) -> FunctionConfig:
        """The version a provisioned config's qualifier names: a published version, or an alias's version."""
        if is_version_number(qualifier):
            return self._functions.get(name, qualifier)  # "Function not found: arn:...:NAME:QUALIFIER"
        try:
            alias = self._functions.alias(name, qualifier)
        except ResourceNotFound:
            raise ResourceNotFound(f"Cannot find alias arn: {self._identity.function_arn(name, qualifier)}") from None
        return self._functions.get(name, alias.function_version)

    def _check_conflicts(self, name: str, qualifier: str, version: str, others: list[ProvisionedConfig]) -> None:
        """A version is provisioned either directly or through an alias, not both."""
        if not is_version_number(qualifier):
            if any(c.qualifier == version for c in others):
                raise ResourceConflict(ALIAS_ON_PROVISIONED_VERSION)
            return
        for config in others:
            if not is_version_number(config.qualifier) and self._target(name, config.qualifier).version == version:
                raise ResourceConflict(VERSION_UNDER_PROVISIONED_ALIAS)

    def _own_provisioned(self, name: str) -> int:
        """This function's provisioned total as the limits count it (taken out of the shared pool)."""
        if self._limits.reserved(name) is not None:
            return 0
        return sum(c.requested for c in self._store.provisioned(name))


def _not_found() -> ServiceError:
    return ServiceError("ProvisionedConcurrencyConfigNotFoundException", 404, NO_PROVISIONED_CONFIG)
