"""Warm execution environments, kept per environment spec and reused one invoke at a time.

The pool answers one question: which environment runs this invoke? A warm idle one for the same spec if there
is one (most recently used first, so the warmest stays warm), otherwise a new one. Environments that died are
dropped on release; idle ones are reaped after `keep_alive` seconds; environments of a superseded configuration
are stopped as soon as they are idle.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from nimbus.runtime.environment import Environment
from nimbus.runtime.results import InitOutcome
from nimbus.runtime.spec import EnvironmentSpec

log = logging.getLogger(__name__)

EnvironmentFactory = Callable[[EnvironmentSpec], Environment]


@dataclass
class Lease:
    environment: Environment
    # Set on a cold start: how init went. A failed init is returned as the invoke's result.
    init: InitOutcome | None


class EnvironmentPool:
    def __init__(self, factory: EnvironmentFactory, keep_alive: float, clock: Callable[[], float] = time.monotonic):
        self._factory = factory
        self._keep_alive = keep_alive
        self._clock = clock
        self._idle: dict[str, list[Environment]] = {}
        self._live: set[Environment] = set()
        self._current: dict[str, str] = {}  # function name -> fingerprint of its newest spec

    @contextlib.asynccontextmanager
    async def lease(self, spec: EnvironmentSpec) -> AsyncIterator[Lease]:
        lease = await self._acquire(spec)
        try:
            yield lease
        finally:
            await self._release(lease.environment)

    async def _acquire(self, spec: EnvironmentSpec) -> Lease:
        fingerprint = spec.fingerprint
        self._current[spec.function_name] = fingerprint
        idle = self._idle.get(fingerprint)
        while idle:
            environment = idle.pop()
            if not environment.is_dead:
                return Lease(environment, None)
        environment = self._factory(spec)
        self._live.add(environment)
        init = await environment.start()
        return Lease(environment, init)

    async def _release(self, environment: Environment) -> None:
        if environment.is_dead:
            self._live.discard(environment)
            return
        if self._current.get(environment.spec.function_name) != environment.spec.fingerprint:
            await self._discard(environment)
            return
        environment.last_used = self._clock()
        self._idle.setdefault(environment.spec.fingerprint, []).append(environment)

    async def retire(self, function_name: str) -> None:
        """The function changed or was deleted: stop its idle environments; busy ones stop when released."""
        self._current.pop(function_name, None)
        for fingerprint, environments in list(self._idle.items()):
            keep = [env for env in environments if env.spec.function_name != function_name]
            for env in environments:
                if env.spec.function_name == function_name:
                    await self._discard(env)
            self._idle[fingerprint] = keep

    async def reap(self) -> int:
        """Stop environments idle for longer than keep_alive; returns how many."""
        deadline = self._clock() - self._keep_alive
        reaped = 0
        for fingerprint, environments in list(self._idle.items()):
            stale = [env for env in environments if env.last_used <= deadline]
            self._idle[fingerprint] = [env for env in environments if env.last_used > deadline]
            for env in stale:
                await self._discard(env)
                reaped += 1
            if not self._idle[fingerprint]:
                del self._idle[fingerprint]
        return reaped

    async def run_reaper(self) -> None:
        interval = min(max(self._keep_alive / 4, 0.05), 5.0)
        while True:
            await asyncio.sleep(interval)
            count = await self.reap()
            if count:
                log.debug("reaped %d idle environments", count)

    async def close(self) -> None:
        environments = list(self._live)
        self._idle.clear()
        self._live.clear()
        await asyncio.gather(*(env.stop() for env in environments), return_exceptions=True)

    def counts(self) -> dict[str, int]:
        idle = sum(len(envs) for envs in self._idle.values())
        return {"live": len(self._live), "idle": idle, "busy": len(self._live) - idle}

    async def _discard(self, environment: Environment) -> None:
        self._live.discard(environment)
        await environment.stop()
