"""Taggable resource ARNs and the tag limit."""

from __future__ import annotations

import pytest

from nimbus.domain.tags import (
    MAX_TAGS,
    QUALIFIED_RESOURCE,
    TOO_MANY_TAGS,
    TaggedResource,
    merged,
    parse_resource,
    without,
)
from nimbus.errors import InvalidParameterValue


def test_a_function_arn_names_a_function() -> None:
    assert parse_resource("arn:aws:lambda:us-east-1:000000000000:function:fn") == TaggedResource("function", "fn")


def test_an_event_source_mapping_arn_names_its_uuid() -> None:
    arn = "arn:aws:lambda:us-east-1:000000000000:event-source-mapping:12345678-1234-1234-1234-123456789012"
    assert parse_resource(arn) == TaggedResource("event-source-mapping", "12345678-1234-1234-1234-123456789012")


@pytest.mark.parametrize("qualifier", ["$LATEST", "1", "live"])
def test_a_qualified_function_arn_is_refused(qualifier: str) -> None:
    with pytest.raises(InvalidParameterValue, match=QUALIFIED_RESOURCE):
        parse_resource(f"arn:aws:lambda:us-east-1:000000000000:function:fn:{qualifier}")


def test_new_values_win_and_the_limit_counts_the_result() -> None:
    assert merged({"a": "1", "b": "2"}, {"b": "3"}) == {"a": "1", "b": "3"}
    full = {f"k{i}": "v" for i in range(MAX_TAGS)}
    assert merged(full, {"k0": "new"})["k0"] == "new"
    with pytest.raises(InvalidParameterValue, match=TOO_MANY_TAGS):
        merged(full, {"one-more": "v"})


def test_untagging_ignores_keys_that_are_not_there() -> None:
    assert without({"a": "1", "b": "2"}, ["a", "zzz"]) == {"b": "2"}
