"""The data plane's front door: every invoke (sync, async, later schedules and event sources) enters here.

An Event invoke is answered 202 once the event is committed to the durable queue; invocation.async_workers runs
it later through `run_event`, on the same path (and environment pool) as a synchronous invoke.
"""

from __future__ import annotations

import base64
import dataclasses
import logging
import time
import uuid
from typing import Protocol

import orjson

from nimbus.domain import snapstart
from nimbus.domain.arns import LATEST, Identity, parse_function_ref, resolve_qualifier
from nimbus.domain.functions import FunctionConfig
from nimbus.domain.invocation_records import AttemptResponse
from nimbus.domain.reports import (
    Report,
    end_line,
    init_report_line,
    init_start_line,
    report_line,
    restore_report_line,
    restore_start_line,
    start_line,
)  # fmt: skip
from nimbus.domain.states import FunctionState
from nimbus.errors import ResourceConflict, ResourceNotFound
from nimbus.invocation.limits import ConcurrencyLimits
from nimbus.invocation.payloads import check_payload
from nimbus.invocation.queue import EventQueue, NewEvent, QueuedEvent, QueueStats
from nimbus.invocation.requests import InvocationType, InvokeRequest, InvokeResponse
from nimbus.invocation.router import VersionRouter
from nimbus.invocation.snapstart import SnapStartNotReady, restore_error
from nimbus.observability.logs import LogSink, split_output
from nimbus.observability.metrics import Metrics
from nimbus.runtime.pool import EnvironmentPool
from nimbus.runtime.results import InitOutcome, InvokeInput, InvokeOutcome, Status
from nimbus.runtime.spec import Credentials, EnvironmentSpec, spec_for
from nimbus.store.code import CodeStore

log = logging.getLogger(__name__)

TAIL_BYTES = 4096
# Init errors the platform itself reports (the runtime exited or could not start), not the runtime's init/error.
_PLATFORM_INIT_ERRORS = frozenset({"Runtime.ExitError", "Runtime.InvalidEntrypoint"})
_REPORT_STATUS: dict[Status, str | None] = {Status.SUCCESS: None, Status.TIMEOUT: "timeout"}
# Without limits given (unit tests), nothing is throttled.
UNLIMITED = 1 << 31


class FunctionSource(Protocol):
    """What the invoke path needs from the control plane (control.functions.FunctionService provides it)."""

    async def get_ready(self, name: str, qualifier: str | None = None) -> FunctionConfig: ...


class InvokeService:
    def __init__(
        self,
        functions: FunctionSource,
        pool: EnvironmentPool,
        code: CodeStore,
        logs: LogSink,
        identity: Identity,
        credentials: Credentials,
        init_timeout: float,
        metrics: Metrics,
        queue: EventQueue,
        router: VersionRouter | None = None,
        limits: ConcurrencyLimits | None = None,
    ) -> None:
        # Account, reserved and provisioned concurrency: an invoke over them is throttled (429, or an async retry).
        self._limits = limits if limits is not None else ConcurrencyLimits(UNLIMITED)
        self._metrics = metrics
        self._queue = queue
        self._functions = functions
        self._pool = pool
        self._code = code
        self._logs = logs
        self._identity = identity
        self._credentials = credentials
        self._init_timeout = init_timeout
        # Qualifier -> version per invoke (aliases with weights); without one, aliases are not resolved here.
        self._router = router if router is not None else VersionRouter(functions, None)
        # (function, version) -> (revision, spec): versions invoked alternately (alias routing) keep their specs.
        self._specs: dict[tuple[str, str], tuple[str, EnvironmentSpec]] = {}

    async def invoke(self, request: InvokeRequest) -> InvokeResponse:
        ref = parse_function_ref(request.function_name)
        qualifier = resolve_qualifier(ref, request.qualifier)
        try:
            config = await self._router.route(ref.name, qualifier)
        except ResourceNotFound:
            # Invoke names the version it looked for, $LATEST when none was given.
            arn = self._identity.function_arn(ref.name, qualifier or LATEST)
            raise ResourceNotFound(f"Function not found: {arn}") from None
        check_payload(request.payload, request.invocation_type)
        request_id = request.request_id or str(uuid.uuid4())
        if request.invocation_type is InvocationType.DRY_RUN:
            return InvokeResponse(204, request_id)
        if request.invocation_type is InvocationType.EVENT:
            # Durable before the 202. The client context reaches the function on synchronous invokes only.
            await self._queue.put([NewEvent(request_id, ref.name, qualifier, request.payload, time.time())])
            self._metrics.async_events.record_received(ref.name)
            return InvokeResponse(202, request_id)
        outcome, lines = await self._run(config, request.payload, qualifier, request.client_context, request_id)
        return InvokeResponse(
            status_code=200,
            request_id=request_id,
            payload=outcome.payload,
            function_error="Unhandled" if outcome.is_error else None,
            log_result=_tail(lines) if request.tail_logs else None,
            executed_version=config.version,
        )

    async def run_event(self, event: QueuedEvent) -> AttemptResponse:
        """One attempt at a queued event, with its own request id: what a synchronous invoke would have answered.

        The event keeps the qualifier it was sent with: an alias is resolved (and weighted) again at each attempt.
        """
        config = await self._router.route(event.function_name, event.qualifier)
        outcome, _ = await self._run(config, event.payload, event.qualifier, None, event.request_id)
        function_error = "Unhandled" if outcome.is_error else None
        return AttemptResponse(200, config.version, outcome.payload, function_error)

    async def queue_stats(self) -> list[QueueStats]:
        """Asynchronous events waiting or running, per function."""
        return await self._queue.stats()

    async def _run(
        self,
        config: FunctionConfig,
        payload: bytes,
        qualifier: str | None,
        client_context: str | None,
        request_id: str,
    ) -> tuple[InvokeOutcome, list[str]]:
        _check_invocable(config)
        spec = self._spec(config)
        # The concurrency slot is taken before an environment: a throttled invoke starts nothing.
        with self._limits.lease(config.name):
            async with self._pool.lease(spec) as lease:
                environment = lease.environment
                if lease.init is not None and not lease.init.ok:
                    outcome = _init_failure(lease.init, request_id)
                else:
                    invoke_input = InvokeInput(
                        request_id=request_id,
                        payload=payload,
                        # The timeout bounds the invoke phase: the deadline starts after a cold start's init.
                        deadline_ms=int(time.time() * 1000) + config.timeout * 1000,
                        invoked_arn=f"{spec.function_arn}:{qualifier}" if qualifier else spec.function_arn,
                        client_context=client_context,
                    )
                    outcome = await environment.invoke(invoke_input)
                lines = _log_lines(config, spec.region, request_id, lease.init, lease.reset, outcome)
                self._logs.emit(spec.log_group, environment.log_stream, lines)
                if lease.init is not None and lease.init.restore and not lease.init.ok:
                    raise restore_error(lease.init)  # an API error, not the function's: AWS answers SnapStart*
        self._metrics.record_invoke(
            config.name, outcome.status.value, outcome.duration_ms / 1000, lease.init is not None
        )
        return outcome, lines

    def environment_spec(self, config: FunctionConfig) -> EnvironmentSpec:
        """The spec this version's invokes run in (its provisioned environments are started from it)."""
        return self._spec(config)

    def _spec(self, config: FunctionConfig) -> EnvironmentSpec:
        key = (config.name, config.version)
        cached = self._specs.get(key)
        if cached is not None and cached[0] == config.revision_id:
            return cached[1]
        task_root = self._code.tree(config.code)
        spec = spec_for(config, task_root, self._identity, self._credentials, self._init_timeout,
                        layers=[self._code.tree(layer.code) for layer in config.layers])  # fmt: skip
        if snapstart.snapshots(config):
            spec = dataclasses.replace(spec, initialization_type="snap-start")
        self._specs[key] = (config.revision_id, spec)  # replaces only this version's stale revision
        return spec


def _check_invocable(config: FunctionConfig) -> None:
    """A SnapStart version is invoked once its snapshot exists (Active); while it is made, AWS answers 409."""
    if not snapstart.snapshots(config):
        return
    if config.state is FunctionState.PENDING:
        raise SnapStartNotReady()
    if config.state is FunctionState.FAILED:
        raise ResourceConflict(
            "The operation cannot be performed at this time. The function is currently in the following state: Failed"
        )


def _init_failure(init: InitOutcome, request_id: str) -> InvokeOutcome:
    """The invoke that found init failed answers with init's error; its REPORT carries init's time and memory."""
    assert init.error_payload is not None
    payload = init.error_payload
    if init.error_type in _PLATFORM_INIT_ERRORS:
        # Errors the platform (not the runtime) reports name the request, as RAPID's do.
        document = orjson.loads(payload)
        document["errorMessage"] = f"RequestId: {request_id} {document['errorMessage']}"
        payload = orjson.dumps(document)
    return InvokeOutcome(
        Status.CRASH,
        payload,
        duration_ms=init.duration_ms,
        error_type=init.error_type,
        max_memory_mb=init.max_memory_mb,
    )


def _log_lines(
    config: FunctionConfig,
    region: str,
    request_id: str,
    init: InitOutcome | None,
    reset: bool,
    outcome: InvokeOutcome,
) -> list[str]:
    """The invoke's log: INIT_START and init's output on a cold start, START, output, END, REPORT.

    A reset environment's init is suppressed, as AWS does it: it runs inside the invoke (its output after START),
    and its time is part of Duration instead of an Init Duration.
    """
    lines: list[str] = []
    init_ms: float | None = None
    duration_ms = outcome.duration_ms
    suppressed = init if init is not None and init.ok and reset and not init.restore else None
    restore_ms: float | None = None
    if init is not None and init.restore:
        lines.append(restore_start_line(config.runtime, region))
        lines.extend(split_output(init.output))
        lines.append(restore_report_line(init.duration_ms, None if init.ok else init.error_type))
        if not init.ok:
            return lines  # the invoke never started: AWS answers the SnapStart error
        restore_ms = init.duration_ms
    elif init is not None and suppressed is None:
        lines.append(init_start_line(config.runtime, region))
        lines.extend(split_output(init.output))
        if init.ok:
            init_ms = init.duration_ms
        else:
            lines.append(init_report_line(init.duration_ms, init.error_type))
    lines.append(start_line(request_id, config.version))
    if suppressed is not None:
        lines.extend(split_output(suppressed.output))
        duration_ms += suppressed.duration_ms
    lines.extend(split_output(outcome.output))
    lines.append(end_line(request_id))
    report = Report(
        request_id=request_id,
        duration_ms=duration_ms,
        memory_size=config.memory_size,
        max_memory_mb=outcome.max_memory_mb,
        init_duration_ms=init_ms,
        restore_duration_ms=restore_ms,
        billed_restore_ms=init.hooks_ms if init is not None and init.restore else None,
        status=_REPORT_STATUS.get(outcome.status, "error"),
        error_type=outcome.report_error_type or outcome.error_type,
    )
    lines.append(report_line(report))
    return lines


def _tail(lines: list[str]) -> str:
    """X-Amz-Log-Result: base64 of the last 4 KB of this invoke's log."""
    text = "\n".join(lines) + "\n"
    return base64.b64encode(text.encode()[-TAIL_BYTES:]).decode()
