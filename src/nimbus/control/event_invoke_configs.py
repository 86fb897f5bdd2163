"""Put/Update/Get/Delete/ListFunctionEventInvokeConfigs: retries, event age and destinations per qualifier.

Put replaces a qualifier's settings (what it leaves out is unset, so the default applies); Update changes only
what it names, and 404s when the qualifier has no config yet (it does not create one). Messages are AWS's
(reference/lambda-control-plane.md §1, and the AWS recordings in LocalStack's test_lambda_api.snapshot.json):
writes and List on a missing function or qualifier say "The function doesn't exist."; Get and Delete say the
qualified function "doesn't have an EventInvokeConfig" whether the function, the qualifier or the config is missing.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import Protocol

import sqlalchemy as sa

from nimbus.domain.arns import LATEST, Identity
from nimbus.domain.event_invoke import NOTHING_TO_SET, EventInvokeConfig, TargetKind, check_destinations
from nimbus.domain.functions import FunctionConfig
from nimbus.domain.paging import cut_page, page_size
from nimbus.errors import InvalidParameterValue, PlatformFault, ResourceNotFound
from nimbus.store.event_invoke_configs import EventInvokeConfigStore, Key

NO_FUNCTION = "The function doesn't exist."
QUALIFIED_LIST = "The function name must not include a version number or alias."


class FunctionLookup(Protocol):
    def get(self, name: str, qualifier: str | None = None) -> FunctionConfig: ...


@dataclass(frozen=True)
class ConfigRequest:
    """What a Put or Update names. None: not given. An empty destination ARN removes that destination.

    `has_destination_config`: the request carried a DestinationConfig, even one without ARNs ({"OnSuccess": {}}),
    which AWS accepts as a setting (it answers 200 with both destinations empty).
    """

    maximum_retry_attempts: int | None = None
    maximum_event_age: int | None = None
    on_success: str | None = None
    on_failure: str | None = None
    has_destination_config: bool = False

    @property
    def is_empty(self) -> bool:
        settings = (self.maximum_retry_attempts, self.maximum_event_age, self.on_success, self.on_failure)
        return not self.has_destination_config and all(v is None for v in settings)

    def merged_into(self, current: EventInvokeConfig, last_modified: float) -> EventInvokeConfig:
        """An Update: what it names replaces the current setting; an empty destination ARN clears it."""
        retries, age = self.maximum_retry_attempts, self.maximum_event_age
        return replace(
            current,
            maximum_retry_attempts=current.maximum_retry_attempts if retries is None else retries,
            maximum_event_age=current.maximum_event_age if age is None else age,
            on_success=(current.on_success if self.on_success is None else self.on_success) or None,
            on_failure=(current.on_failure if self.on_failure is None else self.on_failure) or None,
            last_modified=last_modified,
        )


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
        config = request.merged_into(current, self._now())
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
        size = page_size(max_items)
        return cut_page(self._store.list(name, marker or None, size + 1), size, lambda config: config.qualifier)

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
        for target in check_destinations(request.on_success, request.on_failure, name, self._identity):
            if target.kind is TargetKind.LAMBDA and not self._exists(target.name, target.qualifier):
                raise InvalidParameterValue(f"The destination ARN {target.arn} is invalid.")
        return qualifier

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
