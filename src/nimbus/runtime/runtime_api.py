"""RuntimeApiEnvironment: a custom runtime (provided.al2, provided.al2023) speaking the Lambda Runtime API.

The function package's own executable `bootstrap` runs with AWS_LAMBDA_RUNTIME_API pointing at a Runtime API
server of its own (runtime_api_server.py), as RAPID runs one per sandbox, so any custom runtime and awslambdaric
work unmodified. Init ends at the runtime's first GET /next, at POST /runtime/init/error, or when the process
exits; an invoke ends at its /response or /error, or when the process exits.
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

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
from nimbus.runtime.sandboxes import launch, opt_mounted
from nimbus.runtime.spec import OPT, EnvironmentSpec, process_environment

# RAPID's error type when the runtime cannot be started at all (fatalerror.go).
INVALID_ENTRYPOINT = "Runtime.InvalidEntrypoint"


def bootstrap_candidates(spec: EnvironmentSpec) -> list[Path]:
    """Where the bootstrap may be, first found wins: the code's root, then /opt, where the last layer with one wins
    ("If the root of your deployment package doesn't contain a file named bootstrap, Lambda looks for the file in
    the function's layers")."""
    return [spec.task_root / "bootstrap", *(layer / "bootstrap" for layer in reversed(spec.layers))]


class RuntimeApiEnvironment(Environment):
    _api: RuntimeApiServer | None = None

    async def _start(self) -> InitOutcome:
        started = time.perf_counter()
        candidates = bootstrap_candidates(self.spec)
        bootstrap = next((candidate for candidate in candidates if candidate.is_file()), None)
        if bootstrap is None:
            # The message lists every place it looked, as RAPID's does.
            looked = " ".join(str(candidate) for candidate in candidates)
            return self.init_failed(started, INVALID_ENTRYPOINT, f"Error: Couldn't find valid bootstrap(s): [{looked}]")
        self._api = RuntimeApiServer()
        port = await self._api.start()
        try:
            process = await self._spawn(bootstrap, f"127.0.0.1:{port}")
        except OSError as exc:
            # Go's wording, as RAPID reports it: "fork/exec /var/task/bootstrap: permission denied".
            reason = (exc.strerror or str(exc)).lower()
            seen = self._seen(bootstrap)
            return self.init_failed(started, INVALID_ENTRYPOINT, f"Error: fork/exec {seen}: {reason}")
        await self._launch(process, joined_cgroup=self.sandbox is not None)
        try:
            event = await asyncio.wait_for(self._runtime_event(), self.spec.init_timeout)
        except TimeoutError:
            return self.init_failed(
                started, "Sandbox.Timedout", f"Init timed out after {self.spec.init_timeout:.2f} seconds"
            )
        return self._init_outcome(event, started)

    async def _spawn(self, bootstrap: Path, runtime_api: str) -> SpawnedProcess:
        """Start the bootstrap in a sandbox of its own (through the launcher), or as a plain process without one."""
        if self._sandboxes is None:
            env = process_environment(self.spec, self.log_stream, runtime_api=runtime_api)
            return await SpawnedProcess.spawn([str(bootstrap)], env=env, cwd=self.spec.task_root)
        self.sandbox = self._sandboxes.for_spawn(self.spec, self.id, self.memory_cgroup())
        if not os.access(bootstrap, os.X_OK):
            # The launcher execs it inside the sandbox, where the reason could only be an exit status.
            raise PermissionError(13, "permission denied")
        env = process_environment(self.sandbox.visible_spec(self.spec), self.log_stream, runtime_api=runtime_api,
                                  inside_sandbox=opt_mounted(self.sandbox))  # fmt: skip
        command = launch(self.sandbox, [str(self._seen(bootstrap))], env)
        try:
            return await SpawnedProcess.spawn(command.argv, env={}, cwd=self.spec.task_root, pass_fds=command.pass_fds)
        finally:
            os.close(command.fd)

    def _seen(self, bootstrap: Path) -> Path:
        """The bootstrap where the function sees it: in its code, or at /opt when a layer provides it."""
        if self.sandbox is None:
            return bootstrap
        if bootstrap.parent == self.spec.task_root:
            return self.sandbox.inside(bootstrap, self.spec)
        return Path(OPT) / bootstrap.name if opt_mounted(self.sandbox) else bootstrap

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
