"""Group commit: writes submitted from the event loop are committed together, in one transaction.

A durable commit costs a write and an fsync of the WAL (0.29 ms here, more under load, and kernel CPU) whether it
carries one row or a hundred, so committing each accepted event on its own caps the rate near 3,400/s. Instead
every write that arrives while a commit is under way waits for the next one, and before a commit starts the event
loop is given a few turns while they bring more writes: requests already parsed reach `submit` and share it. Under
load each commit carries everything that arrived meanwhile; a lone write is committed at once (no timer, no added
latency when idle).

One connection carries every batch, so writes never contend with each other for SQLite's single writer lock. A
batch's statements run on the event loop (`apply`, which may merge writes of a kind: many inserts into one
executemany); they only change pages in SQLite's cache, tens of microseconds. The COMMIT, which writes and fsyncs,
runs in a thread of its own. Measured: running the statements in that thread as well cost ~60 us of CPU per
accepted event, as the thread and the busy event loop passed the GIL back and forth (docs/PERFORMANCE.md). The
price: while another connection holds SQLite's write lock (a log flush, a control-plane write; each is short), the
batch's first statement waits for it on the loop, as the control plane's own writes already do.

A batch the caller marks durable is committed with synchronous=FULL (it survives a power cut, not only a crash of
the process); others with NORMAL, which in WAL mode survives a crash of the process and skips the fsync. A later
FULL commit makes the earlier NORMAL ones durable too: the WAL is written in order.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Generic, TypeVar

import sqlalchemy as sa

from nimbus.errors import PlatformFault

log = logging.getLogger(__name__)

W = TypeVar("W")
# Enough to carry a burst in one commit, small enough that one commit never holds the writer lock for long.
MAX_BATCH = 2048
# Turns of the event loop a batch may wait for more writes, each turn only while the last one brought some, and
# never longer than GATHER_SECONDS: a write waits at most that long for company.
GATHER_TURNS = 8
GATHER_SECONDS = 0.002

Apply = Callable[[sa.Connection, Sequence[W]], Sequence[Any]]
Durable = Callable[[Sequence[W]], bool]


class GroupCommit(Generic[W]):
    def __init__(self, engine: sa.Engine, apply: Apply[W], durable: Durable[W] = lambda _: True) -> None:
        """`apply(connection, writes)` runs in the commit thread inside the batch's transaction and returns one
        result per write, in order. `durable(writes)` says whether the batch must survive a power cut."""
        self._engine = engine
        self._apply = apply
        self._durable = durable
        self._synchronous = ""  # the connection's current setting
        self._pending: list[tuple[W, asyncio.Future[Any]]] = []
        self._wakeup = asyncio.Event()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="nimbus-commit")
        self._connection: sa.Connection | None = None  # one batch at a time: the loop runs it, the thread commits
        self._closed = False
        self._committing: asyncio.Future[Sequence[Any]] | None = None
        self.commits = 0  # how many transactions, for tests and the benchmark

    async def submit(self, write: W) -> Any:
        """Return `write`'s result once the transaction carrying it has committed; raise if it failed."""
        if self._closed:
            raise PlatformFault("the store is shutting down")
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending.append((write, future))
        self._wakeup.set()
        return await future

    async def run(self) -> None:
        """Commit batches until cancelled; then the batch under way and everything still pending is committed."""
        try:
            while True:
                await self._wakeup.wait()
                self._wakeup.clear()
                while self._pending:
                    await self._gather()
                    await self._commit_next()
        finally:
            self._closed = True
            if self._committing is not None:  # the connection is free only once that commit has ended
                await asyncio.wait([self._committing])
            while self._pending:
                await self._commit_next()
            await asyncio.get_running_loop().run_in_executor(self._executor, self._close_connection)
            self._executor.shutdown(wait=False)

    async def _gather(self) -> None:
        """Let writes that are on their way (their requests already being handled) join the batch."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + GATHER_SECONDS
        for _ in range(GATHER_TURNS):
            waiting = len(self._pending)
            await asyncio.sleep(0)
            arrived = len(self._pending) - waiting
            if arrived == 0 or len(self._pending) >= MAX_BATCH or loop.time() > deadline:
                return

    async def _commit_next(self) -> None:
        batch, self._pending = self._pending[:MAX_BATCH], self._pending[MAX_BATCH:]
        writes = [write for write, _ in batch]
        try:
            transaction, results = self._begin(writes)
        except Exception as exc:
            _fail(batch, exc)
            return
        done = self._committing = asyncio.get_running_loop().run_in_executor(
            self._executor, self._finish, transaction, results
        )
        try:
            await asyncio.wait([done])  # waiting is cancelled, never the transaction
        except asyncio.CancelledError:
            # The transaction goes on in its thread; its writers hear how it ended when it does.
            done.add_done_callback(lambda finished: _settle(batch, finished))
            raise
        self._committing = None
        _settle(batch, done)

    def _begin(self, writes: Sequence[W]) -> tuple[sa.RootTransaction, Sequence[Any]]:
        """On the event loop: open the batch's transaction and run its statements."""
        connection = self._open()
        self._set_synchronous(connection, "FULL" if self._durable(writes) else "NORMAL")
        transaction = connection.begin()
        try:
            return transaction, self._apply(connection, writes)
        except BaseException:
            transaction.rollback()
            raise

    def _finish(self, transaction: sa.RootTransaction, results: Sequence[Any]) -> Sequence[Any]:
        """In the commit thread: the commit, the only part that waits for the disk."""
        try:
            transaction.commit()
        except BaseException:
            if transaction.is_active:
                transaction.rollback()
            raise
        self.commits += 1
        return results

    def _open(self) -> sa.Connection:
        if self._connection is None:
            self._connection = self._engine.connect()
            self._synchronous = ""
        return self._connection

    def _set_synchronous(self, connection: sa.Connection, level: str) -> None:
        """SQLite's durability of the next commit (a per-connection setting, changed only between transactions)."""
        if level != self._synchronous and self._engine.dialect.name == "sqlite":
            connection.exec_driver_sql(f"PRAGMA synchronous={level}")
            connection.commit()
            self._synchronous = level

    def _close_connection(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None


def _settle(batch: Sequence[tuple[Any, asyncio.Future[Any]]], done: asyncio.Future[Sequence[Any]]) -> None:
    """Hand each writer its result, or the commit's failure."""
    error = done.exception() if not done.cancelled() else PlatformFault("the commit was cancelled")
    if error is not None:
        _fail(batch, error)
        return
    for (_, future), result in zip(batch, done.result(), strict=True):
        if not future.done():
            future.set_result(result)


def _fail(batch: Sequence[tuple[Any, asyncio.Future[Any]]], error: BaseException) -> None:
    log.error("a commit of %d writes failed: %s", len(batch), error)
    for _, future in batch:
        if not future.done():
            future.set_exception(PlatformFault(f"could not commit: {error}"))
