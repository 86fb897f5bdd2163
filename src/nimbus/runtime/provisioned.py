"""Provisioned concurrency: environments started ahead for a (function, qualifier) and kept initialised.

A group of environments per PutProvisionedConcurrencyConfig. They are started (init run) as soon as the config is
put, or when the server starts, and are kept outside the pool's idle lists, so the idle reaper never stops them.
The pool hands them out before any on-demand environment of the same spec (`take`, matched by the spec's
fingerprint) and takes them back after the invoke (`give_back`); one that crashed or timed out is replaced.
Their first invoke reports no Init Duration: init ran ahead, as on AWS. They see
AWS_LAMBDA_INITIALIZATION_TYPE=provisioned-concurrency.

Status (the config's Status / Allocated / Available): IN_PROGRESS until all requested environments are
initialised, then READY; FAILED (with a StatusReason) when an init fails.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

import orjson

from nimbus.domain.concurrency import ProvisionedState, ProvisionedStatus
from nimbus.runtime.results import InitOutcome
from nimbus.runtime.spec import PROVISIONED_CONCURRENCY, EnvironmentSpec

log = logging.getLogger(__name__)

Key = tuple[str, str]  # (function name, qualifier the config was put on)
# An environment as the pool sees it (runtime.pool.PooledEnvironment); Any here to keep the import one-way.
Env = Any
EnvironmentFactory = Callable[[EnvironmentSpec], Env]
SlotFactory = Callable[[], contextlib.AbstractAsyncContextManager[None]]


@dataclass(eq=False)
class _Group:
    key: Key
    spec: EnvironmentSpec  # the on-demand spec: invokes find the group by its fingerprint
    wanted: int
    ready: list[Env] = field(default_factory=list)  # initialised and idle
    members: set[Env] = field(default_factory=set)  # initialised, idle or busy
    starting: int = 0
    failure: str | None = None

    def state(self) -> ProvisionedState:
        allocated = min(len(self.members), self.wanted)
        if self.failure is not None:
            return ProvisionedState(ProvisionedStatus.FAILED, allocated, allocated, self.failure)
        status = ProvisionedStatus.READY if allocated >= self.wanted else ProvisionedStatus.IN_PROGRESS
        return ProvisionedState(status, allocated, allocated)


@contextlib.asynccontextmanager
async def _no_gate() -> AsyncIterator[None]:
    yield


class ProvisionedEnvironments:
    def __init__(self, factory: EnvironmentFactory, slot: SlotFactory = _no_gate) -> None:
        self._factory = factory
        self._slot = slot  # the pool's cold-start gate: these starts are CPU work like any other
        self._groups: dict[Key, _Group] = {}
        self._owner: dict[Env, _Group] = {}  # every environment a group started and has not stopped
        self._tasks: set[asyncio.Task[None]] = set()

    # -- configuration -------------------------------------------------------------------------------------------
    async def provision(self, key: Key, spec: EnvironmentSpec, count: int) -> None:
        """Keep `count` initialised environments of `spec` for this config (starting them in the background)."""
        group = self._groups.get(key)
        if group is not None and group.spec.fingerprint != spec.fingerprint:
            await self.deprovision(key)
            group = None
        if group is None:
            group = self._groups[key] = _Group(key, spec, count)
        group.wanted = count
        group.failure = None
        await self._trim(group)
        self._fill(group)

    async def deprovision(self, key: Key) -> None:
        """Stop the config's idle environments now; busy ones stop when their invoke ends."""
        group = self._groups.pop(key, None)
        if group is None:
            return
        idle, group.ready = group.ready, []
        await asyncio.gather(*(self._stop(env) for env in idle))

    async def deprovision_function(self, function_name: str) -> None:
        for key in [key for key in self._groups if key[0] == function_name]:
            await self.deprovision(key)

    def state(self, key: Key) -> ProvisionedState:
        group = self._groups.get(key)
        return group.state() if group is not None else ProvisionedState()

    def configured(self) -> list[Key]:
        return list(self._groups)

    # -- invokes -------------------------------------------------------------------------------------------------
    def take(self, fingerprint: str) -> Env | None:
        """An idle provisioned environment for this spec, if there is one."""
        for group in self._groups.values():
            if group.spec.fingerprint != fingerprint:
                continue
            while group.ready:
                env = group.ready.pop()
                if env.is_alive():
                    return env
                group.members.discard(env)
                self._run(self._replace(group, env))
        return None

    def owns(self, env: Env) -> bool:
        return env in self._owner

    async def give_back(self, env: Env) -> None:
        """After an invoke: back to its group, or replaced if it died, or stopped if its config is gone."""
        group = self._owner.get(env)
        if group is None:
            return
        if self._groups.get(group.key) is not group:
            await self._stop(env)
        elif not env.is_alive():
            group.members.discard(env)
            await self._replace(group, env)
        elif len(group.members) > group.wanted:
            group.members.discard(env)
            await self._stop(env)
        else:
            group.ready.append(env)

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        environments = list(self._owner)
        self._groups.clear()
        await asyncio.gather(*(self._stop(env) for env in environments), return_exceptions=True)

    def count(self) -> int:
        return len(self._owner)

    # -- starting ------------------------------------------------------------------------------------------------
    def _fill(self, group: _Group) -> None:
        for _ in range(group.wanted - len(group.members) - group.starting):
            group.starting += 1
            self._run(self._start_one(group))

    async def _replace(self, group: _Group, dead: Env) -> None:
        await self._stop(dead)
        if self._groups.get(group.key) is group and group.failure is None:
            self._fill(group)

    async def _trim(self, group: _Group) -> None:
        """A smaller count: stop idle environments beyond it (busy ones go when released)."""
        while len(group.members) > group.wanted and group.ready:
            env = group.ready.pop()
            group.members.discard(env)
            await self._stop(env)

    async def _start_one(self, group: _Group) -> None:
        env = self._factory(dataclasses.replace(group.spec, initialization_type=PROVISIONED_CONCURRENCY))
        self._owner[env] = group
        try:
            async with self._slot():
                init = await env.start()
        except Exception as exc:
            log.exception("could not start a provisioned environment for %s:%s", *group.key)
            init = InitOutcome(0.0, error_payload=b"{}", error_type=type(exc).__name__)
        except BaseException:
            await self._stop(env)
            raise
        finally:
            group.starting -= 1
        current = self._groups.get(group.key) is group
        if not init.ok or not current or len(group.members) >= group.wanted:
            if not init.ok and current:
                group.failure = _failure_reason(init)
                log.warning("provisioned concurrency for %s:%s failed: %s", *group.key, group.failure)
            await self._stop(env)
            return
        group.members.add(env)
        group.ready.append(env)

    async def _stop(self, env: Env) -> None:
        self._owner.pop(env, None)
        await env.stop()

    def _run(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


def _failure_reason(init: InitOutcome) -> str:
    """StatusReason of a FAILED config: the init error as the function reported it."""
    message = ""
    if init.error_payload:
        try:
            document = orjson.loads(init.error_payload)
        except orjson.JSONDecodeError:
            document = {}
        if isinstance(document, dict):
            message = str(document.get("errorMessage") or "")
    error_type = init.error_type or "Runtime.Unknown"
    return f"FUNCTION_ERROR_INIT_FAILURE: {error_type}" + (f": {message}" if message else "")
