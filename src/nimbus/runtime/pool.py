"""Warm execution environments, kept per environment spec and reused one invoke at a time.

The pool answers one question: which environment runs this invoke? A warm idle one for the same spec if there
is one (most recently used first, so the warmest stays warm and the coldest ages out), otherwise a new one.
Environments that died (a crash, a timeout, a kill -9 from outside while idle) are never handed out; idle ones
are reaped after `keep_alive` seconds; environments of a superseded configuration are stopped as soon as they
are idle.

An environment that crashed or timed out during an invoke is *reset*, as AWS resets it: the next cold start for
its spec takes its place, writes to the same log stream, and its init is a "suppressed init" whose time AWS
folds into that invoke's Duration instead of reporting an Init Duration
(https://docs.aws.amazon.com/lambda/latest/dg/lambda-runtime-environment.html; reference/lambda-data-plane.md §4).

Cold starts are controlled three ways:
- bounded: at most `cold_start_limit` environments start at once (ColdStartGate; the measured reason for its
  default is at default_cold_start_limit);
- coalesced: an invoke that finds no idle environment waits in a queue for its spec, and a cold start is launched
  only while fewer are under way than invokes wait (`starts_needed`). Whichever comes first serves the oldest
  waiter: a new environment, or one released by another invoke. Concurrent invokes still get environments of their
  own; a burst just does not start more than it ends up needing. A started environment nobody waits for any more
  goes idle, and its first invoke reports its init, as any cold start does;
- spared: a hot spec (`is_hot`: cold-started repeatedly in the last seconds) keeps one environment prepared up to
  init (forked, not initialised), so the next cold start skips the fork. Init still runs per environment, as on
  AWS; a spare is dropped once the spec cools down.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Protocol, runtime_checkable

from nimbus.runtime.provisioned import ProvisionedEnvironments
from nimbus.runtime.results import InitOutcome, InvokeInput, InvokeOutcome
from nimbus.runtime.spec import EnvironmentSpec

log = logging.getLogger(__name__)

# A spec is hot when it was cold-started (successfully) at least HOT_COLD_STARTS times within HOT_WINDOW seconds
# and invoked within the last HOT_WINDOW seconds: a burst is under way, and a spare saves the next cold start the
# fork and the setup of the process (what python_env.prepare does).
HOT_WINDOW = 5.0
HOT_COLD_STARTS = 2
# A start holds its place in the gate at most this long: a slow init (sleeping or downloading at import) must not
# keep other functions' cold starts waiting; the gate is for the CPU-bound part of a start (fork, imports).
SLOT_HOLD = 0.25


def default_cold_start_limit(cores: int | None = None) -> int:
    """Twice the CPU count.

    A cold start is CPU work (the fork, the child's setup, importing the handler, the server's side of it), so more
    of them at once does not make more of them per second. Measured on 2 cores (a burst of first invokes of 64
    functions from 64 clients, a fresh server each time): 133, 146, 127 and 136 cold starts/s with the limit at 4, 8,
    16 and 64, the same within this host's noise. What the bound buys is a cap on environments mid-start at once
    (their processes and memory) in a storm, and a queue served in order instead of every start slowed alike. Twice,
    not once, so a start waiting (for a cgroup join, a wake-up) leaves the CPU to another.
    """
    return 2 * (cores or os.cpu_count() or 1)


def starts_needed(waiting: int, starting: int) -> int:
    """Cold starts to launch so that each waiting invoke has one under way (an environment freed meanwhile serves
    a waiter first, so no more are started than wait)."""
    return max(0, waiting - starting)


def is_hot(cold_starts: Sequence[float], last_invoke: float, now: float) -> bool:
    recent = sum(1 for at in cold_starts if now - at <= HOT_WINDOW)
    return recent >= HOT_COLD_STARTS and now - last_invoke <= HOT_WINDOW


class ColdStartGate:
    """At most `limit` environments start at once; each holds its place for at most `hold` seconds."""

    def __init__(self, limit: int, hold: float = SLOT_HOLD) -> None:
        self.limit = limit
        self._semaphore = asyncio.Semaphore(limit)
        self._hold = hold

    @contextlib.asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        await self._semaphore.acquire()
        released = False

        def release() -> None:
            nonlocal released
            if not released:
                released = True
                self._semaphore.release()

        timer = asyncio.get_running_loop().call_later(self._hold, release)
        try:
            yield
        finally:
            timer.cancel()
            release()


class PooledEnvironment(Protocol):
    """What the pool keeps and a lease hands out (runtime.environment.Environment; a fake in unit tests)."""

    spec: EnvironmentSpec
    log_stream: str
    last_used: float  # the pool's clock when it went idle; written by the pool only

    @property
    def is_dead(self) -> bool: ...

    def is_alive(self) -> bool:
        """Not stopped and its process still running: safe to hand an invoke to."""
        ...

    async def start(self) -> InitOutcome:
        """Run init (preparing first if needed). Function faults are in the outcome (the environment is then
        dead), never raised."""
        ...

    async def stop(self) -> None:
        """Kill the environment and free what it holds. Idempotent."""
        ...

    async def invoke(self, request: InvokeInput) -> InvokeOutcome:
        """Run one invoke (the environment is idle). Function faults are in the outcome, never raised."""
        ...


@runtime_checkable
class Preparable(Protocol):
    """An environment that may be made a spare (runtime.environment.Environment)."""

    prepares_ahead: bool  # start() has a part before init (a fork) that prepare() can do ahead of time

    async def prepare(self) -> None:
        """Do that part now, so the environment can wait there as a spare; start() then only runs init."""
        ...


EnvironmentFactory = Callable[[EnvironmentSpec], PooledEnvironment]


class Lease:
    """One invoke's hold on an environment: `async with pool.lease(spec) as lease`; released on every path."""

    __slots__ = ("_pool", "_spec", "environment", "init", "reset")

    def __init__(self, pool: EnvironmentPool, spec: EnvironmentSpec) -> None:
        self._pool = pool
        self._spec = spec
        self.environment: PooledEnvironment
        # Set on a cold start: how init went. A failed init is returned as the invoke's result.
        self.init: InitOutcome | None = None
        # True when this cold start re-initialises an environment that crashed or timed out (a suppressed init).
        self.reset = False

    async def __aenter__(self) -> Lease:
        await self._pool._acquire(self, self._spec)
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        await self._pool._release(self.environment, worked=self.init is None or self.init.ok)


@dataclass(frozen=True)
class _Reset:
    """An environment lost during an invoke, waiting to be re-initialised by the next cold start of its spec."""

    log_stream: str
    since: float


@dataclass(frozen=True)
class _Fresh:
    """A started environment not yet leased: its first invoke reports this init."""

    init: InitOutcome
    reset: bool


@dataclass
class _SpecState:
    """What the pool holds and knows for one environment spec (by fingerprint)."""

    spec: EnvironmentSpec
    idle: list[PooledEnvironment] = field(default_factory=list)  # oldest first
    waiting: deque[asyncio.Future[PooledEnvironment]] = field(default_factory=deque)  # oldest first
    starting: int = 0
    resets: list[_Reset] = field(default_factory=list)
    spare: PooledEnvironment | None = None
    spare_pending: bool = False
    spareable: bool = False  # its environments prepare ahead (learnt from its first successful cold start)
    cold_starts: deque[float] = field(default_factory=deque)  # when each recent successful cold start ended
    last_invoke: float = float("-inf")

    def is_unused(self, now: float) -> bool:
        busy = self.idle or self.waiting or self.starting or self.resets or self.spare or self.spare_pending
        return not busy and now - self.last_invoke > HOT_WINDOW


class EnvironmentPool:
    def __init__(
        self,
        factory: EnvironmentFactory,
        keep_alive: float,
        clock: Callable[[], float] = time.monotonic,
        cold_start_limit: int = 0,
    ) -> None:
        self._factory = factory
        self._keep_alive = keep_alive
        self._clock = clock
        self._gate = ColdStartGate(cold_start_limit or default_cold_start_limit())
        self._states: dict[str, _SpecState] = {}  # fingerprint -> state
        self._live: set[PooledEnvironment] = set()  # started or starting (spares are not live until used)
        self._fresh: dict[PooledEnvironment, _Fresh] = {}
        # (function name, version) -> fingerprint of the newest spec: older ones are retired when released.
        self._current: dict[tuple[str, str], str] = {}
        self._tasks: set[asyncio.Task[None]] = set()  # cold starts and spares under way; close() cancels them
        # Provisioned concurrency: initialised ahead, never reaped, handed out before on-demand environments.
        self.provisioned = ProvisionedEnvironments(factory, self._gate.slot)

    def lease(self, spec: EnvironmentSpec) -> Lease:
        return Lease(self, spec)

    # -- acquire and release -----------------------------------------------------------------------------------
    async def _acquire(self, lease: Lease, spec: EnvironmentSpec) -> None:
        self._current[(spec.function_name, spec.version)] = spec.fingerprint
        state = self._state(spec)
        state.last_invoke = self._clock()
        provisioned = self.provisioned.take(spec.fingerprint)
        if provisioned is not None:
            lease.environment = provisioned  # initialised ahead: no init to report
            return
        environment = await self._take_idle(state)
        if environment is None:
            environment = await self._wait_for_environment(state)
        lease.environment = environment
        fresh = self._fresh.pop(environment, None)
        if fresh is not None:
            lease.init, lease.reset = fresh.init, fresh.reset

    async def _take_idle(self, state: _SpecState) -> PooledEnvironment | None:
        while state.idle:
            environment = state.idle.pop()
            if environment.is_alive():
                return environment
            await self._discard(environment)
        return None

    async def _wait_for_environment(self, state: _SpecState) -> PooledEnvironment:
        waiter: asyncio.Future[PooledEnvironment] = asyncio.get_running_loop().create_future()
        state.waiting.append(waiter)
        for _ in range(starts_needed(len(state.waiting), state.starting)):
            self._launch_cold_start(state)
        try:
            return await waiter
        except BaseException:
            if waiter in state.waiting:
                state.waiting.remove(waiter)
            elif waiter.done() and not waiter.cancelled() and waiter.exception() is None:
                self._offer(waiter.result())  # handed one just as this invoke was cancelled: the next may use it
            raise

    async def _release(self, environment: PooledEnvironment, worked: bool) -> None:
        if self.provisioned.owns(environment):
            await self.provisioned.give_back(environment)
            return
        spec = environment.spec
        if environment.is_dead:
            self._live.discard(environment)
            if worked:  # it was initialised and then lost during the invoke: AWS resets it
                self._state(spec).resets.append(_Reset(environment.log_stream, self._clock()))
        elif self._current.get((spec.function_name, spec.version)) != spec.fingerprint or not environment.is_alive():
            await self._discard(environment)
        else:
            self._offer(environment)

    def _offer(self, environment: PooledEnvironment) -> None:
        """An environment is ready (started, or released): to the oldest waiter for its spec, else idle."""
        state = self._state(environment.spec)
        while state.waiting:
            waiter = state.waiting.popleft()
            if not waiter.done():
                waiter.set_result(environment)
                return
        if environment.is_dead:  # a failed init whose invoke no longer waits
            self._live.discard(environment)
            self._fresh.pop(environment, None)
            return
        environment.last_used = self._clock()
        state.idle.append(environment)

    # -- cold starts and spares ----------------------------------------------------------------------------------
    def _launch_cold_start(self, state: _SpecState) -> None:
        state.starting += 1
        self._run(self._cold_start(state))

    async def _cold_start(self, state: _SpecState) -> None:
        try:
            environment, reset = await self._new_environment(state)
            self._live.add(environment)
            try:
                async with self._gate.slot():
                    init = await environment.start()
            except BaseException:
                await self._discard(environment)  # cancelled (the pool closes) or a fault of nimbus itself
                raise
        except Exception as exc:
            state.starting -= 1
            self._fail_oldest_waiter(state, exc)
            return
        except BaseException:
            state.starting -= 1
            raise
        state.starting -= 1
        self._fresh[environment] = _Fresh(init, reset)
        if init.ok:  # a function whose init fails gets no spares
            state.cold_starts.append(self._clock())
            state.spareable = isinstance(environment, Preparable) and environment.prepares_ahead
            self._consider_spare(state)
        self._offer(environment)

    async def _new_environment(self, state: _SpecState) -> tuple[PooledEnvironment, bool]:
        if state.resets:
            environment = self._factory(state.spec)
            environment.log_stream = state.resets.pop().log_stream
            return environment, True
        spare, state.spare = state.spare, None
        if spare is not None:
            if spare.is_alive():
                self._consider_spare(state)  # its replacement
                return spare, False
            await spare.stop()
        return self._factory(state.spec), False

    def _consider_spare(self, state: _SpecState) -> None:
        spec = state.spec
        if state.spare is not None or state.spare_pending or not state.spareable:
            return
        if self._current.get((spec.function_name, spec.version)) != spec.fingerprint:
            return
        if is_hot(state.cold_starts, state.last_invoke, self._clock()):
            state.spare_pending = True
            self._run(self._make_spare(state))

    async def _make_spare(self, state: _SpecState) -> None:
        environment = self._factory(state.spec)
        prepared = False
        try:
            async with self._gate.slot():
                if isinstance(environment, Preparable):
                    await environment.prepare()
                    prepared = True
        except Exception:
            log.exception("could not prepare a spare environment for %s", state.spec.function_name)
        finally:
            state.spare_pending = False
        spec = state.spec
        wanted = self._current.get((spec.function_name, spec.version)) == spec.fingerprint
        if prepared and wanted and state.spare is None and self._states.get(spec.fingerprint) is state:
            state.spare = environment
        else:
            await environment.stop()

    def _fail_oldest_waiter(self, state: _SpecState, error: Exception) -> None:
        while state.waiting:
            waiter = state.waiting.popleft()
            if not waiter.done():
                waiter.set_exception(error)
                return
        log.error("a cold start of %s failed with no invoke waiting for it", state.spec.function_name, exc_info=error)

    def _run(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- retiring, reaping, closing ------------------------------------------------------------------------------
    async def retire(self, function_name: str) -> None:
        """The function changed or was deleted: stop its idle environments; busy ones stop when released."""
        for key in [key for key in self._current if key[0] == function_name]:
            del self._current[key]
        stale: list[PooledEnvironment] = []
        for state in self._states.values():
            if state.spec.function_name == function_name:
                state.resets.clear()
                stale.extend(state.idle)
                state.idle.clear()
                stale.extend(self._take_spare(state))
        await asyncio.gather(*(self._discard(env) for env in stale))

    async def reap(self) -> int:
        """Stop environments idle for at least keep_alive, and spares of specs no longer hot; returns how many."""
        now = self._clock()
        deadline = now - self._keep_alive
        stale: list[PooledEnvironment] = []
        for fingerprint, state in list(self._states.items()):
            state.resets = [reset for reset in state.resets if reset.since > deadline]
            stale.extend(env for env in state.idle if env.last_used <= deadline)
            state.idle = [env for env in state.idle if env.last_used > deadline]
            while state.cold_starts and now - state.cold_starts[0] > HOT_WINDOW:
                state.cold_starts.popleft()
            cooled = not is_hot(state.cold_starts, state.last_invoke, now)
            if state.spare is not None and (cooled or not state.spare.is_alive()):
                stale.extend(self._take_spare(state))
            if state.is_unused(now):
                del self._states[fingerprint]
        await asyncio.gather(*(self._discard(env) for env in stale))
        return len(stale)

    async def run_reaper(self) -> None:
        # Often enough that an environment outlives keep_alive by at most a quarter of it (5 s at most).
        interval = min(max(self._keep_alive / 4, 0.05), 5.0)
        while True:
            await asyncio.sleep(interval)
            count = await self.reap()
            if count:
                log.debug("reaped %d idle environments", count)

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.provisioned.close()
        environments = list(self._live)
        for state in self._states.values():
            environments.extend(self._take_spare(state))
            for waiter in state.waiting:
                waiter.cancel()
        self._states.clear()
        self._live.clear()
        self._fresh.clear()
        await asyncio.gather(*(env.stop() for env in environments), return_exceptions=True)

    def counts(self) -> dict[str, int]:
        idle = sum(len(state.idle) for state in self._states.values())
        spare = sum(state.spare is not None for state in self._states.values())
        return {"live": len(self._live), "idle": idle, "busy": len(self._live) - idle, "spare": spare}

    def _state(self, spec: EnvironmentSpec) -> _SpecState:
        state = self._states.get(spec.fingerprint)
        if state is None:
            state = self._states[spec.fingerprint] = _SpecState(spec)
        return state

    @staticmethod
    def _take_spare(state: _SpecState) -> list[PooledEnvironment]:
        spare, state.spare = state.spare, None
        return [spare] if spare is not None else []

    async def _discard(self, environment: PooledEnvironment) -> None:
        self._live.discard(environment)
        self._fresh.pop(environment, None)
        await environment.stop()
