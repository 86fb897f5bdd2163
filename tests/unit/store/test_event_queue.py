"""The asynchronous invocation queue's contract, on SQLite and in memory; SQLite's durability and group commit."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import pytest
import sqlalchemy as sa

from nimbus.errors import PlatformFault
from nimbus.invocation.queue import EventQueue, MemoryEventQueue, NewEvent
from nimbus.store.database import create_engine, migrate, sqlite_url
from nimbus.store.event_queue import SqlEventQueue

T = TypeVar("T")
NOW = 1_000.0


def event(request_id: str = "r1", function: str = "fn", at: float = NOW, payload: bytes = b"{}") -> NewEvent:
    return NewEvent(request_id, function, None, payload, at)


def engine_at(path: Path) -> sa.Engine:
    engine = create_engine(sqlite_url(path))
    migrate(engine)
    return engine


async def _running(queue: EventQueue) -> AsyncIterator[EventQueue]:
    """A queue with its commit loop running (SQLite), for the duration of a test body."""
    if not isinstance(queue, SqlEventQueue):
        yield queue
        return
    runner = asyncio.create_task(queue.run())
    try:
        yield queue
    finally:
        runner.cancel()
        await asyncio.gather(runner, return_exceptions=True)


def run_with(make: Callable[[], EventQueue], body: Callable[[EventQueue], Coroutine[Any, Any, T]]) -> T:
    async def scenario() -> T:
        async for queue in _running(make()):
            return await body(queue)
        raise AssertionError("unreachable")

    return asyncio.run(scenario())


@pytest.fixture(params=["sqlite", "memory"])
def make(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[], EventQueue]:
    if request.param == "memory":
        return MemoryEventQueue
    engine = engine_at(tmp_path)
    return lambda: SqlEventQueue(engine)


def test_claim_hands_out_visible_events_oldest_first(make: Callable[[], EventQueue]) -> None:
    async def body(queue: EventQueue) -> list[str]:
        await queue.put([event("b", at=NOW + 1), event("a", at=NOW)])
        await queue.put([event("later", at=NOW + 100)])
        return [e.request_id for e in await queue.claim(10, NOW + 5, NOW + 60)]

    assert run_with(make, body) == ["a", "b"]


def test_a_claimed_event_is_hidden_until_its_lease_ends(make: Callable[[], EventQueue]) -> None:
    async def body(queue: EventQueue) -> tuple[int, int, list[str]]:
        await queue.put([event("a")])
        first = await queue.claim(10, NOW, NOW + 60)
        during = await queue.claim(10, NOW + 30, NOW + 90)
        after = await queue.claim(10, NOW + 60, NOW + 120)
        return len(first), len(during), [e.request_id for e in after]

    assert run_with(make, body) == (1, 0, ["a"])


def test_ack_removes_and_retry_delays_keeping_the_counts(make: Callable[[], EventQueue]) -> None:
    async def body(queue: EventQueue) -> tuple[list[Any], list[Any]]:
        await queue.put([event("a"), event("b")])
        a, b = await queue.claim(10, NOW, NOW + 60)
        await queue.ack([a.receipt])
        await queue.retry(dataclasses.replace(b, attempts=1, throttles=2), NOW + 5)
        early = await queue.claim(10, NOW + 4, NOW + 60)
        due = await queue.claim(10, NOW + 5, NOW + 60)
        return early, [(e.request_id, e.attempts, e.throttles) for e in due]

    assert run_with(make, body) == ([], [("b", 1, 2)])


def test_recover_makes_every_claimed_event_visible_again(make: Callable[[], EventQueue]) -> None:
    async def body(queue: EventQueue) -> tuple[int, list[str]]:
        await queue.put([event("a"), event("b"), event("c")])
        await queue.claim(2, NOW, NOW + 900)
        recovered = await queue.recover(NOW + 1)
        return recovered, sorted(e.request_id for e in await queue.claim(10, NOW + 1, NOW + 60))

    assert run_with(make, body) == (2, ["a", "b", "c"])


def test_stats_count_waiting_and_running_per_function(make: Callable[[], EventQueue]) -> None:
    async def body(queue: EventQueue) -> list[tuple[str, int, int, float]]:
        await queue.put([event("a", "f1", NOW), event("b", "f1", NOW + 1), event("c", "f2", NOW + 2)])
        await queue.claim(1, NOW + 5, NOW + 60)
        return [(s.function_name, s.queued, s.in_flight, s.oldest_enqueued_at) for s in await queue.stats()]

    assert run_with(make, body) == [("f1", 1, 1, NOW), ("f2", 1, 0, NOW + 2)]


def test_next_visible_at_is_the_earliest_visibility(make: Callable[[], EventQueue]) -> None:
    async def body(queue: EventQueue) -> tuple[float | None, float | None]:
        empty = await queue.next_visible_at()
        await queue.put([event("a", at=NOW + 7), event("b", at=NOW + 3)])
        return empty, await queue.next_visible_at()

    assert run_with(make, body) == (None, NOW + 3)


def test_wait_returns_when_an_event_is_put(make: Callable[[], EventQueue]) -> None:
    async def body(queue: EventQueue) -> bool:
        waiter = asyncio.create_task(queue.wait(timeout=30))
        await asyncio.sleep(0)
        await queue.put([event()])
        await asyncio.wait_for(waiter, timeout=10)
        return waiter.done()

    assert run_with(make, body)


def test_an_accepted_event_survives_a_new_process(tmp_path: Path) -> None:
    """What put() returned for is committed: a fresh engine (a restarted server) finds it."""

    async def body(queue: EventQueue) -> None:
        await queue.put([event("kept", payload=b'{"n": 1}')])

    run_with(lambda: SqlEventQueue(engine_at(tmp_path)), body)

    async def reopened(queue: EventQueue) -> list[tuple[str, bytes]]:
        return [(e.request_id, e.payload) for e in await queue.claim(10, NOW, NOW + 60)]

    assert run_with(lambda: SqlEventQueue(engine_at(tmp_path)), reopened) == [("kept", b'{"n": 1}')]


def test_concurrent_puts_share_commits(tmp_path: Path) -> None:
    queue = SqlEventQueue(engine_at(tmp_path))

    async def body(queue: EventQueue) -> int:
        await asyncio.gather(*(queue.put([event(f"r{i}")]) for i in range(200)))
        return len(await queue.claim(500, NOW, NOW + 60))

    assert run_with(lambda: queue, body) == 200
    assert queue.commits.commits < 20  # one commit takes everything that arrived while the last one ran


def test_a_failed_commit_fails_its_writers(tmp_path: Path) -> None:
    engine = engine_at(tmp_path)
    with engine.begin() as connection:
        connection.exec_driver_sql("DROP TABLE async_events")

    async def body(queue: EventQueue) -> None:
        await queue.put([event()])

    with pytest.raises(PlatformFault, match="could not commit"):
        run_with(lambda: SqlEventQueue(engine), body)


def test_writes_pending_at_shutdown_are_committed(tmp_path: Path) -> None:
    engine = engine_at(tmp_path)

    async def scenario() -> None:
        queue = SqlEventQueue(engine)
        runner = asyncio.create_task(queue.run())
        put = asyncio.create_task(queue.put([event("last")]))
        await asyncio.sleep(0)
        runner.cancel()
        await asyncio.gather(runner, return_exceptions=True)
        await put

    asyncio.run(scenario())
    with engine.connect() as connection:
        assert connection.exec_driver_sql("SELECT request_id FROM async_events").scalars().all() == ["last"]
