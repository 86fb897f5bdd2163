"""The pool's decisions (which environment, when to reap, what to retire, when to start one and when to keep a spare)
with fake environments and a fake clock."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

import pytest

from nimbus.runtime.pool import (
    HOT_WINDOW,
    ColdStartGate,
    EnvironmentPool,
    default_cold_start_limit,
    is_hot,
    starts_needed,
)
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


class Starts:
    """How the fake environments' starts behave: optionally held until `release()`, and how many ran at once."""

    def __init__(self) -> None:
        self.held: asyncio.Event | None = None
        self.running = 0
        self.most_at_once = 0

    def hold(self) -> None:
        self.held = asyncio.Event()

    def release(self) -> None:
        assert self.held is not None
        self.held.set()

    async def run(self) -> None:
        self.running += 1
        self.most_at_once = max(self.most_at_once, self.running)
        try:
            if self.held is not None:
                await self.held.wait()
        finally:
            self.running -= 1


class FakeEnvironment:
    """Init and invoke succeed unless told otherwise; `crash()` is a kill -9 from outside."""

    def __init__(
        self, spec: EnvironmentSpec, starts: Starts, init_error: bool = False, preparable: bool = False
    ) -> None:
        self.spec = spec
        self.log_stream = f"stream-{id(self)}"
        self.last_used = 0.0
        self.prepared = False
        self.started = False
        self.stopped = False
        self.process_gone = False
        self.prepares_ahead = preparable  # as a Python environment; a custom runtime has nothing to prepare
        self._starts = starts
        self._init_error = init_error

    @property
    def is_dead(self) -> bool:
        return self.stopped

    def is_alive(self) -> bool:
        return not self.stopped and not self.process_gone

    def crash(self) -> None:
        self.process_gone = True

    async def prepare(self) -> None:
        self.prepared = True

    async def start(self) -> InitOutcome:
        self.started = True
        await self._starts.run()
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
    starts: Starts
    failing_init: set[str] = dataclasses.field(default_factory=set)


def make_harness(cold_start_limit: int = 0, preparable: bool = False) -> Harness:
    created: list[FakeEnvironment] = []
    failing: set[str] = set()
    starts = Starts()

    def factory(spec: EnvironmentSpec) -> FakeEnvironment:
        environment = FakeEnvironment(spec, starts, init_error=spec.function_name in failing, preparable=preparable)
        created.append(environment)
        return environment

    clock = Clock()
    pool = EnvironmentPool(factory, keep_alive=KEEP_ALIVE, clock=clock, cold_start_limit=cold_start_limit)
    return Harness(pool, clock, created, starts, failing)


@pytest.fixture
def harness() -> Harness:
    return make_harness()


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
    assert harness.pool.counts() == {"live": 2, "idle": 2, "busy": 0, "spare": 0}


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
    assert harness.pool.counts() == {"live": 0, "idle": 0, "busy": 0, "spare": 0}


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
    assert harness.pool.counts() == {"live": 1, "idle": 1, "busy": 0, "spare": 0}


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


# -- cold-start control: the decisions ------------------------------------------------------------------------------


@pytest.mark.parametrize(("waiting", "starting", "needed"), [(1, 0, 1), (3, 1, 2), (2, 2, 0), (1, 3, 0), (0, 0, 0)])
def test_cold_starts_are_launched_only_for_invokes_without_one_under_way(
    waiting: int, starting: int, needed: int
) -> None:
    assert starts_needed(waiting, starting) == needed


def test_a_spec_is_hot_after_repeated_recent_cold_starts_and_a_recent_invoke() -> None:
    now = 100.0
    assert is_hot([now - 1, now - 2], last_invoke=now, now=now)
    assert not is_hot([now - 1], last_invoke=now, now=now)  # one cold start is not a burst
    assert not is_hot([now - 1, now - HOT_WINDOW - 1], last_invoke=now, now=now)  # one of them is too old
    assert not is_hot([now - 1, now - 2], last_invoke=now - HOT_WINDOW - 1, now=now)  # nobody invokes it any more


def test_default_cold_start_limit_is_twice_the_cores() -> None:
    assert default_cold_start_limit(2) == 4
    assert default_cold_start_limit(8) == 16


def test_gate_lets_a_slow_start_go_after_its_hold() -> None:
    async def scenario() -> bool:
        gate = ColdStartGate(1, hold=0.01)
        never = asyncio.Event()

        async def slow() -> None:
            async with gate.slot():
                await never.wait()

        blocker = asyncio.create_task(slow())
        await asyncio.sleep(0)
        try:
            async with asyncio.timeout(10), gate.slot():
                return True
        finally:
            blocker.cancel()

    assert run(scenario())


# -- cold-start control: the pool's behaviour ------------------------------------------------------------------------


async def settle() -> None:
    """Let every task the pool started run until it waits."""
    for _ in range(20):
        await asyncio.sleep(0)


def test_concurrent_cold_starts_are_bounded_by_the_limit() -> None:
    harness = make_harness(cold_start_limit=2)

    async def scenario() -> int:
        harness.starts.hold()
        specs = [make_spec(f"fn{i}") for i in range(5)]
        leases = [asyncio.create_task(use(harness.pool, spec)) for spec in specs]
        await settle()
        running = harness.starts.running
        harness.starts.release()
        await asyncio.gather(*leases)
        return running

    assert run(scenario()) == 2
    assert harness.starts.most_at_once == 2
    assert len(harness.created) == 5


def test_simultaneous_invokes_of_one_version_each_get_an_environment(harness: Harness) -> None:
    async def scenario() -> list[Any]:
        harness.starts.hold()
        spec = make_spec()
        leases = [asyncio.create_task(use(harness.pool, spec)) for _ in range(3)]
        await settle()
        harness.starts.release()
        return [environment for environment, _ in await asyncio.gather(*leases)]

    environments = run(scenario())
    assert len({id(env) for env in environments}) == 3
    assert len(harness.created) == 3


def test_an_environment_released_during_a_cold_start_serves_the_waiting_invoke(harness: Harness) -> None:
    async def scenario() -> tuple[Any, Any, InitOutcome | None, Any, InitOutcome | None]:
        spec = make_spec()
        busy = harness.pool.lease(spec)
        await busy.__aenter__()
        harness.starts.hold()
        waiting = asyncio.create_task(use(harness.pool, spec))
        await settle()  # its cold start is under way, held
        await busy.__aexit__(None, None, None)
        served, served_init = await waiting
        harness.starts.release()
        await settle()
        later, later_init = await use(harness.pool, spec)
        return busy.environment, served, served_init, later, later_init

    first, served, served_init, later, later_init = run(scenario())
    assert served is first and served_init is None  # warm: it did not wait for the fork
    assert later is harness.created[1]  # the cold start finished meanwhile and went idle ...
    assert later_init is not None and later_init.ok  # ... and its first invoke reports its init
    assert len(harness.created) == 2


def test_a_burst_starts_no_more_environments_than_it_waits_for(harness: Harness) -> None:
    async def scenario() -> int:
        spec = make_spec()
        busy = harness.pool.lease(spec)
        await busy.__aenter__()
        harness.starts.hold()
        waiting = [asyncio.create_task(use(harness.pool, spec)) for _ in range(2)]
        await settle()  # two cold starts under way
        await busy.__aexit__(None, None, None)  # serves one waiter: two starts, one waiter
        await settle()
        waiting.append(asyncio.create_task(use(harness.pool, spec)))  # a start is already under way for it
        await settle()
        created = len(harness.created)
        harness.starts.release()
        await asyncio.gather(*waiting)
        return created

    assert run(scenario()) == 3


def test_a_cancelled_invoke_leaves_its_cold_start_to_the_next(harness: Harness) -> None:
    async def scenario() -> tuple[Any, InitOutcome | None]:
        spec = make_spec()
        harness.starts.hold()
        cancelled = asyncio.create_task(use(harness.pool, spec))
        await settle()
        cancelled.cancel()
        await settle()
        harness.starts.release()
        await settle()
        return await use(harness.pool, spec)

    environment, init = run(scenario())
    assert environment is harness.created[0]
    assert init is not None  # nobody ran on it before: this invoke reports its init
    assert len(harness.created) == 1


def test_a_platform_fault_in_a_cold_start_fails_the_waiting_invoke() -> None:
    class Broken(FakeEnvironment):
        async def start(self) -> InitOutcome:
            raise OSError("no more processes")

    def factory(spec: EnvironmentSpec) -> FakeEnvironment:
        return Broken(spec, Starts())

    pool = EnvironmentPool(factory, keep_alive=KEEP_ALIVE)
    with pytest.raises(OSError, match="no more processes"):
        run(use(pool, make_spec()))
    assert pool.counts()["live"] == 0


# -- spares for hot specs -----------------------------------------------------------------------------------------


async def cold_starts(harness: Harness, spec: EnvironmentSpec, count: int) -> list[Any]:
    """`count` invokes at once, each on a new environment."""
    leases = [harness.pool.lease(spec) for _ in range(count)]
    for lease in leases:
        await lease.__aenter__()
    for lease in leases:
        await lease.__aexit__(None, None, None)
    await settle()
    return [lease.environment for lease in leases]


def test_a_hot_spec_keeps_a_prepared_spare_that_the_next_cold_start_uses() -> None:
    harness = make_harness(preparable=True)

    async def scenario() -> tuple[Any, Any, int]:
        spec = make_spec()
        await cold_starts(harness, spec, 2)
        spare = harness.created[-1]
        assert harness.pool.counts()["spare"] == 1 and spare.prepared and not spare.started
        environments = await cold_starts(harness, spec, 3)  # two warm, one new: the spare
        return spare, environments, harness.pool.counts()["spare"]

    spare, environments, spares_after = run(scenario())
    assert spare in environments and spare.started
    assert spares_after == 1  # it was replaced


def test_a_single_cold_start_makes_no_spare() -> None:
    harness = make_harness(preparable=True)
    run(use(harness.pool, make_spec()))
    assert harness.pool.counts()["spare"] == 0
    assert len(harness.created) == 1


def test_a_spare_is_dropped_once_its_spec_cools_down() -> None:
    harness = make_harness(preparable=True)

    async def scenario() -> Any:
        await cold_starts(harness, make_spec(), 2)
        spare = harness.created[-1]
        harness.clock.now += HOT_WINDOW + 1
        await harness.pool.reap()
        return spare

    spare = run(scenario())
    assert spare.stopped
    assert harness.pool.counts()["spare"] == 0


def test_retire_stops_the_functions_spare() -> None:
    harness = make_harness(preparable=True)

    async def scenario() -> Any:
        await cold_starts(harness, make_spec(), 2)
        spare = harness.created[-1]
        await harness.pool.retire("fn")
        return spare

    assert run(scenario()).stopped


def test_environments_with_nothing_to_prepare_get_no_spares(harness: Harness) -> None:
    async def scenario() -> None:
        spec = make_spec()
        await cold_starts(harness, spec, 2)
        await cold_starts(harness, spec, 3)

    run(scenario())
    assert harness.pool.counts()["spare"] == 0
    assert not any(env.prepared for env in harness.created)


def test_failing_inits_make_no_spare() -> None:
    harness = make_harness(preparable=True)
    harness.failing_init.add("broken")

    async def scenario() -> None:
        for _ in range(3):
            await use(harness.pool, make_spec("broken"))

    run(scenario())
    assert harness.pool.counts()["spare"] == 0
    assert len(harness.created) == 3


def test_close_stops_spares_and_cold_starts_under_way() -> None:
    harness = make_harness(preparable=True)

    async def scenario() -> None:
        spec = make_spec()
        await cold_starts(harness, spec, 2)
        harness.starts.hold()
        waiting = asyncio.create_task(use(harness.pool, make_spec("other")))
        await settle()
        await harness.pool.close()
        with pytest.raises(asyncio.CancelledError):
            await waiting

    run(scenario())
    assert all(env.stopped for env in harness.created)
