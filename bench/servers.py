"""Servers under test, each a subprocess on a free loopback port: `nimbus serve` and the echo floor."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import httpx
import psutil

REPO = Path(__file__).resolve().parent.parent
START_TIMEOUT = 60.0
LOG_TAIL_LINES = 30


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class CpuTimes:
    """CPU seconds of a server process and of its children (execution environments), at one moment."""

    server: float
    children: float


@dataclass
class ServerProcess:
    """A server subprocess; use as a context manager so it is stopped on every path."""

    argv: list[str]
    workdir: Path
    name: str
    extra_env: dict[str, str]
    port: int = 0
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.process is not None, "server not started"
        return self.process.pid

    @property
    def log_path(self) -> Path:
        return self.workdir / f"{self.name}.log"

    def __enter__(self) -> ServerProcess:
        self.port = self.port or free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("NIMBUS_", "AWS_"))}
        env.update({"PYTHONPATH": str(REPO), "NIMBUS_PORT": str(self.port), **self.extra_env})
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [*self.argv, "--port", str(self.port)], env=env, cwd=self.workdir, stdout=log, stderr=log
            )
        try:
            self._wait_healthy()
        except BaseException as exc:
            self.__exit__(type(exc), exc, exc.__traceback__)
            raise
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        if error is not None and self.log_path.exists():
            tail = self.log_path.read_text(errors="replace").splitlines()[-LOG_TAIL_LINES:]
            print(f"--- last lines of the {self.name} server's log ---", *tail, sep="\n", file=sys.stderr)
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def cpu_times(self) -> CpuTimes:
        """User+system CPU of the server and of its live descendants (environments live through a phase)."""
        parent = psutil.Process(self.pid)
        server = sum(parent.cpu_times()[:2])
        children = 0.0
        for child in parent.children(recursive=True):
            try:
                children += sum(child.cpu_times()[:2])
            except psutil.NoSuchProcess:
                continue
        return CpuTimes(server, children)

    def _wait_healthy(self) -> None:
        assert self.process is not None
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.process.returncode}: {self.log_path.read_text()}")
            try:
                if httpx.get(f"{self.url}/_nimbus/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"{self.name} did not become healthy within {START_TIMEOUT} s")


def nimbus_server(workdir: Path) -> ServerProcess:
    data = workdir / "nimbus-data"
    return ServerProcess([sys.executable, "-m", "nimbus", "serve"], workdir, "nimbus", {"NIMBUS_DATA_DIR": str(data)})


def echo_server(workdir: Path) -> ServerProcess:
    return ServerProcess([sys.executable, "-m", "bench.echo"], workdir, "echo", {})
