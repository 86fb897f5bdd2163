"""Function log events (CloudWatch-Logs-shaped: group, stream, timestamp, message).

Writes come in batches (observability/logs.py flushes every line that arrived in the last tick at once) from a
worker thread while the event loop serves invokes, so what a batch costs the loop is what it holds the GIL for.
On SQLite a batch is one statement: its rows travel as one JSON array that SQLite itself unpacks (`json_each`).
An `executemany` releases and retakes the GIL around every row's step, and against a busy loop each retake waits
for the loop to hand the GIL over: measured under warm-invoke load, that handoff was about a tenth of the server's
CPU (docs/PERFORMANCE.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import orjson
import sqlalchemy as sa

from nimbus.store.schema import log_events

# (log_group, log_stream, timestamp_ms, message): what a batch is made of, cheaper to build than a LogEvent.
LogRow = tuple[str, str, int, str]

_COLUMNS = "log_group, log_stream, timestamp_ms, message"
_SQLITE_BATCH = (
    f"INSERT INTO log_events ({_COLUMNS}) SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]'), "
    "json_extract(value, '$[2]'), json_extract(value, '$[3]') FROM json_each(?)"
)
# No ORDER BY key: a plain scan of json_each yields the array in order, so ids follow the lines (a unit test holds
# this); asking for the order anyway builds a temporary B-tree and doubled the statement's cost (0.77 -> 1.46 µs/row).

# SQLite's JSON functions end a string at an escaped NUL; a batch holding one goes row by row instead.
_JSON_NUL = b"\\u0000"


@dataclass(frozen=True)
class LogEvent:
    log_group: str
    log_stream: str
    timestamp_ms: int
    message: str
    event_id: int = 0


class SqlLogStore:
    def __init__(self, engine: sa.Engine) -> None:
        self._engine = engine
        self._sqlite = engine.dialect.name == "sqlite"

    def append(self, rows: Sequence[LogRow]) -> None:
        if not rows:
            return
        batch = _json_batch(rows) if self._sqlite else None
        with self._engine.begin() as connection:
            if batch is not None:
                connection.exec_driver_sql(_SQLITE_BATCH, (batch,))
            else:
                keys = ("log_group", "log_stream", "timestamp_ms", "message")
                connection.execute(log_events.insert(), [dict(zip(keys, row, strict=True)) for row in rows])

    def read(self, log_group: str, after_id: int = 0, since_ms: int = 0, limit: int = 1000) -> list[LogEvent]:
        query = (
            sa.select(log_events)
            .where(log_events.c.log_group == log_group, log_events.c.id > after_id)
            .order_by(log_events.c.id)
            .limit(limit)
        )
        if since_ms:
            query = query.where(log_events.c.timestamp_ms >= since_ms)
        with self._engine.connect() as connection:
            return [
                LogEvent(row.log_group, row.log_stream, row.timestamp_ms, row.message, row.id)
                for row in connection.execute(query)
            ]

    def delete_group(self, log_group: str) -> None:
        with self._engine.begin() as connection:
            connection.execute(log_events.delete().where(log_events.c.log_group == log_group))


def _json_batch(rows: Sequence[LogRow]) -> bytes | None:
    """The batch as one JSON array for `json_each`, or None where SQLite's JSON would not keep a message intact."""
    try:
        batch = orjson.dumps(rows)
    except orjson.JSONEncodeError:  # a lone surrogate: the row-by-row path reports it as before
        return None
    return None if _JSON_NUL in batch else batch
