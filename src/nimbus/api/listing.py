"""The answer of every List* operation: one page of items under the operation's member, and NextMarker when more
pages follow (AWS leaves NextMarker out on the last page)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from nimbus.api.wire import WireResponse, json_response


def page_response(member: str, items: Sequence[Any], marker: str | None) -> WireResponse:
    document: dict[str, Any] = {member: list(items)}
    if marker:
        document["NextMarker"] = marker
    return json_response(200, document)
