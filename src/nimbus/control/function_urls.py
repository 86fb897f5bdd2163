"""Create/Get/Update/Delete/ListFunctionUrlConfigs: one URL per function ($LATEST) and per alias.

Messages are AWS's as LocalStack's AWS-recorded parity tests show them (tests/aws/services/lambda_/test_lambda_api.py
TestLambdaUrl): a missing function is "Function does not exist" on Create, Update and List but "The resource you
requested does not exist." on Get and Delete, as is a missing config.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Protocol

from nimbus.domain.arns import LATEST, Identity
from nimbus.domain.function_urls import URL_ID_ALPHABET, URL_ID_LENGTH, Cors, UrlConfig, function_url
from nimbus.domain.functions import FunctionConfig
from nimbus.domain.paging import cut_page, page_size
from nimbus.errors import ResourceConflict, ResourceNotFound, ValidationError
from nimbus.store.function_urls import FunctionUrlStore

NO_FUNCTION = "Function does not exist"
NO_RESOURCE = "The resource you requested does not exist."
URL_QUALIFIER_PATTERN = r"((?!^\d+$)^[0-9a-zA-Z-_]+$)"
_VERSION = re.compile(r"\d+")


class FunctionLookup(Protocol):
    def get(self, name: str, qualifier: str | None = None) -> FunctionConfig: ...


AliasExists = Callable[[str, str], bool]


def no_aliases(_name: str, _alias: str) -> bool:
    """The alias check to use until aliases exist: none does."""
    return False


def random_url_id() -> str:
    return "".join(secrets.choice(URL_ID_ALPHABET) for _ in range(URL_ID_LENGTH))


@dataclass(frozen=True)
class UrlChanges:
    """What a Create sets or an Update changes; None: not given."""

    auth_type: str | None = None
    cors: Cors | None = None
    invoke_mode: str | None = None


class FunctionUrlService:
    def __init__(
        self,
        store: FunctionUrlStore,
        functions: FunctionLookup,
        identity: Identity,
        base_url: str,
        alias_exists: AliasExists = no_aliases,
        clock: Callable[[], float] = time.time,
        new_id: Callable[[], str] = random_url_id,
    ) -> None:
        self._store = store
        self._functions = functions
        self._identity = identity
        self._base_url = base_url
        self._alias_exists = alias_exists
        self._clock = clock
        self._new_id = new_id

    # -- the wire's view ---------------------------------------------------------------------------------------------
    def url(self, config: UrlConfig) -> str:
        return function_url(self._base_url, config.url_id, self._identity.region)

    def arn(self, config: UrlConfig) -> str:
        qualifier = None if config.qualifier == LATEST else config.qualifier
        return self._identity.function_arn(config.function_name, qualifier)

    # -- operations ----------------------------------------------------------------------------------------------
    def create(self, name: str, qualifier: str | None, changes: UrlChanges) -> UrlConfig:
        key = _key(qualifier)
        if not self._function_exists(name):
            raise ResourceNotFound(NO_FUNCTION)
        existing = self._store.get(name, key)
        if existing is not None:
            raise self._conflict(existing)
        if not self._target_exists(name, key):
            raise ResourceNotFound(NO_FUNCTION)
        now = self._now()
        config = UrlConfig(
            function_name=name,
            qualifier=key,
            url_id=self._new_id(),
            auth_type=changes.auth_type or "NONE",
            creation_time=now,
            last_modified_time=now,
            invoke_mode=changes.invoke_mode or "BUFFERED",
            cors=changes.cors,
        )
        if not self._store.insert(config):  # a concurrent Create won the race
            raise self._conflict(self._store.get(name, key) or config)
        return config

    def get(self, name: str, qualifier: str | None) -> UrlConfig:
        key = _key(qualifier)
        config = self._store.get(name, key) if self._function_exists(name) else None
        if config is None:
            raise ResourceNotFound(NO_RESOURCE)
        return config

    def update(self, name: str, qualifier: str | None, changes: UrlChanges) -> UrlConfig:
        key = _key(qualifier)
        if not (self._function_exists(name) and self._target_exists(name, key)):
            raise ResourceNotFound(NO_FUNCTION)
        current = self._store.get(name, key)
        if current is None:
            raise ResourceNotFound(NO_RESOURCE)
        given = {k: v for k, v in vars(changes).items() if v is not None}
        config = replace(current, **given, last_modified_time=self._now())
        self._store.save(config)
        return config

    def delete(self, name: str, qualifier: str | None) -> None:
        key = _key(qualifier)
        if not (self._function_exists(name) and self._store.delete(name, key)):
            raise ResourceNotFound(NO_RESOURCE)

    def list(self, name: str, marker: str | None, max_items: int | None) -> tuple[list[UrlConfig], str | None]:
        if not self._function_exists(name):
            raise ResourceNotFound(NO_FUNCTION)
        size = page_size(max_items)
        return cut_page(self._store.list(name, marker or None, size + 1), size, lambda config: config.qualifier)

    def resolve(self, url_id: str) -> UrlConfig | None:
        """The config a URL request's host names, None for an unknown (or deleted) URL."""
        return self._store.by_url_id(url_id)

    # -- checks ------------------------------------------------------------------------------------------------------
    def _function_exists(self, name: str) -> bool:
        try:
            self._functions.get(name)
        except ResourceNotFound:
            return False
        return True

    def _target_exists(self, name: str, key: str) -> bool:
        return key == LATEST or self._alias_exists(name, key)

    def _conflict(self, existing: UrlConfig) -> ResourceConflict:
        return ResourceConflict(
            f"Failed to create function url config for [functionArn = {self.arn(existing)}]. "
            "Error message:  FunctionUrlConfig exists for this Lambda function"
        )

    def _now(self) -> str:
        moment = dt.datetime.fromtimestamp(self._clock(), dt.UTC)
        return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _key(qualifier: str | None) -> str:
    """The stored qualifier: $LATEST for the unqualified function, else the alias. A version number or $LATEST
    given explicitly (in an ARN: the Qualifier member's own pattern already refuses them) is refused the same way."""
    if qualifier is None:
        return LATEST
    if qualifier == LATEST or _VERSION.fullmatch(qualifier):
        raise ValidationError([
            f"Value '{qualifier}' at 'qualifier' failed to satisfy constraint: Member must satisfy regular "
            f"expression pattern: {URL_QUALIFIER_PATTERN}"
        ])  # fmt: skip
    return qualifier
