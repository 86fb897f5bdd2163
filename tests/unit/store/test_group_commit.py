"""GroupCommit: one transaction per batch, in one thread, with the durability each batch asks for."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from nimbus.errors import PlatformFault
from nimbus.store.database import create_engine, sqlite_url
from nimbus.store.group_commit import GroupCommit

FULL, NORMAL = 2, 1  # what `PRAGMA synchronous` reads


def synchronous_levels(connection: sa.Connection, writes: Sequence[str]) -> list[Any]:
    level = connection.exec_driver_sql("PRAGMA synchronous").scalar()
    return [level for _ in writes]


def test_durable_batches_commit_with_full_sync_and_the_rest_with_normal(tmp_path: Path) -> None:
    engine = create_engine(sqlite_url(tmp_path))
    commits = GroupCommit[str](engine, synchronous_levels, durable=lambda writes: "accept" in writes)

    async def scenario() -> list[Any]:
        runner = asyncio.create_task(commits.run())
        try:
            return [await commits.submit(kind) for kind in ("accept", "ack", "ack", "accept")]
        finally:
            runner.cancel()
            await asyncio.gather(runner, return_exceptions=True)

    assert asyncio.run(scenario()) == [FULL, NORMAL, NORMAL, FULL]


def test_writes_arriving_together_share_one_transaction(tmp_path: Path) -> None:
    engine = create_engine(sqlite_url(tmp_path))
    commits = GroupCommit[str](engine, lambda _, writes: [len(writes)] * len(writes))

    async def scenario() -> list[Any]:
        runner = asyncio.create_task(commits.run())
        try:
            return list(await asyncio.gather(*(commits.submit(str(i)) for i in range(50))))
        finally:
            runner.cancel()
            await asyncio.gather(runner, return_exceptions=True)

    assert asyncio.run(scenario()) == [50] * 50
    assert commits.commits == 1


def test_a_failed_batch_leaves_the_connection_usable(tmp_path: Path) -> None:
    engine = create_engine(sqlite_url(tmp_path))
    with engine.begin() as connection:
        connection.exec_driver_sql("CREATE TABLE t (v TEXT)")

    def apply(connection: sa.Connection, writes: Sequence[str]) -> list[Any]:
        for value in writes:
            connection.exec_driver_sql("INSERT INTO t (v) VALUES (?)", (value,))
            if value == "bad":
                raise ValueError("refused")
        return [None] * len(writes)

    commits = GroupCommit[str](engine, apply)

    async def scenario() -> None:
        runner = asyncio.create_task(commits.run())
        try:
            with pytest.raises(PlatformFault, match="refused"):
                await commits.submit("bad")
            await commits.submit("good")
        finally:
            runner.cancel()
            await asyncio.gather(runner, return_exceptions=True)

    asyncio.run(scenario())
    with engine.connect() as connection:
        assert connection.exec_driver_sql("SELECT v FROM t").scalars().all() == ["good"]
