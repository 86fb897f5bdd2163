"""Put/Update/Get/Delete/ListFunctionEventInvokeConfigs: retries, event age and destinations per qualifier.

Put replaces a qualifier's settings (what it leaves out is unset, so the default applies); Update changes only
what it names. Messages are AWS's (reference/lambda-control-plane.md §1, and LocalStack's AWS-recorded tests).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import Protocol

import sqlalchemy as sa

from nimbus.domain.arns import LATEST, Identity
from nimbus.domain.event_invoke import NOTHING_TO_SET, EventInvokeConfig, TargetKind, check_destination
from nimbus.domain.functions import FunctionConfig
from nimbus.errors import InvalidParameterValue, PlatformFault, ResourceNotFound
from nimbus.store.event_invoke_configs import EventInvokeConfigStore, Key

NO_FUNCTION = "The function doesn't exist."
QUALIFIED_LIST = "The function name must not include a version number or alias."
LIST_PAGE = 50


class FunctionLookup(Protocol):
    def get(self, name: str, qualifier: str | None = None) -> FunctionConfig: ...


@dataclass(frozen=True)
class ConfigRequest:
    """What a Put or Update names. None: not given. An empty destination ARN removes that destination."""

    maximum_retry_attempts: int | None = None
    maximum_event_age: int | None = None
    on_success: str | None = None
    on_failure: str | None = None

    @property
    def is_empty(self) -> bool:
        return all(v is None for v in (self.maximum_retry_attempts, self.maximum_event_age, self.on_success,
                                       self.on_failure))  # fmt: skip


class EventInvokeConfigService:
    def __init__(
        self,
        store: EventInvokeConfigStore,
        functions: FunctionLookup,
        identity: Identity,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._functions = functions
        self._identity = identity
        self._clock = clock

    def put(self, name: str, qualifier: str | None, request: ConfigRequest) -> EventInvokeConfig:
        qualifier = self._writable(name, qualifier, request)
        config = EventInvokeConfig(
            function_name=name,
            qualifier=qualifier,
            maximum_retry_attempts=request.maximum_retry_attempts,
            maximum_event_age=request.maximum_event_age,
            on_success=request.on_success or None,
            on_failure=request.on_failure or None,
            last_modified=self._now(),
        )
        self._store.save(config)
        return config

    def update(self, name: str, qualifier: str | None, request: ConfigRequest) -> EventInvokeConfig:
        qualifier = self._writable(name, qualifier, request)
        current = self._store.get(name, qualifier)
        if current is None:
            raise self._missing(name, qualifier)
        changes = {field: value for field, value in vars(request).items() if value is not None}
        for field in ("on_success", "on_failure"):
            if changes.get(field) == "":
                changes[field] = None
        config = replace(current, **changes, last_modified=self._now())
        self._store.save(config)
        return config

    def get(self, name: str, qualifier: str | None) -> EventInvokeConfig:
        qualifier = qualifier or LATEST
        config = self._store.get(name, qualifier) if self._exists(name, qualifier) else None
        if config is None:
            raise self._missing(name, qualifier)
        return config

    def delete(self, name: str, qualifier: str | None) -> None:
        qualifier = qualifier or LATEST
        if not (self._exists(name, qualifier) and self._store.delete(name, qualifier)):
            raise self._missing(name, qualifier)

    def list(self, name: str, qualifier: str | None, marker: str | None, max_items: int | None
             ) -> tuple[list[EventInvokeConfig], str | None]:  # fmt: skip
        if qualifier is not None:
            raise InvalidParameterValue(QUALIFIED_LIST)
        if not self._exists(name, None):
            raise ResourceNotFound(NO_FUNCTION)
        limit = min(max_items or LIST_PAGE, LIST_PAGE)
        page = self._store.list(name, marker or None, limit + 1)
        if len(page) > limit:
            return page[:limit], page[limit - 1].qualifier
        return page, None

    def effective(self, keys: Iterable[Key]) -> dict[Key, EventInvokeConfig]:
        """The configs that apply to these (function, qualifier) pairs; a pair without one gets the defaults."""
        wanted = list(keys)
        try:
            found = self._store.get_many(wanted)
        except sa.exc.SQLAlchemyError as exc:
            raise PlatformFault(f"could not read event invoke configs: {exc}") from exc
        return {key: found.get(key) or EventInvokeConfig(key[0], key[1]) for key in wanted}

    # -- checks ------------------------------------------------------------------------------------------------
    def _writable(self, name: str, qualifier: str | None, request: ConfigRequest) -> str:
        if request.is_empty:
            raise InvalidParameterValue(NOTHING_TO_SET)
        qualifier = qualifier or LATEST
        if not self._exists(name, qualifier):
            raise ResourceNotFound(NO_FUNCTION)
        for arn in (request.on_success, request.on_failure):
            if arn:
                self._check_target(name, arn)
        return qualifier

    def _check_target(self, name: str, arn: str) -> None:
        target = check_destination(arn, name, self._identity)
        if target.kind is TargetKind.LAMBDA and not self._exists(target.name, target.qualifier):
            raise InvalidParameterValue(f"The destination ARN {arn} is invalid.")

    def _exists(self, name: str, qualifier: str | None) -> bool:
        try:
            self._functions.get(name, qualifier)
        except ResourceNotFound:
            return False
        return True

    def _missing(self, name: str, qualifier: str) -> ResourceNotFound:
        arn = self._identity.function_arn(name, qualifier)
        return ResourceNotFound(f"The function {arn} doesn't have an EventInvokeConfig")

    def _now(self) -> float:
        return round(self._clock(), 3)
