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
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Protocol

from nimbus.runtime.results import InitOutcome, InvokeInput, InvokeOutcome
from nimbus.runtime.spec import EnvironmentSpec

log = logging.getLogger(__name__)


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
        """Run init. Function faults are in the outcome (the environment is then dead), never raised."""
        ...

    async def stop(self) -> None:
        """Kill the environment and free what it holds. Idempotent."""
        ...

    async def invoke(self, request: InvokeInput) -> InvokeOutcome:
        """Run one invoke (the environment is idle). Function faults are in the outcome, never raised."""
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

    function_name: str
    log_stream: str
    since: float


class EnvironmentPool:
    def __init__(
        self, factory: EnvironmentFactory, keep_alive: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._factory = factory
        self._keep_alive = keep_alive
        self._clock = clock
        self._idle: dict[str, list[PooledEnvironment]] = {}  # fingerprint -> idle environments, oldest first
        self._live: set[PooledEnvironment] = set()
        # (function name, version) -> fingerprint of the newest spec: older ones are retired when released.
        self._current: dict[tuple[str, str], str] = {}
        self._resets: dict[str, list[_Reset]] = {}  # fingerprint -> environments to re-initialise

    def lease(self, spec: EnvironmentSpec) -> Lease:
        return Lease(self, spec)

    async def _acquire(self, lease: Lease, spec: EnvironmentSpec) -> None:
        fingerprint = spec.fingerprint
        self._current[(spec.function_name, spec.version)] = fingerprint
        idle = self._idle.get(fingerprint)
        while idle:
            environment = idle.pop()
            if environment.is_alive():
                lease.environment = environment
                return
            await self._discard(environment)
        environment = self._factory(spec)
        resets = self._resets.get(fingerprint)
        if resets:
            environment.log_stream = resets.pop().log_stream
            lease.reset = True
        self._live.add(environment)
        lease.environment = environment
        try:
            lease.init = await environment.start()
        except BaseException:
            self._live.discard(environment)
            raise

    async def _release(self, environment: PooledEnvironment, worked: bool) -> None:
        spec = environment.spec
        if environment.is_dead:
            self._live.discard(environment)
            if worked:  # it was initialised and then lost during the invoke: AWS resets it
                reset = _Reset(spec.function_name, environment.log_stream, self._clock())
                self._resets.setdefault(spec.fingerprint, []).append(reset)
        elif self._current.get((spec.function_name, spec.version)) != spec.fingerprint:
            await self._discard(environment)
        else:
            environment.last_used = self._clock()
            self._idle.setdefault(spec.fingerprint, []).append(environment)

    async def retire(self, function_name: str) -> None:
        """The function changed or was deleted: stop its idle environments; busy ones stop when released."""
        for key in [key for key in self._current if key[0] == function_name]:
            del self._current[key]
        for fingerprint, resets in list(self._resets.items()):
            self._keep_resets(fingerprint, [reset for reset in resets if reset.function_name != function_name])
        for fingerprint, environments in list(self._idle.items()):
            retired = [env for env in environments if env.spec.function_name == function_name]
            if retired:
                self._keep_idle(fingerprint, [env for env in environments if env not in retired])
                await asyncio.gather(*(self._discard(env) for env in retired))

    async def reap(self) -> int:
        """Stop environments idle for at least keep_alive; returns how many."""
        deadline = self._clock() - self._keep_alive
        for fingerprint, resets in list(self._resets.items()):
            self._keep_resets(fingerprint, [reset for reset in resets if reset.since > deadline])
        stale: list[PooledEnvironment] = []
        for fingerprint, environments in list(self._idle.items()):
            expired = [env for env in environments if env.last_used <= deadline]
            if expired:
                stale.extend(expired)
                self._keep_idle(fingerprint, [env for env in environments if env.last_used > deadline])
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
        environments = list(self._live)
        self._idle.clear()
        self._resets.clear()
        self._live.clear()
        await asyncio.gather(*(env.stop() for env in environments), return_exceptions=True)

    def counts(self) -> dict[str, int]:
        idle = sum(len(envs) for envs in self._idle.values())
        return {"live": len(self._live), "idle": idle, "busy": len(self._live) - idle}

    def _keep_idle(self, fingerprint: str, environments: list[PooledEnvironment]) -> None:
        if environments:
            self._idle[fingerprint] = environments
        else:
            del self._idle[fingerprint]

    def _keep_resets(self, fingerprint: str, resets: list[_Reset]) -> None:
        if resets:
            self._resets[fingerprint] = resets
        else:
            del self._resets[fingerprint]

    async def _discard(self, environment: PooledEnvironment) -> None:
        self._live.discard(environment)
        await environment.stop()
