"""Alias routing rules and the weighted pick, with the draw given."""

from __future__ import annotations

import pytest

from nimbus.domain.aliases import Alias, check_routing, is_alias_name, pick_version
from nimbus.errors import InvalidParameterValue


def alias(version: str = "1", weights: dict[str, float] | None = None) -> Alias:
    return Alias("fn", "live", version, "rev", weights=weights or {})


def test_an_alias_without_routing_always_runs_its_version() -> None:
    assert {pick_version(alias("3"), draw) for draw in (0.0, 0.5, 0.999)} == {"3"}


def test_the_additional_version_takes_its_share_of_draws() -> None:
    weighted = alias("1", {"2": 0.25})
    assert pick_version(weighted, 0.0) == "2"
    assert pick_version(weighted, 0.2499) == "2"
    assert pick_version(weighted, 0.25) == "1"
    assert pick_version(weighted, 0.999) == "1"


def test_a_zero_weight_never_runs_the_additional_version() -> None:
    assert pick_version(alias("1", {"2": 0.0}), 0.0) == "1"


@pytest.mark.parametrize(
    ("qualifier", "expected"), [(None, False), ("$LATEST", False), ("12", False), ("live", True), ("v1", True)]
)
def test_qualifiers_that_name_aliases(qualifier: str | None, expected: bool) -> None:
    assert is_alias_name(qualifier) is expected


def test_an_alias_targets_its_version_and_its_additional_version() -> None:
    weighted = alias("1", {"2": 0.5})
    assert weighted.targets("1") and weighted.targets("2") and not weighted.targets("3")


@pytest.mark.parametrize(
    ("version", "weights", "message"),
    [
        ("1", {"2": 0.1, "3": 0.1}, "Number of items in AdditionalVersionWeights cannot be greater than 1"),
        ("1", {"1": 0.1},
         "Invalid function version 1. Function version 1 is already included in routing configuration."),
        ("$LATEST", {"1": 0.1}, "$LATEST is not supported for an alias pointing to more than 1 version"),
    ],
)  # fmt: skip
def test_routing_rules_refuse_with_aws_messages(version: str, weights: dict[str, float], message: str) -> None:
    with pytest.raises(InvalidParameterValue) as caught:
        check_routing(version, weights)
    assert caught.value.message == message


def test_routing_to_one_other_published_version_is_accepted() -> None:
    check_routing("1", {"2": 0.5})
    check_routing("$LATEST", {})
