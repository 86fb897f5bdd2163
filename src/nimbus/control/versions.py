"""PublishVersion and ListVersionsByFunction: immutable snapshots of $LATEST, numbered 1, 2, 3 ... per function.

Numbers are never reused, even after a version is deleted (the store keeps a counter per function). Publishing
when nothing changed since the newest version returns that version, as AWS does. Publishing takes the function's
mutation lock, so it cannot interleave with an update; an update that is still settling is a conflict, as on AWS.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from typing import Protocol

from nimbus.control.functions import FunctionService
from nimbus.domain import snapstart
from nimbus.domain.arns import LATEST, Identity
from nimbus.domain.functions import FunctionConfig
from nimbus.domain.states import FunctionState, UpdateStatus
from nimbus.domain.versions import check_code_sha256, snapshot, unchanged_since
from nimbus.errors import InvalidParameterValue, PreconditionFailed, ResourceConflict
from nimbus.runtime.results import InitOutcome
from nimbus.store.functions import FunctionStore

log = logging.getLogger(__name__)
STALE_REVISION = (
    "The Revision Id provided does not match the latest Revision Id. "
    "Call the GetFunction/GetAlias API to retrieve the latest Revision Id"
)
# Published versions and $LATEST sort by this position: $LATEST first, then by number.
_LATEST_POSITION = -1


class SnapshotMaker(Protocol):
    """Makes a SnapStart version's snapshot (invocation.snapstart.SnapshotMaker): its init's outcome."""

    async def make(self, config: FunctionConfig) -> InitOutcome: ...

    async def discard(self, config: FunctionConfig) -> None:
        """End the version's snapshot (it was deleted while the snapshot was made)."""
        ...


class VersionService:
    def __init__(
        self,
        functions: FunctionService,
        store: FunctionStore,
        identity: Identity,
        snapshots: SnapshotMaker | None = None,
        failed_reason: Callable[[InitOutcome], str] | None = None,
    ) -> None:
        self._functions = functions
        self._store = store
        self._identity = identity
        self._snapshots = snapshots
        self._failed_reason = failed_reason or (lambda init: str(init.error_type))
        self._tasks: set[asyncio.Task[None]] = set()

    async def publish(
        self,
        name: str,
        code_sha256: str | None = None,
        description: str | None = None,
        revision_id: str | None = None,
    ) -> FunctionConfig:
        async with self._functions.exclusive(name):
            latest = self._functions.get(name)
            self._check_not_updating(latest)
            if revision_id is not None and revision_id != latest.revision_id:
                raise PreconditionFailed(STALE_REVISION)
            check_code_sha256(latest, code_sha256)
            return self._publish(latest, description)

    async def publish_settled(self, name: str) -> FunctionConfig:
        """`Publish: true` on create or update: the version is taken once the change has settled."""
        await self._functions.settled(name)
        async with self._functions.exclusive(name):
            return self._publish(self._functions.get(name), None)

    def list_all(self, marker: str | None, max_items: int) -> tuple[list[FunctionConfig], str | None]:
        """ListFunctions with FunctionVersion=ALL: every version of every function, by name then version."""
        after = _all_position(marker)
        page = self._store.list_all(after, max_items + 1)
        if len(page) > max_items:
            page = page[:max_items]
            last = page[-1]
            return page, f"{last.name}:{_version_position(last.version)}"
        return page, None

    def list(self, name: str, marker: str | None, max_items: int) -> tuple[list[FunctionConfig], str | None]:
        self._functions.get(name)
        page = self._store.list_versions(name, _position(marker), max_items + 1)
        if len(page) > max_items:
            page = page[:max_items]
            return page, str(_version_position(page[-1].version))
        return page, None

    def _publish(self, latest: FunctionConfig, description: str | None) -> FunctionConfig:
        newest = self._newest(latest.name)
        if newest is not None and unchanged_since(latest, newest):
            return newest
        version = snapshot(latest, self._store.next_version(latest.name), str(uuid.uuid4()), description)
        if self._snapshots is not None and snapstart.snapshots(version):
            # AWS: the version is Pending until its snapshot is made, then Active (or Failed).
            version = version.replace(
                state=FunctionState.PENDING, state_reason="The function is being created.", state_reason_code="Creating"
            )
            self._store.insert(version)
            self._start_snapshot(version)
        else:
            self._store.insert(version)
        # AWS gives $LATEST a new RevisionId when a version is published from it.
        self._functions.save_latest(latest.replace(revision_id=str(uuid.uuid4())))
        return version

    async def _make_snapshot(self, version: FunctionConfig) -> None:
        assert self._snapshots is not None
        try:
            init = await self._snapshots.make(version)
        except Exception:
            log.exception("SnapStart snapshot of %s:%s failed", version.name, version.version)
            init = InitOutcome(0.0, b"{}", "Runtime.Unknown")
        current = self._store.get(version.name, version.version)
        if current is None:
            await self._snapshots.discard(version)  # deleted meanwhile: its deletion found no snapshot to close
            return
        if current.state is not FunctionState.PENDING:
            return
        if init.ok:
            settled = current.replace(state=FunctionState.ACTIVE, state_reason=None, state_reason_code=None)
        else:
            reason = self._failed_reason(init)
            settled = current.replace(
                state=FunctionState.FAILED, state_reason=reason, state_reason_code="FunctionError"
            )
        self._functions.save_version(settled.replace(revision_id=str(uuid.uuid4())))

    def recover(self) -> None:
        """After a restart: make the snapshots of SnapStart versions a crash left Pending (their snapshot processes
        died with the server), so that they settle Active or Failed as they would have."""
        if self._snapshots is None:
            return
        after: tuple[str, int] | None = None
        while True:
            page = self._store.list_all(after, 500)
            for config in page:
                if config.version != LATEST and config.state is FunctionState.PENDING and snapstart.snapshots(config):
                    self._start_snapshot(config)
            if len(page) < 500:
                return
            after = (page[-1].name, _version_position(page[-1].version))

    def _start_snapshot(self, version: FunctionConfig) -> None:
        task = asyncio.get_running_loop().create_task(self._make_snapshot(version))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _newest(self, name: str) -> FunctionConfig | None:
        versions = self._store.list_versions(name, _LATEST_POSITION, 2**31)
        return versions[-1] if versions else None

    def _check_not_updating(self, latest: FunctionConfig) -> None:
        if latest.state is FunctionState.PENDING or latest.last_update_status is UpdateStatus.IN_PROGRESS:
            raise ResourceConflict(
                "The operation cannot be performed at this time. "
                f"An update is in progress for resource: {self._identity.function_arn(latest.name)}"
            )


def _version_position(version: str) -> int:
    return _LATEST_POSITION if version == LATEST else int(version)


def _all_position(marker: str | None) -> tuple[str, int] | None:
    if not marker:
        return None
    name, _, position = marker.rpartition(":")
    number = _position(position)
    return (name, number) if name and number is not None else None


def _position(marker: str | None) -> int | None:
    if not marker:
        return None
    try:
        return int(marker)
    except ValueError:
        raise InvalidParameterValue(f"Invalid marker: {marker}") from None
