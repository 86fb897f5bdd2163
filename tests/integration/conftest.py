from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support import ECHO_APP, Server, create_function


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One server per test worker, shared by tests that only need a running nimbus (unique function names)."""
    root = tmp_path_factory.mktemp("nimbus")
    running = Server(data_dir=root / "data").start()
    yield running
    running.stop()


@pytest.fixture
def fresh_server(tmp_path: Path) -> Iterator[Server]:
    """A server of the test's own, for tests that stop, kill or reconfigure it."""
    running = Server(data_dir=tmp_path / "data")
    yield running
    if running.process is not None and running.process.poll() is None:
        running.stop()


@pytest.fixture
def client(server: Server) -> Any:
    return server.lambda_client()


@pytest.fixture
def function(client: Any) -> str:
    """A new function on the shared server whose handler returns its event (files needing another app override it)."""
    return create_function(client, {"app.py": ECHO_APP})
