"""The durable queue of asynchronous invokes on SQLite (the embedded default), through SQLAlchemy Core.

Every write goes through one GroupCommit: an accepted event is answered 202 only after the transaction that
inserted it has committed with synchronous=FULL, and many accepts share one commit. Reads (stats, the next visible
time) use the engine's other connections; WAL lets them run beside the writer.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

import sqlalchemy as sa

from nimbus.errors import PlatformFault
from nimbus.invocation.queue import NewEvent, QueuedEvent, QueueStats, wait_for_arrival
from nimbus.store.group_commit import GroupCommit
from nimbus.store.schema import async_events

# SQLite accepts 32,766 bound parameters a statement; acks are deleted in slices well below that.
_DELETE_SLICE = 500
_CLAIMED_COLUMNS = (
    async_events.c.id, async_events.c.request_id, async_events.c.function_name, async_events.c.qualifier,
    async_events.c.payload, async_events.c.enqueued_at, async_events.c.attempts, async_events.c.throttles,
)  # fmt: skip
_INSERT_COLUMNS = ("request_id", "function_name", "qualifier", "payload", "enqueued_at", "visible_at", "attempts",
                   "throttles", "leased")  # fmt: skip
_RETRY = (
    async_events.update()
    .where(async_events.c.id == sa.bindparam("receipt"))
    .values(visible_at=sa.bindparam("at"), attempts=sa.bindparam("n_attempts"),
            throttles=sa.bindparam("n_throttles"), leased=False)
)  # fmt: skip


@dataclass(frozen=True)
class _Put:
    rows: list[tuple[Any, ...]]  # in _INSERT_COLUMNS order


@dataclass(frozen=True)
class _Ack:
    receipts: Sequence[int]


@dataclass(frozen=True)
class _Retry:
    event: QueuedEvent
    visible_at: float


@dataclass(frozen=True)
class _Claim:
    limit: int
    now: float
    lease_until: float


@dataclass(frozen=True)
class _Recover:
    now: float


_Write = _Put | _Ack | _Retry | _Claim | _Recover


class SqlEventQueue:
    def __init__(self, engine: sa.Engine) -> None:
        self._engine = engine
        self.commits = GroupCommit[_Write](engine, _apply, _accepts_events)
        self._arrived = asyncio.Event()

    async def run(self) -> None:
        """The commit loop: runs in the app's task group for as long as the queue is used."""
        await self.commits.run()

    async def put(self, events: Sequence[NewEvent]) -> None:
        rows = [(e.request_id, e.function_name, e.qualifier, e.payload, e.enqueued_at, e.enqueued_at, 0, 0, False)
                for e in events]  # fmt: skip
        await self.commits.submit(_Put(rows))
        self._arrived.set()

    async def claim(self, limit: int, now: float, lease_until: float) -> list[QueuedEvent]:
        return cast(list[QueuedEvent], await self.commits.submit(_Claim(limit, now, lease_until)))

    async def ack(self, receipts: Sequence[int]) -> None:
        await self.commits.submit(_Ack(list(receipts)))

    async def retry(self, event: QueuedEvent, visible_at: float) -> None:
        await self.commits.submit(_Retry(event, visible_at))
        self._arrived.set()

    async def recover(self, now: float) -> int:
        return cast(int, await self.commits.submit(_Recover(now)))

    async def next_visible_at(self) -> float | None:
        query = sa.select(sa.func.min(async_events.c.visible_at))
        return cast(float | None, await asyncio.to_thread(self._scalar, query))

    async def wait(self, timeout: float) -> None:
        await wait_for_arrival(self._arrived, timeout)

    async def stats(self) -> list[QueueStats]:
        return await asyncio.to_thread(self._stats)

    def _scalar(self, query: sa.Select[Any]) -> Any:
        try:
            with self._engine.connect() as connection:
                return connection.execute(query).scalar()
        except sa.exc.SQLAlchemyError as exc:
            raise PlatformFault(f"could not read the event queue: {exc}") from exc

    def _stats(self) -> list[QueueStats]:
        leased = sa.cast(async_events.c.leased, sa.Integer)
        query = (
            sa.select(async_events.c.function_name, sa.func.count(), sa.func.sum(leased),
                      sa.func.min(async_events.c.enqueued_at))
            .group_by(async_events.c.function_name)
            .order_by(async_events.c.function_name)
        )  # fmt: skip
        try:
            with self._engine.connect() as connection:
                rows = connection.execute(query).all()
        except sa.exc.SQLAlchemyError as exc:
            raise PlatformFault(f"could not read the event queue: {exc}") from exc
        return [QueueStats(name, total - int(claimed or 0), int(claimed or 0), oldest) for name, total, claimed, oldest
                in rows]  # fmt: skip


def _accepts_events(writes: Sequence[_Write]) -> bool:
    """New events must survive a power cut: they were (or are about to be) answered 202. A lost claim, ack or retry
    only makes an event run once more, which at-least-once delivery allows."""
    return any(isinstance(write, _Put) for write in writes)


def _apply(connection: sa.Connection, writes: Sequence[_Write]) -> list[Any]:
    """One transaction's writes, merged by kind: inserts first, then acks and retries, then claims (which see them)."""
    rows = [row for write in writes if isinstance(write, _Put) for row in write.rows]
    if rows:
        _insert(connection, rows)
    receipts = [receipt for write in writes if isinstance(write, _Ack) for receipt in write.receipts]
    for start in range(0, len(receipts), _DELETE_SLICE):
        connection.execute(async_events.delete().where(async_events.c.id.in_(receipts[start : start + _DELETE_SLICE])))
    retries = [_retry_row(write) for write in writes if isinstance(write, _Retry)]
    if retries:
        connection.execute(_RETRY, retries)
    results: list[Any] = []
    for write in writes:
        if isinstance(write, _Claim):
            results.append(_claim(connection, write))
        elif isinstance(write, _Recover):
            results.append(_recover(connection, write.now))
        else:
            results.append(None)
    return results


def _insert(connection: sa.Connection, rows: list[tuple[Any, ...]]) -> None:
    """The accept path's insert. On a positional driver (sqlite3) the statement SQLAlchemy compiled goes straight to
    the driver with tuples: Core's per-row parameter processing would hold the GIL ~15 us a row, time the event
    loop needs."""
    sql = _positional_insert(connection.dialect)
    if sql is not None:
        connection.exec_driver_sql(sql, rows)
    else:
        connection.execute(async_events.insert(), [dict(zip(_INSERT_COLUMNS, row, strict=True)) for row in rows])


@functools.cache
def _positional_insert(dialect: sa.Dialect) -> str | None:
    statement = async_events.insert().values({name: sa.bindparam(name) for name in _INSERT_COLUMNS})
    compiled = statement.compile(dialect=dialect)
    return str(compiled) if list(compiled.positiontup or []) == list(_INSERT_COLUMNS) else None


def _retry_row(write: _Retry) -> dict[str, Any]:
    event = write.event
    return {"receipt": event.receipt, "at": write.visible_at, "n_attempts": event.attempts,
            "n_throttles": event.throttles}  # fmt: skip


def _claim(connection: sa.Connection, claim: _Claim) -> list[QueuedEvent]:
    query = (
        sa.select(*_CLAIMED_COLUMNS)
        .where(async_events.c.visible_at <= claim.now)
        .order_by(async_events.c.visible_at, async_events.c.id)
        .limit(claim.limit)
    )
    events = [QueuedEvent(*row) for row in connection.execute(query)]
    if events:
        receipts = [event.receipt for event in events]
        connection.execute(
            async_events.update().where(async_events.c.id.in_(receipts)).values(visible_at=claim.lease_until,
                                                                                   leased=True)
        )  # fmt: skip
    return events


def _recover(connection: sa.Connection, now: float) -> int:
    claimed = async_events.update().where(async_events.c.leased.is_(True))
    result = connection.execute(claimed.values(visible_at=now, leased=False))
    return int(result.rowcount)
