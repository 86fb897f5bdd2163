"""The pool's decisions (which environment, when to reap, what to retire) with fake environments and a fake clock."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

import pytest

from nimbus.runtime.pool import EnvironmentPool
from nimbus.runtime.results import InitOutcome, InvokeInput, InvokeOutcome, Status
from nimbus.runtime.spec import Credentials, EnvironmentSpec

KEEP_ALIVE = 10.0
T = TypeVar("T")


def make_spec(name: str = "fn", version: str = "$LATEST", memory_size: int = 128) -> EnvironmentSpec:
    return EnvironmentSpec(
        function_name=name,
        version=version,
        runtime="python3.11",
        handler="app.handler",
        memory_size=memory_size,
        timeout=3,
        task_root=Path("/var/task"),
        function_arn=f"arn:aws:lambda:us-east-1:000000000000:function:{name}",
        log_group=f"/aws/lambda/{name}",
        variables={},
        region="us-east-1",
        credentials=Credentials("test", "test"),
        init_timeout=10.0,
    )


class FakeEnvironment:
    """Init and invoke succeed unless told otherwise; `crash()` is a kill -9 from outside."""

    def __init__(self, spec: EnvironmentSpec, init_error: bool = False) -> None:
        self.spec = spec
        self.log_stream = f"stream-{id(self)}"
        self.last_used = 0.0
        self.started = False
        self.stopped = False
        self.process_gone = False
        self._init_error = init_error

    @property
    def is_dead(self) -> bool:
        return self.stopped

    def is_alive(self) -> bool:
        return not self.stopped and not self.process_gone

    def crash(self) -> None:
        self.process_gone = True

    async def start(self) -> InitOutcome:
        self.started = True
        if self._init_error:
            self.stopped = True
            return InitOutcome(1.0, error_payload=b"{}", error_type="Runtime.ImportModuleError")
        return InitOutcome(1.0)

    async def stop(self) -> None:
        self.stopped = True

    async def invoke(self, request: InvokeInput) -> InvokeOutcome:
        return InvokeOutcome(Status.SUCCESS, b"null", 1.0)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclasses.dataclass
class Harness:
    pool: EnvironmentPool
    clock: Clock
    created: list[FakeEnvironment]
    failing_init: set[str] = dataclasses.field(default_factory=set)


@pytest.fixture
def harness() -> Harness:
    created: list[FakeEnvironment] = []
    failing: set[str] = set()

    def factory(spec: EnvironmentSpec) -> FakeEnvironment:
        environment = FakeEnvironment(spec, init_error=spec.function_name in failing)
        created.append(environment)
        return environment

    clock = Clock()
    return Harness(EnvironmentPool(factory, keep_alive=KEEP_ALIVE, clock=clock), clock, created, failing)


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coroutine)


async def use(pool: EnvironmentPool, spec: EnvironmentSpec) -> tuple[Any, InitOutcome | None]:
    """One invoke's lease: returns the environment it ran on and the init outcome (None when warm)."""
    async with pool.lease(spec) as lease:
        return lease.environment, lease.init


async def use_lease(pool: EnvironmentPool, spec: EnvironmentSpec) -> Any:
    async with pool.lease(spec) as lease:
        return lease


def test_first_lease_is_a_cold_start(harness: Harness) -> None:
    environment, init = run(use(harness.pool, make_spec()))
    assert init is not None and init.ok
    assert environment.started


def test_sequential_leases_reuse_one_warm_environment(harness: Harness) -> None:
    async def scenario() -> list[tuple[Any, InitOutcome | None]]:
        spec = make_spec()
        return [await use(harness.pool, spec) for _ in range(3)]

    results = run(scenario())
    assert len(harness.created) == 1
    assert [init is None for _, init in results] == [False, True, True]


def test_concurrent_leases_get_distinct_environments(harness: Harness) -> None:
    async def scenario() -> set[int]:
        spec = make_spec()
        async with harness.pool.lease(spec) as first, harness.pool.lease(spec) as second:
            return {id(first.environment), id(second.environment)}

    assert len(run(scenario())) == 2
    assert harness.pool.counts() == {"live": 2, "idle": 2, "busy": 0}


def test_most_recently_used_environment_is_chosen(harness: Harness) -> None:
    async def scenario() -> tuple[Any, Any]:
        spec = make_spec()
        async with harness.pool.lease(spec) as first, harness.pool.lease(spec):
            pass
        # `first` was released last (leases unwind in reverse), so it is the warmest.
        warm, _ = await use(harness.pool, spec)
        return first.environment, warm

    first, warm = run(scenario())
    assert warm is first


def test_different_specs_never_share_an_environment(harness: Harness) -> None:
    async def scenario() -> tuple[Any, Any]:
        small, _ = await use(harness.pool, make_spec(memory_size=128))
        large, _ = await use(harness.pool, make_spec(memory_size=256))
        return small, large

    small, large = run(scenario())
    assert small is not large


def test_failed_init_environment_is_never_reused(harness: Harness) -> None:
    harness.failing_init.add("broken")

    async def scenario() -> list[InitOutcome | None]:
        spec = make_spec("broken")
        return [(await use(harness.pool, spec))[1] for _ in range(2)]

    inits = run(scenario())
    assert all(init is not None and not init.ok for init in inits)
    assert len(harness.created) == 2
    assert harness.pool.counts()["live"] == 0


def test_environment_killed_while_idle_is_replaced(harness: Harness) -> None:
    async def scenario() -> tuple[Any, Any, InitOutcome | None]:
        spec = make_spec()
        first, _ = await use(harness.pool, spec)
        first.crash()
        second, init = await use(harness.pool, spec)
        return first, second, init

    first, second, init = run(scenario())
    assert second is not first
    assert init is not None
    assert first.stopped  # discarded, so its resources are freed


def test_dead_environment_is_dropped_on_release(harness: Harness) -> None:
    async def scenario() -> None:
        async with harness.pool.lease(make_spec()) as lease:
            await lease.environment.stop()  # what a timeout or crash does

    run(scenario())
    assert harness.pool.counts() == {"live": 0, "idle": 0, "busy": 0}


def test_idle_environments_are_reaped_after_keep_alive(harness: Harness) -> None:
    async def scenario() -> tuple[int, int]:
        await use(harness.pool, make_spec())
        harness.clock.now += KEEP_ALIVE - 1
        early = await harness.pool.reap()
        harness.clock.now += 1
        return early, await harness.pool.reap()

    assert run(scenario()) == (0, 1)
    assert harness.created[0].stopped
    assert harness.pool.counts()["live"] == 0


def test_reaping_keeps_recently_used_environments(harness: Harness) -> None:
    async def scenario() -> int:
        spec = make_spec()
        async with harness.pool.lease(spec), harness.pool.lease(spec):
            pass
        harness.clock.now += KEEP_ALIVE / 2
        await use(harness.pool, spec)  # refreshes one of the two
        harness.clock.now += KEEP_ALIVE / 2
        return await harness.pool.reap()

    assert run(scenario()) == 1
    assert harness.pool.counts() == {"live": 1, "idle": 1, "busy": 0}


def test_retire_stops_idle_environments_of_that_function_only(harness: Harness) -> None:
    async def scenario() -> tuple[Any, Any]:
        mine, _ = await use(harness.pool, make_spec("mine"))
        other, _ = await use(harness.pool, make_spec("other"))
        await harness.pool.retire("mine")
        return mine, other

    mine, other = run(scenario())
    assert mine.stopped
    assert not other.stopped


def test_busy_environment_of_a_retired_function_stops_when_released(harness: Harness) -> None:
    async def scenario() -> tuple[Any, bool]:
        async with harness.pool.lease(make_spec()) as lease:
            await harness.pool.retire("fn")
            stopped_while_busy = harness.created[0].stopped
        return lease.environment, stopped_while_busy

    environment, stopped_while_busy = run(scenario())
    assert not stopped_while_busy
    assert environment.stopped


def test_superseded_spec_is_retired_when_its_invoke_ends(harness: Harness) -> None:
    async def scenario() -> tuple[Any, Any]:
        async with harness.pool.lease(make_spec(memory_size=128)) as old:
            new, _ = await use(harness.pool, make_spec(memory_size=256))  # the function was updated meanwhile
        return old.environment, new

    old, new = run(scenario())
    assert old.stopped
    assert not new.stopped


def test_versions_of_one_function_keep_their_own_environments(harness: Harness) -> None:
    async def scenario() -> list[Any]:
        latest, version = make_spec(version="$LATEST"), make_spec(version="1")
        return [(await use(harness.pool, spec))[0] for spec in (latest, version, latest, version)]

    environments = run(scenario())
    assert len(harness.created) == 2
    assert environments[0] is environments[2] and environments[1] is environments[3]


def test_close_stops_every_environment(harness: Harness) -> None:
    async def scenario() -> None:
        async with harness.pool.lease(make_spec("a")), harness.pool.lease(make_spec("b")):
            pass
        await harness.pool.close()

    run(scenario())
    assert all(environment.stopped for environment in harness.created)


async def lose(pool: EnvironmentPool, spec: EnvironmentSpec) -> Any:
    """An invoke during which the environment crashed or timed out (the environment stops itself)."""
    async with pool.lease(spec) as lease:
        await lease.environment.stop()
    return lease.environment


def test_environment_lost_during_an_invoke_is_reset_into_its_log_stream(harness: Harness) -> None:
    async def scenario() -> tuple[Any, Any, bool]:
        spec = make_spec()
        lost = await lose(harness.pool, spec)
        async with harness.pool.lease(spec) as lease:
            return lost, lease.environment, lease.reset

    lost, replacement, reset = run(scenario())
    assert replacement is not lost
    assert reset
    assert replacement.log_stream == lost.log_stream


def test_a_reset_is_used_once(harness: Harness) -> None:
    async def scenario() -> list[bool]:
        spec = make_spec()
        await lose(harness.pool, spec)
        async with harness.pool.lease(spec) as first, harness.pool.lease(spec) as second:
            return [first.reset, second.reset]

    assert run(scenario()) == [True, False]


def test_warm_environment_is_preferred_over_a_reset(harness: Harness) -> None:
    async def scenario() -> tuple[bool, InitOutcome | None]:
        spec = make_spec()
        async with harness.pool.lease(spec), harness.pool.lease(spec) as doomed:
            await doomed.environment.stop()
        async with harness.pool.lease(spec) as lease:
            return lease.reset, lease.init

    assert run(scenario()) == (False, None)


def test_failed_init_is_not_reset(harness: Harness) -> None:
    harness.failing_init.add("broken")

    async def scenario() -> list[bool]:
        spec = make_spec("broken")
        return [(await use_lease(harness.pool, spec)).reset for _ in range(2)]

    assert run(scenario()) == [False, False]


def test_resets_expire_with_keep_alive_and_on_retire(harness: Harness) -> None:
    async def scenario() -> list[bool]:
        spec = make_spec()
        await lose(harness.pool, spec)
        harness.clock.now += KEEP_ALIVE
        await harness.pool.reap()
        expired = (await use_lease(harness.pool, spec)).reset
        await lose(harness.pool, spec)
        await harness.pool.retire("fn")
        retired = (await use_lease(harness.pool, spec)).reset
        return [expired, retired]

    assert run(scenario()) == [False, False]
