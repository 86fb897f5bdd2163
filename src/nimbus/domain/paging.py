"""Marker paging as Lambda's List* operations do it: at most 50 items a page whatever MaxItems asks for, and, when
more follow, a NextMarker naming the last item listed (the next page starts after it)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

T = TypeVar("T")

LIST_PAGE = 50


def page_size(max_items: int | None) -> int:
    """How many items a page holds: MaxItems, capped at AWS's 50 (no MaxItems: 50)."""
    return min(max_items or LIST_PAGE, LIST_PAGE)


def cut_page(items: Sequence[T], size: int, key: Callable[[T], str]) -> tuple[list[T], str | None]:
    """The first `size` items, and the marker of the next page when any item is left over.

    Callers fetch `size + 1` items from their store: the extra one only tells that another page follows."""
    if len(items) > size:
        return list(items[:size]), key(items[size - 1])
    return list(items), None
