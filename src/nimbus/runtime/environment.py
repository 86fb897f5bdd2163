"""Execution environments: one process (tree), one invoke at a time, reused while warm.

Lifecycle (illegal moves raise):

    STARTING --ready--> IDLE --invoke--> BUSY --done--> IDLE
        |                 |                 |
        +--init failed----+----stop---------+--timeout / crash--> DEAD

An environment that times out, crashes or fails init is DEAD and never reused; the pool replaces it. One whose
process was killed from outside while idle is still IDLE but not `is_alive()`, and the pool replaces it too.

Two implementations share this contract: PythonEnvironment (nimbus's own bootstrap over framed Unix-socket
messages, no HTTP hop on the hot path) and runtime_api.RuntimeApiEnvironment (any custom runtime over the
Lambda Runtime API, 2018-06-01).
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import dataclasses
import enum
import logging
import time
import uuid

import orjson

from nimbus.runtime.cgroups import MemoryCgroup, MemoryController
from nimbus.runtime.process import EnvironmentProcess, exit_description
from nimbus.runtime.results import InitOutcome, InvokeInput, InvokeOutcome, Status
from nimbus.runtime.sandboxes import Sandbox, Sandboxes
from nimbus.runtime.spec import MAX_RESPONSE_BYTES, EnvironmentSpec, new_log_stream

log = logging.getLogger(__name__)


class EnvState(enum.Enum):
    STARTING = "starting"
    IDLE = "idle"
    BUSY = "busy"
    DEAD = "dead"


_MOVES = {
    EnvState.STARTING: {EnvState.IDLE, EnvState.DEAD},
    EnvState.IDLE: {EnvState.BUSY, EnvState.DEAD},
    EnvState.BUSY: {EnvState.IDLE, EnvState.DEAD},
    EnvState.DEAD: {EnvState.DEAD},
}


class Environment(abc.ABC):
    def __init__(
        self, spec: EnvironmentSpec, memory: MemoryController | None, sandboxes: Sandboxes | None = None
    ) -> None:
        self.spec = spec
        self.id = uuid.uuid4().hex
        self.log_stream = new_log_stream(spec.version)
        self.state = EnvState.STARTING
        self.last_used = time.monotonic()
        self.init_outcome: InitOutcome | None = None
        self.invocations = 0
        # Memory accounting for Max Memory Used, see max_memory_mb().
        self._init_peak_kb = 0
        self._cgroup_peak_at_init = 0
        self._peak_rss_kb = 0
        self._memory_controller = memory
        self._cgroup: MemoryCgroup | None = None
        self._process: EnvironmentProcess | None = None
        # Where the process is sandboxed (None: a plain process, as in unit tests); released in stop().
        self._sandboxes = sandboxes
        self.sandbox: Sandbox | None = None

    # -- lifecycle -------------------------------------------------------------------------------------------
    def move(self, target: EnvState) -> None:
        if target not in _MOVES[self.state]:
            raise RuntimeError(f"environment {self.id} cannot go from {self.state.value} to {target.value}")
        self.state = target

    async def start(self) -> InitOutcome:
        """Start the process and run init. Never raises for function faults: they are in the outcome."""
        try:
            outcome = await self._start()
        except BaseException:
            await self.stop()
            raise
        if outcome.ok:
            if self.sandbox is not None and self._sandboxes is not None:
                self._sandboxes.throttle(self.sandbox, self.spec.memory_size)
            self.move(EnvState.IDLE)
        else:
            # Measured before stop() frees the cgroup: the failed invoke's REPORT shows it.
            outcome = dataclasses.replace(outcome, max_memory_mb=self.max_memory_mb())
            await self.stop()
        self.init_outcome = outcome
        return outcome

    async def invoke(self, request: InvokeInput) -> InvokeOutcome:
        """Run one invoke within the function's timeout. Function faults are in the outcome; a timeout or crash
        leaves the environment DEAD."""
        self.move(EnvState.BUSY)
        self.invocations += 1
        try:
            outcome = await self._invoke_within_timeout(request)
        except BaseException:
            # Cancelled, or a fault in nimbus itself: the process is in an unknown state, so it is never reused.
            await self.stop()
            raise
        if outcome.environment_lost:
            await self.stop()
        else:
            self.move(EnvState.IDLE)
        return outcome

    async def _invoke_within_timeout(self, request: InvokeInput) -> InvokeOutcome:
        started = time.perf_counter()
        # asyncio.timeout rather than wait_for: on 3.11 wait_for wraps the call in a task of its own.
        deadline = asyncio.timeout(self.spec.timeout)
        try:
            async with deadline:
                return await self._invoke(request, started)
        except TimeoutError:
            if not deadline.expired():
                raise
        return await self._timed_out(request, started)

    async def stop(self) -> None:
        """Kill the process tree and free its cgroups and sandbox. Idempotent."""
        self.state = EnvState.DEAD
        if self._process is not None:
            self._process.kill()
            await self._process.terminate(grace=0)
        self._close_channel()
        if self.sandbox is not None:
            self.sandbox.release()
        if self._cgroup is not None:
            self._cgroup.remove()

    @property
    def is_dead(self) -> bool:
        return self.state is EnvState.DEAD

    def is_alive(self) -> bool:
        return self.state is not EnvState.DEAD and (self._process is None or not self._process.has_exited())

    # -- what implementations provide ----------------------------------------------------------------------
    # True when start() has a part before init that prepare() can do ahead: the pool then keeps spares. Not for
    # custom runtimes, whose process's start is their init.
    prepares_ahead = False

    async def prepare(self) -> None:  # noqa: B027 - optional hook
        """Do the part of start() that comes before init (a fork), so a spare can wait at that point.

        Optional; start() prepares first when this was not called. Raises only for faults of nimbus itself.
        """

    @abc.abstractmethod
    async def _start(self) -> InitOutcome: ...

    @abc.abstractmethod
    async def _invoke(self, request: InvokeInput, started: float) -> InvokeOutcome: ...

    def _close_channel(self) -> None:  # noqa: B027 - optional hook
        """Release the transport to the process (socket, Runtime API server)."""

    # -- shared helpers -----------------------------------------------------------------------------------------
    def memory_cgroup(self) -> MemoryCgroup | None:
        """This environment's memory cgroup, created on first use (None where the host has no controller)."""
        if self._cgroup is None and self._memory_controller is not None:
            self._cgroup = self._memory_controller.create(self.id, self.spec.memory_size)
        return self._cgroup

    def adopt_cgroup(self, cgroup: MemoryCgroup) -> None:
        """Take over a memory cgroup the process joined itself (a zygote's blank child), limited to MemorySize."""
        self._cgroup = cgroup
        try:
            cgroup.set_limit(self.spec.memory_size * 1024 * 1024)
        except OSError as exc:
            log.warning("could not limit memory cgroup %s: %s", cgroup.path, exc)

    async def _launch(self, process: EnvironmentProcess, joined_cgroup: bool = False) -> None:
        """Own this process; it is moved into the memory cgroup unless it joined it itself (a forked child)."""
        self._process = process
        cgroup = self.memory_cgroup()
        if cgroup is not None and not joined_cgroup:
            cgroup.add(process.pid)

    @property
    def process(self) -> EnvironmentProcess:
        assert self._process is not None, "environment has no process yet"
        return self._process

    def take_output(self) -> str:
        return self._process.output.take() if self._process is not None else ""

    @property
    def has_memory_cgroup(self) -> bool:
        return self._cgroup is not None

    def initialised(self, peak_kb: int) -> None:
        """Init ended with the process at this resident-set peak (KB), as the process itself reports it."""
        self._init_peak_kb = peak_kb
        self._cgroup_peak_at_init = self._cgroup.peak_bytes() if self._cgroup is not None else 0

    def max_memory_mb(self, maxrss_kb: int = 0) -> int:
        """Max Memory Used, in MB rounded up.

        The cgroup sees the whole process tree but only what was charged after the process joined it (a spawned
        interpreter's start is charged to nimbus; a forked environment's pages stay charged to its zygote until it
        writes them), so with a cgroup the peak is init's resident peak (for a forked environment that includes the
        zygote's preloaded modules, resident in it as they would be had it imported them) plus however far the
        cgroup's peak has climbed since init; it reads one kept-open file. Without a cgroup the process reports its
        resident peak (`maxrss_kb`) after every invoke.
        """
        self._peak_rss_kb = max(self._peak_rss_kb, maxrss_kb)
        peak = max(self._peak_rss_kb, self._init_peak_kb) * 1024
        if self._cgroup is not None:
            grown = max(0, self._cgroup.peak_bytes() - self._cgroup_peak_at_init)
            peak = max(peak, self._init_peak_kb * 1024 + grown)
            # The limit is enforced: the kernel ends the process at MemorySize, as AWS reports an OOM.
            return min(-(-peak // (1024 * 1024)), self.spec.memory_size)
        return -(-peak // (1024 * 1024))

    def init_failed(self, started: float, error_type: str, message: str) -> InitOutcome:
        """An init the platform itself ended (the process exited, init timed out): AWS's error document."""
        payload = orjson.dumps({"errorMessage": message, "errorType": error_type})
        return InitOutcome(
            duration_ms=(time.perf_counter() - started) * 1000,
            error_payload=payload,
            error_type=error_type,
            output=self.take_output(),
        )

    def success(self, payload: bytes, started: float, maxrss_kb: int = 0) -> InvokeOutcome:
        if len(payload) > MAX_RESPONSE_BYTES:
            return self.response_too_large(started, maxrss_kb)
        return InvokeOutcome(
            Status.SUCCESS,
            payload,
            _elapsed_ms(started),
            max_memory_mb=self.max_memory_mb(maxrss_kb),
            output=self.take_output(),
        )

    def response_too_large(self, started: float, maxrss_kb: int = 0) -> InvokeOutcome:
        return self.failure(
            Status.ERROR,
            "Function.ResponseSizeTooLarge",
            f"Response payload size exceeded maximum allowed payload size ({MAX_RESPONSE_BYTES} bytes).",
            started,
            maxrss_kb,
        )

    def function_error(
        self, payload: bytes, error_type: str | None, started: float, maxrss_kb: int = 0
    ) -> InvokeOutcome:
        return InvokeOutcome(
            Status.ERROR,
            payload,
            _elapsed_ms(started),
            error_type=error_type or error_type_of(payload),
            max_memory_mb=self.max_memory_mb(maxrss_kb),
            output=self.take_output(),
        )

    def failure(
        self,
        status: Status,
        error_type: str,
        message: str,
        started: float,
        maxrss_kb: int = 0,
        report_error_type: str | None = None,
    ) -> InvokeOutcome:
        payload = orjson.dumps({"errorMessage": message, "errorType": error_type})
        return InvokeOutcome(
            status,
            payload,
            _elapsed_ms(started),
            error_type=error_type,
            report_error_type=report_error_type,
            max_memory_mb=self.max_memory_mb(maxrss_kb),
            output=self.take_output(),
        )

    async def crashed(self, request_id: str, started: float) -> InvokeOutcome:
        """The process went away mid-invoke: Runtime.ExitError, or Runtime.OutOfMemory in REPORT when OOM-killed."""
        process = self.process
        with contextlib.suppress(TimeoutError):
            # It closed the channel; give it a moment to finish exiting before it is killed.
            await asyncio.wait_for(process.wait(), timeout=2)
        # Children it forked may hold the output pipe open: end the whole tree, then collect what it wrote.
        process.kill()
        await process.wait()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(process.output.eof.wait(), timeout=1)
        oom = self._cgroup is not None and self._cgroup.oom_killed()
        return self.failure(
            Status.CRASH,
            "Runtime.ExitError",
            f"RequestId: {request_id} Error: {exit_description(process.returncode)}",
            started,
            report_error_type="Runtime.OutOfMemory" if oom else None,
        )

    async def _timed_out(self, request: InvokeInput, started: float) -> InvokeOutcome:
        self.process.kill()
        return self.failure(
            Status.TIMEOUT,
            "Sandbox.Timedout",
            f"RequestId: {request.request_id} Error: Task timed out after {self.spec.timeout:.2f} seconds",
            started,
        )


def _elapsed_ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000


def error_type_of(payload: bytes) -> str | None:
    try:
        doc = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return None
    value = doc.get("errorType") if isinstance(doc, dict) else None
    return str(value) if value else None
