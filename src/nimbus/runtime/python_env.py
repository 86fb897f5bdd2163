"""PythonEnvironment: a python3.X function on nimbus's own bootstrap, over framed messages on a socketpair."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from pathlib import Path

import orjson

from nimbus.runtime import frames
from nimbus.runtime.catalogue import interpreter_for
from nimbus.runtime.environment import Environment, error_type_of
from nimbus.runtime.process import EnvironmentProcess, exit_description
from nimbus.runtime.results import InitOutcome, InvokeInput, InvokeOutcome
from nimbus.runtime.spec import MAX_RESPONSE_BYTES, process_environment

BOOTSTRAP = Path(__file__).with_name("python_bootstrap.py")


class PythonEnvironment(Environment):
    _reader: asyncio.StreamReader | None = None
    _writer: asyncio.StreamWriter | None = None

    async def _start(self) -> InitOutcome:
        started = time.perf_counter()
        parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            interpreter = interpreter_for(self.spec.runtime)
            # -u: unbuffered stdio, so output written before a crash or timeout still reaches the log.
            argv = [interpreter.executable, "-u", str(BOOTSTRAP), str(child.fileno())]
            process = await EnvironmentProcess.spawn(
                argv,
                env=process_environment(self.spec, self.log_stream),
                cwd=self.spec.task_root,
                pass_fds=[child.fileno()],
            )
        finally:
            child.close()
        await self._launch(process)
        self._reader, self._writer = await asyncio.open_unix_connection(sock=parent)
        # The limit travels with hello so an oversized result is refused in the environment, never copied here.
        hello = {"t": "hello", "max_response": MAX_RESPONSE_BYTES, "track_memory": not self.has_memory_cgroup}
        self._writer.write(frames.encode(hello))
        try:
            header, body = await asyncio.wait_for(frames.read_frame(self._reader), self.spec.init_timeout)
        except TimeoutError:
            return self.init_failed(
                started, "Sandbox.Timedout", f"Init timed out after {self.spec.init_timeout:.2f} seconds"
            )
        except frames.FrameError:
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
