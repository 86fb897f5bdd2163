"""Function logs: invokes hand their lines to a sink that commits them in batches, off the event loop.

Batching keeps the invoke path free of database writes: an invoke appends plain tuples to a list, and one flush a
tick writes every line that arrived since the last one (a group commit, one statement on SQLite: store/logs.py).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable

from nimbus.store.logs import LogEvent, LogRow, SqlLogStore

log = logging.getLogger(__name__)

FLUSH_INTERVAL = 0.05


class LogSink:
    def __init__(self, store: SqlLogStore) -> None:
        self._store = store
        self._pending: list[LogRow] = []
        self._wakeup = asyncio.Event()
        self.flushed = asyncio.Condition()

    def emit(self, log_group: str, log_stream: str, lines: Iterable[str], timestamp_ms: int | None = None) -> None:
        stamp = timestamp_ms if timestamp_ms is not None else int(time.time() * 1000)
        self._pending.extend([(log_group, log_stream, stamp, line) for line in lines])
        self._wakeup.set()

    async def flush(self) -> None:
        if not self._pending:
            return
        batch, self._pending = self._pending, []
        try:
            await asyncio.to_thread(self._store.append, batch)
        except Exception:
            log.exception("could not store %d log lines", len(batch))
        async with self.flushed:
            self.flushed.notify_all()

    async def run(self) -> None:
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            await self.flush()
            await asyncio.sleep(FLUSH_INTERVAL)

    def read(self, log_group: str, after_id: int = 0, since_ms: int = 0, limit: int = 1000) -> list[LogEvent]:
        return self._store.read(log_group, after_id=after_id, since_ms=since_ms, limit=limit)


def split_output(output: str) -> list[str]:
    """One log event per line the function wrote, as the runtime's stdout sink produces them."""
    if not output:
        return []
    return output.removesuffix("\n").split("\n")
