"""The durable queue behind asynchronous invocation: the seam between the data plane and where events are kept.

SQLite (store/event_queue.py) keeps them in the embedded default; the cluster mode will keep them in NATS
JetStream behind the same protocol. MemoryEventQueue is the reference behaviour, and the fake unit tests use.

Delivery is at least once: an event is handed out by `claim` with a lease, and stays in the queue until `ack`. An
event whose lease ends before it is acked or retried (its worker died with the server) is handed out again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Protocol


@dataclass(frozen=True)
class NewEvent:
    request_id: str  # stays the event's request id on every attempt
    function_name: str
    qualifier: str | None  # as invoked; None is the unqualified function ($LATEST today)
    payload: bytes
    enqueued_at: float  # epoch seconds


@dataclass(frozen=True)
class QueuedEvent:
    receipt: int  # the queue's handle for ack and retry
    request_id: str
    function_name: str
    qualifier: str | None
    payload: bytes
    enqueued_at: float
    attempts: int = 0  # runs of the function so far
    throttles: int = 0  # runs refused (throttled, or a platform fault) so far


@dataclass(frozen=True)
class QueueStats:
    """One function's events: waiting (visible now or later) and claimed, and when the oldest was accepted."""

    function_name: str
    queued: int
    in_flight: int
    oldest_enqueued_at: float

    @property
    def depth(self) -> int:
        return self.queued + self.in_flight


class EventQueue(Protocol):
    async def put(self, events: Sequence[NewEvent]) -> None:
        """Return once the events are durable (a crash after this loses none); raise if they could not be kept."""
        ...

    async def claim(self, limit: int, now: float, lease_until: float) -> list[QueuedEvent]:
        """Up to `limit` events visible at `now`, oldest visibility first, hidden from other claims until
        `lease_until` unless acked or retried before."""
        ...

    async def ack(self, receipts: Sequence[int]) -> None:
        """The events are done (ran, or were given up on): remove them. Unknown receipts are ignored."""
        ...

    async def retry(self, event: QueuedEvent, visible_at: float) -> None:
        """Release a claimed event to run again from `visible_at`, keeping its attempts and throttles counts."""
        ...

    async def recover(self, now: float) -> int:
        """After a restart: every claimed event becomes visible at `now`. Returns how many there were."""
        ...

    async def next_visible_at(self) -> float | None:
        """When the earliest event (claimed or not) becomes visible; None when the queue is empty."""
        ...

    async def wait(self, timeout: float) -> None:
        """Return when an event may have become visible (one was put or retried), or after `timeout` seconds."""
        ...

    async def stats(self) -> list[QueueStats]:
        """Per function with events in the queue."""
        ...


class MemoryEventQueue:
    """EventQueue in a dict: the same contract, no durability."""

    def __init__(self) -> None:
        self._events: dict[int, tuple[QueuedEvent, float, bool]] = {}  # receipt -> (event, visible_at, claimed)
        self._next = 1
        self._arrived = asyncio.Event()

    async def put(self, events: Sequence[NewEvent]) -> None:
        for new in events:
            queued = QueuedEvent(self._next, new.request_id, new.function_name, new.qualifier, new.payload,
                                 new.enqueued_at)  # fmt: skip
            self._events[self._next] = (queued, new.enqueued_at, False)
            self._next += 1
        self._arrived.set()

    async def claim(self, limit: int, now: float, lease_until: float) -> list[QueuedEvent]:
        visible = sorted((at, receipt) for receipt, (_, at, _) in self._events.items() if at <= now)
        claimed = [self._events[receipt][0] for _, receipt in visible[:limit]]
        for event in claimed:
            self._events[event.receipt] = (event, lease_until, True)
        return claimed

    async def ack(self, receipts: Sequence[int]) -> None:
        for receipt in receipts:
            self._events.pop(receipt, None)

    async def retry(self, event: QueuedEvent, visible_at: float) -> None:
        if event.receipt in self._events:
            self._events[event.receipt] = (replace(event), visible_at, False)
            self._arrived.set()

    async def recover(self, now: float) -> int:
        claimed = [(receipt, event) for receipt, (event, _, taken) in self._events.items() if taken]
        for receipt, event in claimed:
            self._events[receipt] = (event, now, False)
        return len(claimed)

    async def next_visible_at(self) -> float | None:
        return min((at for _, at, _ in self._events.values()), default=None)

    async def wait(self, timeout: float) -> None:
        await wait_for_arrival(self._arrived, timeout)

    async def stats(self) -> list[QueueStats]:
        by_function: dict[str, list[tuple[QueuedEvent, bool]]] = {}
        for event, _, claimed in self._events.values():
            by_function.setdefault(event.function_name, []).append((event, claimed))
        return [
            QueueStats(name, sum(not c for _, c in rows), sum(c for _, c in rows), min(e.enqueued_at for e, _ in rows))
            for name, rows in sorted(by_function.items())
        ]

    def __len__(self) -> int:
        return len(self._events)


async def wait_for_arrival(arrived: asyncio.Event, timeout: float) -> None:
    """Wait until a put signals `arrived` or `timeout` passes, then re-arm the signal (both queue kinds use it)."""
    try:
        await asyncio.wait_for(arrived.wait(), timeout)
    except TimeoutError:
        return
    finally:
        arrived.clear()
