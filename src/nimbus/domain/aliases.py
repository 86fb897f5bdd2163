"""Aliases: a name that points at a function version, optionally sharing its traffic with one other version.

The routing rules and the weighted pick are pure: the caller brings the random number, so tests need no seed.
RoutingConfig follows https://docs.aws.amazon.com/lambda/latest/dg/configuring-alias-routing.html.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from nimbus.domain.arns import LATEST
from nimbus.errors import InvalidParameterValue

_VERSION_NUMBER = re.compile(r"^[0-9]+$")
# AWS allows one additional version per alias today.
MAX_ADDITIONAL_VERSIONS = 1


@dataclass(frozen=True)
class Alias:
    function_name: str
    name: str
    function_version: str
    revision_id: str
    description: str = ""
    # Additional version -> the share of invokes it receives (0.0-1.0); the rest go to function_version.
    weights: Mapping[str, float] = field(default_factory=dict)

    def targets(self, version: str) -> bool:
        """Whether invokes through this alias can run `version` (so that version cannot be deleted)."""
        return version == self.function_version or version in self.weights


def is_version_number(qualifier: str) -> bool:
    return bool(_VERSION_NUMBER.match(qualifier))


def is_alias_name(qualifier: str | None) -> bool:
    """A qualifier names an alias unless it is absent, $LATEST or a version number."""
    return bool(qualifier) and qualifier != LATEST and not is_version_number(qualifier or "")


def check_routing(function_version: str, weights: Mapping[str, float]) -> None:
    """AWS's RoutingConfig rules that the model's constraints do not express (existence is checked by the caller)."""
    if len(weights) > MAX_ADDITIONAL_VERSIONS:
        raise InvalidParameterValue("Number of items in AdditionalVersionWeights cannot be greater than 1")
    for version in weights:
        if version == function_version:
            raise InvalidParameterValue(
                f"Invalid function version {function_version}. "
                f"Function version {function_version} is already included in routing configuration."
            )
        if function_version == LATEST:
            raise InvalidParameterValue("$LATEST is not supported for an alias pointing to more than 1 version")


def pick_version(alias: Alias, draw: float) -> str:
    """The version one invoke runs, given a uniform draw in [0, 1): each additional version takes its weight's
    share of the draws, the alias's own version the rest."""
    threshold = 0.0
    for version, weight in sorted(alias.weights.items()):
        threshold += weight
        if draw < threshold:
            return version
    return alias.function_version
