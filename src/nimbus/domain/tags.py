"""Resource tags: which ARNs can carry them, and AWS's limit on how many.

Messages are AWS's (reference/lambda-control-plane.md §1 "Tags"; LocalStack's AWS-recorded tag tests).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from nimbus.errors import InvalidParameterValue

MAX_TAGS = 50

TOO_MANY_TAGS = "Number of tags exceeds resource tag limit."
QUALIFIED_RESOURCE = "Tags on function aliases and versions are not supported. Please specify a function ARN."
# What AWS answers to a TagResource whose Tags map is empty.
NO_TAGS = "An error occurred and the request cannot be processed."

# The model's TaggableResource pattern has already been checked; this only splits the ARN's resource part.
_RESOURCE = re.compile(r"^arn:[^:]+:lambda:[^:]+:\d{12}:(?P<kind>[a-z-]+):(?P<name>[^:]+)(?::(?P<qualifier>.+))?$")


@dataclass(frozen=True)
class TaggedResource:
    """A taggable resource named by its ARN: a kind ("function", "event-source-mapping", ...) and a name."""

    kind: str
    name: str
    qualifier: str | None = None


def parse_resource(arn: str) -> TaggedResource:
    match = _RESOURCE.match(arn)
    if match is None:
        raise InvalidParameterValue(f"Invalid resource ARN: {arn}")
    resource = TaggedResource(match["kind"], match["name"], match["qualifier"])
    if resource.qualifier is not None:
        raise InvalidParameterValue(QUALIFIED_RESOURCE)
    return resource


def merged(current: Mapping[str, str], added: Mapping[str, str]) -> dict[str, str]:
    """The tags after TagResource (new values win), within AWS's limit."""
    tags = {**current, **added}
    check_count(tags)
    return tags


def without(current: Mapping[str, str], keys: Iterable[str]) -> dict[str, str]:
    """The tags after UntagResource; keys that are not there are ignored, as AWS does."""
    removed = set(keys)
    return {key: value for key, value in current.items() if key not in removed}


def check_count(tags: Mapping[str, str]) -> None:
    if len(tags) > MAX_TAGS:
        raise InvalidParameterValue(TOO_MANY_TAGS)
