"""Function log storage: a batch goes in as one statement on SQLite and comes back exactly as written."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import sqlalchemy as sa

from nimbus.observability.logs import LogSink
from nimbus.store.database import create_engine, migrate, sqlite_url
from nimbus.store.logs import LogRow, SqlLogStore

GROUP = "/aws/lambda/fn"
STREAM = "2026/11/23/[$LATEST]0123456789abcdef"


@pytest.fixture
def engine(tmp_path: Path) -> sa.Engine:
    engine = create_engine(sqlite_url(tmp_path))
    migrate(engine)
    return engine


def messages(store: SqlLogStore, group: str = GROUP) -> list[str]:
    return [event.message for event in store.read(group)]


def test_a_batch_reads_back_in_order_with_every_field(engine: sa.Engine) -> None:
    store = SqlLogStore(engine)
    rows: list[LogRow] = [(GROUP, STREAM, 1_763_900_000_000 + i, f"line {i}") for i in range(500)]
    store.append(rows)
    events = store.read(GROUP, limit=1000)
    assert [(e.log_group, e.log_stream, e.timestamp_ms, e.message) for e in events] == rows
    assert [e.event_id for e in events] == sorted({e.event_id for e in events})


@pytest.mark.parametrize(
    "message",
    [
        "",
        'tab\there, quote " and backslash \\\\ and \\u0041 as text',
        "unicode é ✓ 😀",
        "x" * 300_000,
        "NUL \x00 inside",
        "\\u0000 written out by the function",
    ],
)
def test_messages_are_stored_intact(engine: sa.Engine, message: str) -> None:
    store = SqlLogStore(engine)
    store.append([(GROUP, STREAM, 1, "before"), (GROUP, STREAM, 2, message), (GROUP, STREAM, 3, "after")])
    assert messages(store) == ["before", message, "after"]


def test_timestamps_stay_integers(engine: sa.Engine) -> None:
    store = SqlLogStore(engine)
    store.append([(GROUP, STREAM, 2**53 + 1, "big")])
    assert store.read(GROUP)[0].timestamp_ms == 2**53 + 1


def test_an_empty_batch_writes_nothing(engine: sa.Engine) -> None:
    store = SqlLogStore(engine)
    store.append([])
    assert messages(store) == []


def test_groups_are_read_apart_and_deleted_apart(engine: sa.Engine) -> None:
    store = SqlLogStore(engine)
    store.append([(GROUP, STREAM, 1, "mine"), ("/aws/lambda/other", STREAM, 1, "theirs")])
    store.delete_group("/aws/lambda/other")
    assert messages(store) == ["mine"]
    assert messages(store, "/aws/lambda/other") == []


def test_the_sink_flushes_emitted_lines_as_rows(engine: sa.Engine) -> None:
    sink = LogSink(SqlLogStore(engine))

    async def scenario() -> None:
        sink.emit(GROUP, STREAM, ["START", "hello", "END"], timestamp_ms=42)
        await sink.flush()

    asyncio.run(scenario())
    assert [(e.log_stream, e.timestamp_ms, e.message) for e in sink.read(GROUP)] == [
        (STREAM, 42, "START"),
        (STREAM, 42, "hello"),
        (STREAM, 42, "END"),
    ]


def test_on_sqlite_a_batch_is_one_statement_not_one_per_row(engine: sa.Engine) -> None:
    # executemany would release and retake the GIL around every row, against a busy event loop (store/logs.py).
    statements: list[tuple[str, bool]] = []

    def record(conn: object, cursor: object, statement: str, params: object, context: object, many: bool) -> None:
        statements.append((statement, many))

    sa.event.listen(engine, "before_cursor_execute", record)
    SqlLogStore(engine).append([(GROUP, STREAM, i, f"line {i}") for i in range(300)])
    inserts = [(s, many) for s, many in statements if s.lstrip().upper().startswith("INSERT")]
    assert len(inserts) == 1
    assert "json_each" in inserts[0][0] and not inserts[0][1]
