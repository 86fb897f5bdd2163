"""Provisioned environments: started ahead, handed out before on-demand ones, replaced, stopped with their config."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from nimbus.domain.concurrency import ProvisionedStatus
from nimbus.runtime.pool import EnvironmentPool
from nimbus.runtime.provisioned import ProvisionedEnvironments
from nimbus.runtime.spec import PROVISIONED_CONCURRENCY, EnvironmentSpec
from tests.unit.runtime.test_pool import FakeEnvironment, Starts, make_spec

T = TypeVar("T")
KEY = ("fn", "1")


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coroutine)


def factory(created: list[FakeEnvironment], init_error: bool = False) -> Callable[[EnvironmentSpec], FakeEnvironment]:
    def create(spec: EnvironmentSpec) -> FakeEnvironment:
        environment = FakeEnvironment(spec, Starts(), init_error=init_error)
        created.append(environment)
        return environment

    return create


def stopped(environment: FakeEnvironment) -> bool:
    return environment.stopped


async def settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0)


def test_provisioning_starts_environments_ahead_and_becomes_ready() -> None:
    async def scenario() -> None:
        created: list[FakeEnvironment] = []
        provisioned = ProvisionedEnvironments(factory(created))
        await provisioned.provision(KEY, make_spec(version="1"), 2)
        assert provisioned.state(KEY).status is ProvisionedStatus.IN_PROGRESS
        await settle()
        state = provisioned.state(KEY)
        assert (state.status, state.allocated, state.available) == (ProvisionedStatus.READY, 2, 2)
        assert all(env.started and env.spec.initialization_type == PROVISIONED_CONCURRENCY for env in created)
        await provisioned.close()
        assert all(env.stopped for env in created)

    run(scenario())


def test_a_failed_init_marks_the_config_failed_with_a_reason() -> None:
    async def scenario() -> None:
        provisioned = ProvisionedEnvironments(factory([], init_error=True))
        await provisioned.provision(KEY, make_spec(version="1"), 1)
        await settle()
        state = provisioned.state(KEY)
        assert state.status is ProvisionedStatus.FAILED and state.allocated == 0
        assert state.reason is not None and "Runtime.ImportModuleError" in state.reason
        await provisioned.close()

    run(scenario())


def test_the_pool_hands_out_provisioned_environments_first_without_an_init_to_report() -> None:
    async def scenario() -> None:
        created: list[FakeEnvironment] = []
        pool = EnvironmentPool(factory(created), keep_alive=0.0)
        spec = make_spec(version="1")
        await pool.provisioned.provision(KEY, spec, 1)
        await settle()
        async with pool.lease(spec) as lease:
            assert lease.environment is created[0] and lease.init is None
        assert await pool.reap() == 0  # the idle reaper leaves provisioned environments alone
        async with pool.lease(spec) as lease:
            assert lease.environment is created[0]
        await pool.close()

    run(scenario())


def test_busy_provisioned_environments_spill_over_to_on_demand_ones() -> None:
    async def scenario() -> None:
        created: list[FakeEnvironment] = []
        pool = EnvironmentPool(factory(created), keep_alive=60.0)
        spec = make_spec(version="1")
        await pool.provisioned.provision(KEY, spec, 1)
        await settle()
        async with pool.lease(spec) as first, pool.lease(spec) as second:
            assert first.environment is created[0]
            assert second.environment is not created[0] and second.init is not None  # an on-demand cold start
            assert second.environment.spec.initialization_type == "on-demand"
        await pool.close()

    run(scenario())


def test_a_crashed_provisioned_environment_is_replaced() -> None:
    async def scenario() -> None:
        created: list[FakeEnvironment] = []
        pool = EnvironmentPool(factory(created), keep_alive=60.0)
        spec = make_spec(version="1")
        await pool.provisioned.provision(KEY, spec, 1)
        await settle()
        async with pool.lease(spec):
            created[0].crash()  # the environment this lease holds
        await settle()
        assert len(created) == 2 and created[0].stopped and created[1].started
        assert pool.provisioned.state(KEY).status is ProvisionedStatus.READY
        await pool.close()

    run(scenario())


def test_deprovisioning_stops_idle_environments_now_and_busy_ones_when_released() -> None:
    async def scenario() -> None:
        created: list[FakeEnvironment] = []
        pool = EnvironmentPool(factory(created), keep_alive=60.0)
        spec = make_spec(version="1")
        await pool.provisioned.provision(KEY, spec, 2)
        await settle()
        async with pool.lease(spec) as lease:
            await pool.provisioned.deprovision(KEY)
            busy = next(env for env in created if env is lease.environment)
            idle = next(env for env in created if env is not busy)
            assert stopped(idle) and not stopped(busy)
        assert stopped(busy) and pool.provisioned.count() == 0
        assert pool.provisioned.state(KEY).allocated == 0
        await pool.close()

    run(scenario())
