"""The data plane's front door: every invoke (sync, async, later schedules and event sources) enters here."""

from __future__ import annotations

import asyncio
import base64
import logging
import time
import uuid
from collections.abc import Coroutine
from typing import Any, Protocol

from nimbus.domain.arns import LATEST, Identity, parse_function_ref, resolve_qualifier
from nimbus.domain.functions import FunctionConfig
from nimbus.domain.reports import Report, end_line, init_report_line, report_line, start_line
from nimbus.errors import ResourceNotFound
from nimbus.invocation.payloads import check_payload
from nimbus.invocation.requests import InvocationType, InvokeRequest, InvokeResponse
from nimbus.observability.logs import LogSink, split_output
from nimbus.observability.metrics import Metrics
from nimbus.runtime.pool import EnvironmentPool
from nimbus.runtime.results import InitOutcome, InvokeInput, InvokeOutcome, Status
from nimbus.runtime.spec import Credentials, EnvironmentSpec, spec_for
from nimbus.store.code import CodeStore

log = logging.getLogger(__name__)

TAIL_BYTES = 4096


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
    ) -> None:
        self._metrics = metrics
        self._functions = functions
        self._pool = pool
        self._code = code
        self._logs = logs
        self._identity = identity
        self._credentials = credentials
        self._init_timeout = init_timeout
        self._specs: dict[tuple[str, str, str], EnvironmentSpec] = {}
        self._background: set[asyncio.Task[None]] = set()

    async def invoke(self, request: InvokeRequest) -> InvokeResponse:
        ref = parse_function_ref(request.function_name)
        qualifier = resolve_qualifier(ref, request.qualifier)
        try:
            config = await self._functions.get_ready(ref.name, qualifier)
        except ResourceNotFound:
            # Invoke names the version it looked for, $LATEST when none was given.
            arn = self._identity.function_arn(ref.name, qualifier or LATEST)
            raise ResourceNotFound(f"Function not found: {arn}") from None
        check_payload(request.payload, request.invocation_type)
        request_id = str(uuid.uuid4())
        if request.invocation_type is InvocationType.DRY_RUN:
            return InvokeResponse(204, request_id)
        if request.invocation_type is InvocationType.EVENT:
            self._in_background(self._run(config, request, request_id))
            return InvokeResponse(202, request_id)
        outcome, log_text = await self._run(config, request, request_id)
        return InvokeResponse(
            status_code=200,
            request_id=request_id,
            payload=outcome.payload,
            function_error="Unhandled" if outcome.is_error else None,
            log_result=_tail(log_text) if request.tail_logs else None,
            executed_version=config.version,
        )

    async def _run(self, config: FunctionConfig, request: InvokeRequest, request_id: str) -> tuple[InvokeOutcome, str]:
        spec = self._spec(config)
        invoke_input = InvokeInput(
            request_id=request_id,
            payload=request.payload,
            deadline_ms=int(time.time() * 1000) + config.timeout * 1000,
            invoked_arn=self._identity.function_arn(config.name, request.qualifier),
            client_context=request.client_context,
        )
        async with self._pool.lease(spec) as lease:
            environment = lease.environment
            if lease.init is not None and not lease.init.ok:
                outcome = _init_failure(lease.init)
            else:
                outcome = await environment.invoke(invoke_input)
            lines = _log_lines(config, request_id, lease.init, outcome)
            self._logs.emit(spec.log_group, environment.log_stream, lines)
        self._count(config.name, lease.init is not None, outcome)
        return outcome, "\n".join(lines) + "\n"

    def _count(self, name: str, cold: bool, outcome: InvokeOutcome) -> None:
        self._metrics.invocations.labels(name, outcome.status.value).inc()
        self._metrics.duration.labels(name).observe(outcome.duration_ms / 1000)
        if cold:
            self._metrics.cold_starts.labels(name).inc()

    def _spec(self, config: FunctionConfig) -> EnvironmentSpec:
        key = (config.name, config.version, config.revision_id)
        spec = self._specs.get(key)
        if spec is None:
            task_root = self._code.tree(config.code)
            spec = spec_for(config, task_root, self._identity, self._credentials, self._init_timeout)
            self._specs = {k: v for k, v in self._specs.items() if k[0] != config.name}
            self._specs[key] = spec
        return spec

    def _in_background(self, work: Coroutine[Any, Any, object]) -> None:
        async def run() -> None:
            try:
                await work
            except Exception:
                log.exception("asynchronous invoke failed")

        task = asyncio.create_task(run())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def close(self) -> None:
        if self._background:
            await asyncio.gather(*self._background, return_exceptions=True)


def _init_failure(init: InitOutcome) -> InvokeOutcome:
    assert init.error_payload is not None
    return InvokeOutcome(Status.CRASH, init.error_payload, duration_ms=0.0, error_type=init.error_type, output="")


def _log_lines(config: FunctionConfig, request_id: str, init: InitOutcome | None, outcome: InvokeOutcome) -> list[str]:
    lines: list[str] = []
    init_ms: float | None = None
    if init is not None:
        lines.extend(split_output(init.output))
        init_ms = init.duration_ms
        if not init.ok:
            lines.append(init_report_line(init.duration_ms, init.error_type))
            init_ms = None
    lines.append(start_line(request_id, config.version))
    lines.extend(split_output(outcome.output))
    lines.append(end_line(request_id))
    duration = config.timeout * 1000.0 if outcome.status is Status.TIMEOUT else outcome.duration_ms
    status = {Status.TIMEOUT: "timeout", Status.SUCCESS: None}.get(outcome.status, "error")
    report = Report(
        request_id=request_id,
        duration_ms=duration,
        memory_size=config.memory_size,
        max_memory_mb=outcome.max_memory_mb,
        init_duration_ms=init_ms,
        status=status,
        error_type=outcome.report_error_type or outcome.error_type,
    )
    lines.append(report_line(report))
    return lines


def _tail(text: str) -> str:
    return base64.b64encode(text.encode()[-TAIL_BYTES:]).decode()
