"""The function control plane: create, read, list, update and delete functions (the $LATEST version).

Configuration lives in the store; a copy of each function's $LATEST stays in memory so the invoke path never
reads the database. A new or updated function is Pending / InProgress until its package is unpacked and its
runtime located, then Active / Successful; mutations and invokes that arrive meanwhile wait for that step (it
takes milliseconds) instead of failing with a conflict. Mutations of one function run one at a time, so two
concurrent updates both apply instead of the second overwriting the first.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from nimbus.control.packages import IMAGES_UNSUPPORTED, Boto3S3Fetcher, CodeSource, S3Fetcher, fetch_package
from nimbus.domain.aliases import Alias, is_alias_name
from nimbus.domain.arns import LATEST, Identity
from nimbus.domain.clock import lambda_timestamp, utc_now
from nimbus.domain.functions import CodeRef, FunctionConfig, LayerRef
from nimbus.domain.paging import cut_page
from nimbus.domain.rules import check_environment, check_function_name, check_handler_present, check_runtime
from nimbus.domain.states import FunctionState, UpdateStatus, check_state_move, check_update_move
from nimbus.errors import InvalidParameterValue, PreconditionFailed, ResourceConflict, ResourceNotFound
from nimbus.runtime.catalogue import SUPPORTED_RUNTIMES, interpreter_for
from nimbus.runtime.pool import EnvironmentPool
from nimbus.store.aliases import AliasStore, memory_alias_store
from nimbus.store.code import CodeStore
from nimbus.store.functions import FunctionStore

log = logging.getLogger(__name__)

_STALE_REVISION = (
    "The Revision Id provided does not match the latest Revision Id. "
    "Call the GetFunction/GetAlias API to retrieve the latest Revision Id"
)


class LayerResolver(Protocol):
    """What functions need of layers (control.layers.LayerService provides it)."""

    def resolve(self, arns: Sequence[str]) -> tuple[LayerRef, ...]:
        """A Layers list as package references, or AWS's InvalidParameterValueException."""
        ...

    def check_combined_size(self, code: CodeRef, layers: Sequence[LayerRef]) -> None: ...


class SnapshotCloser(Protocol):
    """Ends SnapStart snapshots (runtime.snapshots.Snapshots): a deleted version's process must not live on."""

    async def close_version(self, function_name: str, version: str) -> None: ...

    async def close_function(self, function_name: str) -> None: ...


class _NoLayers:
    """For a service built without layers: every layer version is missing."""

    def resolve(self, arns: Sequence[str]) -> tuple[LayerRef, ...]:
        if arns:
            raise InvalidParameterValue(f"Layer version {arns[0]} does not exist.")
        return ()

    def check_combined_size(self, code: CodeRef, layers: Sequence[LayerRef]) -> None:
        return None


@dataclass(frozen=True)
class NewFunction:
    name: str
    code: CodeSource
    runtime: str | None
    role: str
    handler: str | None
    package_type: str = "Zip"
    settings: Mapping[str, Any] = field(default_factory=dict)  # FunctionConfig field names -> values


class FunctionService:
    def __init__(
        self,
        store: FunctionStore,
        code: CodeStore,
        pool: EnvironmentPool,
        identity: Identity,
        account_concurrency: int,
        s3: S3Fetcher | None = None,
        aliases: AliasStore | None = None,
        layers: LayerResolver | None = None,
        snapshots: SnapshotCloser | None = None,
    ) -> None:
        self.account_concurrency = account_concurrency
        self._snapshots = snapshots
        self._store = store
        self._code = code
        self._pool = pool
        self._identity = identity
        self._s3 = s3 if s3 is not None else Boto3S3Fetcher()
        self._cache: dict[str, FunctionConfig] = {}
        # Published versions never change: once read they stay in memory until deleted.
        self._versions: dict[tuple[str, str], FunctionConfig] = {}
        self._aliases: AliasStore = aliases if aliases is not None else memory_alias_store()
        self._layers: LayerResolver = layers if layers is not None else _NoLayers()
        self._settling: dict[str, asyncio.Task[None]] = {}
        # One mutation of a function at a time: a second update waits for the first instead of overwriting it.
        # Each entry counts its users so it is dropped when the last one leaves.
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}

    # -- reads -----------------------------------------------------------------------------------------------
    def get(self, name: str, qualifier: str | None = None) -> FunctionConfig:
        """$LATEST, a published version, or the version an alias points to (its main one, not a weighted pick)."""
        version = qualifier or LATEST
        if is_alias_name(version):
            version = self.alias(name, version).function_version
        config = self._cache.get(name) if version == LATEST else self._versions.get((name, version))
        if config is None:
            config = self._store.get(name, version)
        if config is None:
            raise ResourceNotFound(f"Function not found: {self._identity.function_arn(name, qualifier)}")
        if version == LATEST:
            self._cache[name] = config
        else:
            self._versions[(name, version)] = config
        return config

    def alias(self, name: str, alias_name: str) -> Alias:
        """An alias used as a qualifier; a missing one reads as a missing function, as AWS words it."""
        missing = ResourceNotFound(f"Function not found: {self._identity.function_arn(name, alias_name)}")
        try:
            self.get(name)  # the function exists: its aliases are worth loading
        except ResourceNotFound:
            raise missing from None
        alias = self._aliases.get(name, alias_name)
        if alias is None:
            raise missing
        return alias

    async def get_ready(self, name: str, qualifier: str | None = None) -> FunctionConfig:
        """The configuration to invoke: waits while the function is still being created or updated."""
        await self._settled(name)
        return self.get(name, qualifier)

    def list(self, marker: str | None, max_items: int) -> tuple[list[FunctionConfig], str | None]:
        return cut_page(self._store.list_latest(after=marker, limit=max_items + 1), max_items, lambda c: c.name)

    def usage(self) -> tuple[int, int]:
        return self._store.usage()

    # -- writes ------------------------------------------------------------------------------------------------
    async def create(self, new: NewFunction) -> FunctionConfig:
        check_function_name(new.name)
        if new.package_type == "Image":
            raise InvalidParameterValue(IMAGES_UNSUPPORTED)
        check_handler_present(new.runtime, new.handler)
        assert new.runtime is not None and new.handler is not None
        check_runtime(new.runtime, SUPPORTED_RUNTIMES)
        check_environment(new.settings.get("environment") or {})
        layers = self._layers.resolve(new.settings.get("layers") or ())
        package = await fetch_package(new.code, self._s3)
        code = await asyncio.to_thread(self._code.put, package)
        self._layers.check_combined_size(code, layers)
        config = FunctionConfig(
            name=new.name,
            runtime=new.runtime,
            role=new.role,
            handler=new.handler,
            code=code,
            revision_id=str(uuid.uuid4()),
            last_modified=lambda_timestamp(utc_now()),
            **{**new.settings, "layers": layers},
        )
        if not self._store.insert(config):
            raise ResourceConflict(f"Function already exist: {new.name}")
        self._cache[new.name] = config
        self._settle(config)
        return config

    async def update_code(
        self,
        name: str,
        source: CodeSource,
        revision_id: str | None,
        architectures: tuple[str, ...] | None = None,
    ) -> FunctionConfig:
        async with self._exclusive(name):
            current = await self._current(name, revision_id)
            package = await fetch_package(source, self._s3)
            code = await asyncio.to_thread(self._code.put, package)
            self._layers.check_combined_size(code, current.layers)
            return await self._update(current.replace(code=code, architectures=architectures or current.architectures))

    async def update_configuration(
        self, name: str, changes: Mapping[str, Any], revision_id: str | None
    ) -> FunctionConfig:
        async with self._exclusive(name):
            current = await self._current(name, revision_id)
            if "runtime" in changes:
                check_runtime(changes["runtime"], SUPPORTED_RUNTIMES)
            if changes.get("environment") is not None:
                check_environment(changes["environment"])
            if "passthrough" in changes:
                changes = {**changes, "passthrough": {**current.passthrough, **changes["passthrough"]}}
            if "layers" in changes:  # Layers names ARNs; the configuration keeps their packages
                layers = self._layers.resolve(changes["layers"])
                self._layers.check_combined_size(current.code, layers)
                changes = {**changes, "layers": layers}
            return await self._update(current.replace(**changes))

    async def delete(self, name: str, qualifier: str | None) -> None:
        """Delete the function (all versions), or with a version number as qualifier that version only."""
        if qualifier == LATEST:
            raise InvalidParameterValue("$LATEST version cannot be deleted without deleting the function.")
        async with self._exclusive(name):
            self.get(name, qualifier)
            if is_alias_name(qualifier):
                raise InvalidParameterValue("Deletion of aliases is not supported.")
            await self._settled(name)
            if qualifier is not None:
                self._delete_version(name, qualifier)
                if self._snapshots is not None:
                    await self._snapshots.close_version(name, qualifier)
                return
            self._store.delete(name)  # its aliases and version counter go with it (store triggers)
            self._cache.pop(name, None)
            self._versions = {key: config for key, config in self._versions.items() if key[0] != name}
            self._aliases.forget(name)
        await self._pool.retire(name)
        if self._snapshots is not None:
            await self._snapshots.close_function(name)

    def _delete_version(self, name: str, version: str) -> None:
        users = [alias.name for alias in self._aliases.list(name) if alias.targets(version)]
        if users:
            raise ResourceConflict(
                f"Unable to delete version because the following aliases reference it: [{', '.join(users)}]"
            )
        self._store.delete_version(name, version)
        self._versions.pop((name, version), None)

    # -- hooks for the version service (control.versions) ------------------------------------------------------
    def exclusive(self, name: str) -> contextlib.AbstractAsyncContextManager[None]:
        """Hold the function's mutation lock (publishing must not interleave with an update)."""
        return self._exclusive(name)

    async def settled(self, name: str) -> None:
        """Wait until a create or update of $LATEST has finished settling."""
        await self._settled(name)

    def save_latest(self, config: FunctionConfig) -> None:
        """Store a new $LATEST that changes no code or configuration (PublishVersion renews its RevisionId)."""
        self._store.save(config)
        self._cache[config.name] = config

    def save_version(self, config: FunctionConfig) -> None:
        """Store a published version with a new RevisionId (AddPermission/RemovePermission on it renew it)."""
        self._store.save(config)
        self._versions[(config.name, config.version)] = config

    # -- state transitions ---------------------------------------------------------------------------------------
    @contextlib.asynccontextmanager
    async def _exclusive(self, name: str) -> AsyncIterator[None]:
        lock, users = self._locks.get(name, (asyncio.Lock(), 0))
        self._locks[name] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[name]
            if users == 1:
                del self._locks[name]
            else:
                self._locks[name] = (lock, users - 1)

    async def _current(self, name: str, revision_id: str | None) -> FunctionConfig:
        await self._settled(name)
        current = self.get(name)
        if revision_id is not None and revision_id != current.revision_id:
            raise PreconditionFailed(_STALE_REVISION)
        return current

    async def _update(self, config: FunctionConfig) -> FunctionConfig:
        updated = config.replace(
            revision_id=str(uuid.uuid4()),
            last_modified=lambda_timestamp(utc_now()),
            last_update_status=check_update_move(config.last_update_status, UpdateStatus.IN_PROGRESS),
            last_update_reason="The function is being created.",
            last_update_reason_code="Creating",
        )
        self._store.save(updated)
        self._cache[updated.name] = updated
        await self._pool.retire(updated.name)
        self._settle(updated)
        return updated

    def _settle(self, config: FunctionConfig) -> None:
        task = asyncio.create_task(self._activate(config), name=f"activate {config.name}")
        self._settling[config.name] = task
        task.add_done_callback(functools.partial(self._forget_settling, config.name))

    def _forget_settling(self, name: str, done: asyncio.Task[None]) -> None:
        # Only its own entry: the next update may have started settling (and taken the entry) before this callback
        # ran, and dropping that task would let a third update start from InProgress.
        if self._settling.get(name) is done:
            del self._settling[name]

    async def _activate(self, config: FunctionConfig) -> None:
        """Pending -> Active (create) or InProgress -> Successful (update), with a new RevisionId as AWS does."""
        if config.runtime.startswith("python"):
            await asyncio.to_thread(interpreter_for, config.runtime)
        settled = config.replace(
            state=check_state_move(config.state, FunctionState.ACTIVE),
            state_reason=None,
            state_reason_code=None,
            last_update_status=check_update_move(config.last_update_status, UpdateStatus.SUCCESSFUL),
            last_update_reason=None,
            last_update_reason_code=None,
            revision_id=str(uuid.uuid4()),
        )
        if self._cache.get(config.name) is not config:
            return  # deleted or superseded meanwhile
        self._store.save(settled)
        self._cache[config.name] = settled

    async def _settled(self, name: str) -> None:
        task = self._settling.get(name)
        if task is not None:
            await asyncio.shield(task)

    async def close(self) -> None:
        tasks = list(self._settling.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def recover(self) -> None:
        """After a restart: finish activations a crash interrupted."""
        marker: str | None = None
        while True:
            page, marker = self.list(marker, 500)
            for config in page:
                if config.state is FunctionState.PENDING or config.last_update_status is UpdateStatus.IN_PROGRESS:
                    self._cache[config.name] = config
                    self._settle(config)
            if marker is None:
                return
