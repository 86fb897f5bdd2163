"""An OS process for an execution environment: spawned in its own session, its stdout and stderr captured.

Output is read by the event loop as it arrives (so a chatty function never blocks on a full pipe) into a buffer
the environment takes at the end of each invoke; `drain()` first reads whatever the kernel already holds, so
everything the function flushed before it answered belongs to that invoke.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import select
import signal
from collections.abc import Mapping, Sequence
from pathlib import Path

_READ_SIZE = 1 << 16
# AWS keeps about 256 KB of a single invoke's output per log event; keep more, but never grow without bound.
MAX_BUFFERED_OUTPUT = 4 << 20


class OutputCapture:
    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._chunks: list[bytes] = []
        self._size = 0
        self._closed = False
        os.set_blocking(fd, False)
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(fd, self.drain)
        self.eof = asyncio.Event()

    def drain(self) -> None:
        while not self._closed:
            try:
                chunk = os.read(self._fd, _READ_SIZE)
            except BlockingIOError:
                return
            except OSError:
                chunk = b""
            if not chunk:
                self._close()
                return
            if self._size < MAX_BUFFERED_OUTPUT:
                self._chunks.append(chunk)
                self._size += len(chunk)

    def take(self) -> str:
        self.drain()
        data = b"".join(self._chunks)
        self._chunks.clear()
        self._size = 0
        return data.decode("utf-8", errors="replace")

    def _close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._loop.remove_reader(self._fd)
        os.close(self._fd)
        self.eof.set()

    def close(self) -> None:
        self._close()


class EnvironmentProcess:
    """One spawned process tree. kill() ends the whole session, so children the function forked die too."""

    def __init__(self, process: asyncio.subprocess.Process, output: OutputCapture) -> None:
        self._process = process
        self.output = output
        self.pid = process.pid
        self._exit_watch = _ExitWatch(process.pid)

    @classmethod
    async def spawn(
        cls, argv: Sequence[str], *, env: Mapping[str, str], cwd: Path, pass_fds: Sequence[int] = ()
    ) -> EnvironmentProcess:
        read_end, write_end = os.pipe()
        try:
            process = await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=write_end,
                stderr=write_end,
                env=dict(env),
                cwd=str(cwd),
                pass_fds=tuple(pass_fds),
                start_new_session=True,
            )
        except BaseException:
            os.close(read_end)
            raise
        finally:
            os.close(write_end)
        return cls(process, OutputCapture(read_end))

    @property
    def returncode(self) -> int | None:
        return self._process.returncode

    def has_exited(self) -> bool:
        """True once the process is gone, even if the event loop has not reaped it yet (a kill -9 from outside)."""
        return self._process.returncode is not None or self._exit_watch.exited()

    async def wait(self) -> int:
        return await self._process.wait()

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError):
            self._process.kill()

    async def terminate(self, grace: float = 0.5) -> None:
        """SIGTERM, as AWS sends a runtime at shutdown, then SIGKILL after the grace period."""
        if self.returncode is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.pid, signal.SIGTERM)
            try:
                await asyncio.wait_for(self.wait(), grace)
            except TimeoutError:
                self.kill()
                await self.wait()
        self.output.close()
        self._exit_watch.close()


class _ExitWatch:
    """A pidfd polled without blocking: one syscall tells whether the process has exited.

    The loop learns of a death through SIGCHLD some time later; an environment is handed out between the two, so
    the pool asks the kernel directly. Without pidfd support (Linux < 5.3) only the loop's view is used.
    """

    def __init__(self, pid: int) -> None:
        self._fd: int | None = None
        self._poll: select.poll | None = None
        try:
            self._fd = os.pidfd_open(pid)
        except (AttributeError, OSError):
            return
        self._poll = select.poll()
        self._poll.register(self._fd, select.POLLIN)

    def exited(self) -> bool:
        return self._poll is not None and bool(self._poll.poll(0))

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
            self._poll = None


def exit_description(returncode: int | None) -> str:
    """The words AWS uses for how a runtime process ended (Go's os.ProcessState wording)."""
    if returncode is None or returncode == 0:
        return "Runtime exited without providing a reason"
    if returncode < 0:
        name = {
            signal.SIGKILL: "killed",
            signal.SIGSEGV: "segmentation fault",
            signal.SIGTERM: "terminated",
        }.get(signal.Signals(-returncode), signal.Signals(-returncode).name.lower().removeprefix("sig"))
        return f"Runtime exited with error: signal: {name}"
    return f"Runtime exited with error: exit status {returncode}"
