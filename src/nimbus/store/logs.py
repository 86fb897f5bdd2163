"""Function log events (CloudWatch-Logs-shaped: group, stream, timestamp, message)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import sqlalchemy as sa

from nimbus.store.schema import log_events


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

    def append(self, events: Sequence[LogEvent]) -> None:
        if not events:
            return
        rows = [
            {
                "log_group": e.log_group,
                "log_stream": e.log_stream,
                "timestamp_ms": e.timestamp_ms,
                "message": e.message,
            }
            for e in events
        ]
        with self._engine.begin() as connection:
            connection.execute(log_events.insert(), rows)

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
