"""Qualifier -> the function version one invoke runs.

No qualifier or $LATEST runs $LATEST, a number runs that published version, and an alias runs its version or, with
RoutingConfig, its additional version for that version's share of invokes: each invoke draws again, so an async
event that is retried may run a different version on each attempt, as on AWS.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Protocol

from nimbus.domain.aliases import Alias, is_alias_name, pick_version
from nimbus.domain.functions import FunctionConfig


class FunctionSource(Protocol):
    """What routing needs from the control plane (control.functions.FunctionService provides it)."""

    async def get_ready(self, name: str, qualifier: str | None = None) -> FunctionConfig: ...


class AliasSource(Protocol):
    def alias(self, name: str, alias_name: str) -> Alias:
        """The alias, or ResourceNotFound worded for the invoke ("Function not found: ...:alias")."""
        ...


class VersionRouter:
    def __init__(
        self, functions: FunctionSource, aliases: AliasSource | None, draw: Callable[[], float] = random.random
    ) -> None:
        self._functions = functions
        self._aliases = aliases
        self._draw = draw

    async def route(self, name: str, qualifier: str | None) -> FunctionConfig:
        """The configuration of the version to run (its `version` is what X-Amz-Executed-Version reports)."""
        if self._aliases is not None and is_alias_name(qualifier):
            assert qualifier is not None
            qualifier = pick_version(self._aliases.alias(name, qualifier), self._draw())
        return await self._functions.get_ready(name, qualifier)
