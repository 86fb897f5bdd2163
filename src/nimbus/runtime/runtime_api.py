"""RuntimeApiEnvironment: a custom runtime (provided.al2, provided.al2023) speaking the Lambda Runtime API.

The function package's own executable `bootstrap` runs with AWS_LAMBDA_RUNTIME_API pointing at a Runtime API
server of its own (runtime_api_server.py), as RAPID runs one per sandbox, so any custom runtime and awslambdaric
work unmodified. Init ends at the runtime's first GET /next, at POST /runtime/init/error, or when the process
exits; an invoke ends at its /response or /error, or when the process exits.
"""

from __future__ import annotations

import asyncio
import time

from nimbus.runtime.environment import Environment, error_type_of
from nimbus.runtime.process import SpawnedProcess, exit_description
from nimbus.runtime.results import InitOutcome, InvokeInput, InvokeOutcome, Status
from nimbus.runtime.runtime_api_server import (
    ErrorPosted,
    InitErrorPosted,
    ResponsePosted,
    ResponseRejected,
    RuntimeApiServer,
    RuntimeEvent,
    RuntimeReady,
    first_done,
)
from nimbus.runtime.spec import process_environment

# RAPID's error type when the runtime cannot be started at all (fatalerror.go).
INVALID_ENTRYPOINT = "Runtime.InvalidEntrypoint"


class RuntimeApiEnvironment(Environment):
    _api: RuntimeApiServer | None = None

    async def _start(self) -> InitOutcome:
        started = time.perf_counter()
        bootstrap = self.spec.task_root / "bootstrap"
        if not bootstrap.is_file():
            # AWS also looks in /opt (layers); its message lists every place it looked.
            return self.init_failed(
                started, INVALID_ENTRYPOINT, f"Error: Couldn't find valid bootstrap(s): [{bootstrap}]"
            )
        self._api = RuntimeApiServer()
        port = await self._api.start()
        env = process_environment(self.spec, self.log_stream, runtime_api=f"127.0.0.1:{port}")
        try:
            process = await SpawnedProcess.spawn([str(bootstrap)], env=env, cwd=self.spec.task_root)
        except OSError as exc:
            # Go's wording, as RAPID reports it: "fork/exec /var/task/bootstrap: permission denied".
            reason = (exc.strerror or str(exc)).lower()
            return self.init_failed(started, INVALID_ENTRYPOINT, f"Error: fork/exec {bootstrap}: {reason}")
        await self._launch(process)
        try:
            event = await asyncio.wait_for(self._runtime_event(), self.spec.init_timeout)
        except TimeoutError:
            return self.init_failed(
                started, "Sandbox.Timedout", f"Init timed out after {self.spec.init_timeout:.2f} seconds"
            )
        return self._init_outcome(event, started)

    def _init_outcome(self, event: RuntimeEvent | None, started: float) -> InitOutcome:
        elapsed = (time.perf_counter() - started) * 1000
        match event:
            case RuntimeReady():
                return InitOutcome(duration_ms=elapsed, output=self.take_output())
            case InitErrorPosted(body=body, error_type=error_type):
                return InitOutcome(
                    duration_ms=elapsed,
                    error_payload=body,
                    error_type=error_type or error_type_of(body),
                    output=self.take_output(),
                )
            case None:
                return self.init_failed(
                    started, "Runtime.ExitError", f"Error: {exit_description(self.process.returncode)}"
                )
        raise AssertionError(f"runtime answered an invoke during init: {event!r}")

    async def _invoke(self, request: InvokeInput, started: float) -> InvokeOutcome:
        assert self._api is not None, "environment was not started"
        self._api.deliver(request)
        match await self._runtime_event():
            case ResponsePosted(body=body):
                return self.success(body, started)
            case ErrorPosted(body=body, error_type=error_type):
                return self.function_error(body, error_type, started)
            case ResponseRejected(error_type=error_type, message=message):
                return self.failure(Status.ERROR, error_type, message, started)
            case None:
                return await self.crashed(request.request_id, started)
            case event:
                raise AssertionError(f"runtime reported init during an invoke: {event!r}")

    async def _runtime_event(self) -> RuntimeEvent | None:
        """The runtime's next move on the API, or None if its process exits first."""
        assert self._api is not None
        event = asyncio.ensure_future(self._api.next_event())
        exited = asyncio.ensure_future(self.process.wait())
        await first_done(event, exited)
        if not event.cancelled():
            return event.result()
        return self._api.pending_event()

    def _close_channel(self) -> None:
        if self._api is not None:
            self._api.close()
