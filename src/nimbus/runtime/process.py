"""An OS process for an execution environment: spawned in its own session, its stdout and stderr captured.

Output is read by the event loop as it arrives (so a chatty function never blocks on a full pipe) into a buffer
the environment takes at the end of each invoke; `drain()` first reads whatever the kernel already holds, so
everything the function flushed before it answered belongs to that invoke.
"""

from __future__ import annotations

import abc
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
# How long a killed forked process's exit report may take before nimbus stops waiting for it (the pidfd already
# says it is gone; only the exact status would be missing).
EXIT_REPORT_TIMEOUT = 5.0


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


class EnvironmentProcess(abc.ABC):
    """One process tree of an environment, in a session of its own. kill() ends the whole session, so children the
    function forked die too.

    Two ways to get one: SpawnedProcess (a new program, started by nimbus) and ForkedProcess (forked by a zygote,
    which is its parent and reports its exit status).
    """

    def __init__(self, pid: int, output: OutputCapture) -> None:
        self.pid = pid
        self.output = output
        self._exit_watch = _ExitWatch(pid)

    @property
    @abc.abstractmethod
    def returncode(self) -> int | None:
        """How it ended (subprocess's convention: -N for signal N), once that is known."""

    @abc.abstractmethod
    async def wait(self) -> int: ...

    def has_exited(self) -> bool:
        """True once the process is gone, even if nimbus has not heard yet (a kill -9 from outside)."""
        return self.returncode is not None or self._exit_watch.exited()

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signal.SIGKILL)
        # The leader too, in case the function moved it to another process group.
        if self.returncode is None and not self._exit_watch.signal(signal.SIGKILL):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(self.pid, signal.SIGKILL)

    async def terminate(self, grace: float = 0.5) -> None:
        """SIGTERM, as AWS sends a runtime at shutdown, then SIGKILL after the grace period."""
        if self.returncode is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.pid, signal.SIGTERM)
            try:
                await asyncio.wait_for(self.wait(), grace)
            except TimeoutError:
                self.kill()
                await self._wait_after_kill()
        self.output.close()
        self._exit_watch.close()

    async def _wait_after_kill(self) -> None:
        await self.wait()


class SpawnedProcess(EnvironmentProcess):
    """A program nimbus started itself (an interpreter, a custom runtime's bootstrap); the event loop reaps it."""

    def __init__(self, process: asyncio.subprocess.Process, output: OutputCapture) -> None:
        super().__init__(process.pid, output)
        self._process = process

    @classmethod
    async def spawn(
        cls, argv: Sequence[str], *, env: Mapping[str, str], cwd: Path, pass_fds: Sequence[int] = ()
    ) -> SpawnedProcess:
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

    async def wait(self) -> int:
        return await self._process.wait()


class ForkedProcess(EnvironmentProcess):
    """A child of a zygote. Its exit status arrives as the zygote's report (`exited`), since only a parent can
    collect it; the zygote reports within milliseconds of the exit, and if the zygote itself dies the report is
    "killed" (its children die with it)."""

    def __init__(self, pid: int, exited: asyncio.Future[int], output: OutputCapture) -> None:
        super().__init__(pid, output)
        self._exited = exited

    @property
    def returncode(self) -> int | None:
        if self._exited.done() and not self._exited.cancelled():
            return self._exited.result()
        return None

    async def wait(self) -> int:
        return await asyncio.shield(self._exited)

    async def _wait_after_kill(self) -> None:
        # The report goes through the zygote; never let a stuck zygote hold up the release of an environment.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.wait(), EXIT_REPORT_TIMEOUT)


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

    def signal(self, signum: int) -> bool:
        """Signal the process itself through the pidfd, so no recycled pid can be hit; False without a pidfd."""
        if self._fd is None:
            return False
        with contextlib.suppress(OSError):
            signal.pidfd_send_signal(self._fd, signum)
        return True

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
