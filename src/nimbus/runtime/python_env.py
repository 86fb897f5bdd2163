"""PythonEnvironment: a python3.X function on nimbus's own bootstrap, over framed messages on a socketpair.

The process is forked from the interpreter's zygote (runtime/zygote.py) when the function can be, otherwise it is a
new interpreter running python_bootstrap.py; both serve the same protocol and behave the same to the function.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import socket
import time
from pathlib import Path

import orjson

from nimbus.runtime import frames
from nimbus.runtime.catalogue import Interpreter, interpreter_for
from nimbus.runtime.cgroups import MemoryController
from nimbus.runtime.environment import Environment, error_type_of
from nimbus.runtime.process import ForkedProcess, OutputCapture, SpawnedProcess, exit_description
from nimbus.runtime.results import InitOutcome, InvokeInput, InvokeOutcome
from nimbus.runtime.sandboxes import Sandbox, Sandboxes, launch, opt_mounted
from nimbus.runtime.snapshots import SnapshotError, Snapshots
from nimbus.runtime.spec import MAX_RESPONSE_BYTES, EnvironmentSpec, process_environment
from nimbus.runtime.zygote import ZYGOTE_ENVIRONMENT, Become, ZygoteError, Zygotes

log = logging.getLogger(__name__)

BOOTSTRAP = Path(__file__).with_name("python_bootstrap.py")
# Variables an interpreter reads once, when it starts: a function that sets them gets an interpreter of its own
# instead of a fork of one that started without them. PYTHONPATH is applied in the fork (zygote_main).
_START_PREFIXES = ("PYTHON", "LD_")
_START_LOCALE = ("LANG", "LC_ALL", "LC_CTYPE")
SNAP_START = "snap-start"
# AWS: "If an after-restore runtime hook runs for longer than 10 seconds, the Restore phase times out".
RESTORE_TIMEOUT = 10.0


def forkable(spec: EnvironmentSpec) -> bool:
    """Whether this function's environment may be forked from a zygote and behave as one started for it.

    Not when its variables change what an interpreter or the dynamic linker read at start (PYTHON*, LD_*, the
    locale); a package's lib/ directory, which AWS puts on LD_LIBRARY_PATH, is checked by the caller.
    """
    for name, value in spec.variables.items():
        if name.startswith(_START_PREFIXES) and name != "PYTHONPATH":
            return False
        if name in _START_LOCALE and value != ZYGOTE_ENVIRONMENT.get(name):
            return False
    return True


class PythonEnvironment(Environment):
    prepares_ahead = True
    _reader: asyncio.StreamReader | None = None
    _writer: asyncio.StreamWriter | None = None

    def __init__(
        self,
        spec: EnvironmentSpec,
        memory: MemoryController | None,
        zygotes: Zygotes | None = None,
        sandboxes: Sandboxes | None = None,
        snapshots: Snapshots | None = None,
    ) -> None:
        super().__init__(spec, memory, sandboxes)
        self._zygotes = zygotes
        self._become: Become | None = None
        # SnapStart: restored from the version's snapshot instead of initialised (see _restore).
        self._snapshots = snapshots if spec.initialization_type == SNAP_START else None
        self._snapshot_init: InitOutcome | None = None  # the snapshot's failed init, when it failed

    async def prepare(self) -> None:
        """Fork the environment from its interpreter's zygote (or start an interpreter), up to before init."""
        if self._process is None:
            interpreter = interpreter_for(self.spec.runtime)
            channel = await self._restore() if self._snapshots is not None else None
            if self._snapshot_init is not None:
                return
            channel = channel or await self._fork(interpreter) or await self._spawn(interpreter)
            self._reader, self._writer = await asyncio.open_unix_connection(sock=channel)
            if self._become is not None:
                self._writer.write(self._become.frame())

    async def _fork(self, interpreter: Interpreter) -> socket.socket | None:
        """Take a blank child of the interpreter's zygote; None when this function needs an interpreter of its own
        (or no zygote can serve it)."""
        # A lib/ directory (the code's or a layer's) is on LD_LIBRARY_PATH, which the dynamic linker reads at start.
        libs = [root / "lib" for root in (self.spec.task_root, *self.spec.layers)]
        if self._zygotes is None or not forkable(self.spec) or any(lib.is_dir() for lib in libs):
            return None
        try:
            blank = await (await self._zygotes.get(interpreter)).take()
        except ZygoteError as exc:
            log.debug("%s: starting an interpreter for this environment instead", exc)
            return None
        if blank.cgroup is not None:
            self.adopt_cgroup(blank.cgroup)
        if self._sandboxes is not None:
            self.sandbox = self._sandboxes.for_blank(self.spec, self.id, blank.limits, interpreter.executable)
        await self._launch(ForkedProcess(blank.pid, blank.exited, OutputCapture(blank.output_fd)), joined_cgroup=True)
        seen = self.sandbox.visible_spec(self.spec) if self.sandbox is not None else self.spec
        self._become = Become(
            env=process_environment(seen, self.log_stream, inside_sandbox=opt_mounted(self.sandbox)),
            cwd=seen.task_root,
            title=[interpreter.executable, "-u", str(BOOTSTRAP)],
            sandbox=self.sandbox.plan if self.sandbox is not None else None,
        )
        return blank.channel

    async def _restore(self) -> socket.socket | None:
        """Fork this environment from the version's snapshot (made now if it has none) and move it into cgroups of
        its own; it waits for `restore` (sent by _start_restored) before running the after-restore hooks."""
        assert self._snapshots is not None
        try:
            snapshot = await self._snapshots.get(self.spec)
            if snapshot.init is not None and not snapshot.init.ok:
                self._snapshot_init = snapshot.init
                return None
            restored = await snapshot.fork()
        except (SnapshotError, ZygoteError) as exc:
            log.warning(
                "%s: SnapStart restore of %s failed (%s); initialising instead", self.id, self.spec.version, exc
            )
            self._snapshots = None
            return None
        await self._launch(ForkedProcess(restored.pid, restored.exited, OutputCapture(restored.output_fd)))
        if self._sandboxes is not None and snapshot.sandbox is not None:
            limits = self._sandboxes.isolation.limits(self.id)
            self.sandbox = Sandbox(dict(snapshot.sandbox.plan), limits)
            for group in limits:
                group.procs.write_text(str(restored.pid))
        return restored.channel

    async def _start_restored(self, started: float) -> InitOutcome:
        """The Restore phase: the after-restore hooks, within AWS's 10 s."""
        assert self._reader is not None and self._writer is not None
        self._writer.write(frames.encode({"t": "restore"}))
        try:
            header, body = await asyncio.wait_for(frames.read_frame(self._reader), RESTORE_TIMEOUT)
        except TimeoutError:
            payload = orjson.dumps({"errorMessage": "Lambda couldn't restore the snapshot within the timeout limit.",
                                    "errorType": "SnapStartTimeoutException"})  # fmt: skip
            elapsed = (time.perf_counter() - started) * 1000
            return InitOutcome(elapsed, payload, "SnapStartTimeoutException", self.take_output(), restore=True)
        except (frames.FrameError, ConnectionError):
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.process.wait(), timeout=2)
            outcome = self.init_failed(
                started, "Runtime.ExitError", f"Error: {exit_description(self.process.returncode)}"
            )
            return dataclasses.replace(outcome, restore=True)
        elapsed = (time.perf_counter() - started) * 1000
        hooks_ms = float(header.get("hooks_ms", 0.0))
        if header.get("t") == "restored":
            self.initialised(int(header.get("peak_kb", 0)))
            return InitOutcome(duration_ms=elapsed, output=self.take_output(), restore=True, hooks_ms=hooks_ms)
        return InitOutcome(elapsed, body, error_type_of(body), self.take_output(), restore=True, hooks_ms=hooks_ms)

    async def _spawn(self, interpreter: Interpreter) -> socket.socket:
        parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        # -u: unbuffered stdio, so output written before a crash or timeout still reaches the log.
        argv = [interpreter.executable, "-u", str(BOOTSTRAP), str(child.fileno())]
        try:
            process = await self._spawn_sandboxed(argv, interpreter, child.fileno())
        except BaseException:
            parent.close()
            raise
        finally:
            child.close()
        await self._launch(process, joined_cgroup=self.sandbox is not None)
        return parent

    async def _spawn_sandboxed(self, argv: list[str], interpreter: Interpreter, channel: int) -> SpawnedProcess:
        """Start `argv` in a sandbox of its own (through the launcher), or as a plain process without one."""
        if self._sandboxes is None:
            env = process_environment(self.spec, self.log_stream)
            return await SpawnedProcess.spawn(argv, env=env, cwd=self.spec.task_root, pass_fds=[channel])
        self.sandbox = self._sandboxes.for_spawn(self.spec, self.id, self.memory_cgroup(), interpreter.executable)
        env = process_environment(
            self.sandbox.visible_spec(self.spec), self.log_stream, inside_sandbox=opt_mounted(self.sandbox)
        )
        command = launch(self.sandbox, argv, env)
        try:
            return await SpawnedProcess.spawn(
                command.argv, env={}, cwd=self.spec.task_root, pass_fds=[channel, *command.pass_fds]
            )
        finally:
            os.close(command.fd)

    async def _start(self) -> InitOutcome:
        started = time.perf_counter()
        await self.prepare()
        if self._snapshot_init is not None:
            return self._snapshot_init  # the version's init failed: every invoke answers its error
        if self._snapshots is not None:
            return await self._start_restored(started)
        assert self._reader is not None and self._writer is not None
        process = self.process
        # The limit travels with hello so an oversized result is refused in the environment, never copied here.
        hello = {"t": "hello", "max_response": MAX_RESPONSE_BYTES, "track_memory": not self.has_memory_cgroup}
        self._writer.write(frames.encode(hello))
        try:
            header, body = await asyncio.wait_for(frames.read_frame(self._reader), self.spec.init_timeout)
        except TimeoutError:
            return self.init_failed(
                started, "Sandbox.Timedout", f"Init timed out after {self.spec.init_timeout:.2f} seconds"
            )
        except (frames.FrameError, ConnectionError):
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(process.wait(), timeout=2)
            return self.init_failed(started, "Runtime.ExitError", f"Error: {exit_description(process.returncode)}")
        elapsed = (time.perf_counter() - started) * 1000
        self.initialised(int(header.get("peak_kb", 0)))
        if header.get("t") == "ready":
            return InitOutcome(duration_ms=elapsed, output=self.take_output())
        # The bootstrap flushed its output before init_error, so it is all here; start() then stops the process.
        return InitOutcome(
            duration_ms=elapsed, error_payload=body, error_type=error_type_of(body), output=self.take_output()
        )

    async def _invoke(self, request: InvokeInput, started: float) -> InvokeOutcome:
        assert self._reader is not None and self._writer is not None
        header = {
            "t": "invoke",
            "id": request.request_id,
            "deadline": request.deadline_ms,
            "arn": request.invoked_arn,
            "cc": _client_context(request.client_context),
            "trace": request.trace_id,
        }
        try:
            self._writer.write(frames.encode(header, request.payload))
            reply, body = await frames.read_frame(self._reader)
        except (frames.FrameError, ConnectionError):
            return await self.crashed(request.request_id, started)
        maxrss = int(reply.get("peak_kb", 0))
        if reply.get("oversize"):
            return self.response_too_large(started, maxrss)
        if reply.get("ok"):
            return self.success(body, started, maxrss)
        return self.function_error(body, None, started, maxrss)

    def _close_channel(self) -> None:
        if self._writer is not None:
            with contextlib.suppress(Exception):
                self._writer.close()
            self._writer = None


def _client_context(text: str | None) -> object:
    return orjson.loads(text) if text is not None else None
