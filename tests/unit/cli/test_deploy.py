from __future__ import annotations

import pytest

from nimbus.cli.deploy import Waiting, configuration_differs, deploy_function
from nimbus.client import ClientError, FunctionSpec
from tests.unit.cli.fakes import FakeApi, function_info


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def sleep(self, seconds: float) -> None:
        self.now += seconds

    def __call__(self) -> float:
        return self.now


SPEC = FunctionSpec("fn", "python3.11", "app.handler", 128, 3, {"GREETING": "hi"})


def no_wait(clock: FakeClock | None = None) -> Waiting:
    clock = clock or FakeClock()
    return Waiting(poll=0.2, timeout=5, sleep=clock.sleep, clock=clock)


def test_new_function_is_created_and_waited_until_active() -> None:
    api, steps = FakeApi(), list[str]()
    info = deploy_function(api, SPEC, b"zip-1", steps.append, no_wait())
    assert api.calls == ["create"]
    assert (info.state, info.last_update_status) == ("Active", "Successful")
    assert steps[0] == "Creating fn"
    assert any(step.startswith("Waiting for fn") for step in steps)


def test_existing_function_gets_code_then_configuration() -> None:
    api = FakeApi()
    deploy_function(api, SPEC, b"zip-1", lambda _: None, no_wait())
    changed = FunctionSpec("fn", "python3.11", "app.handler", 256, 3, {"GREETING": "yo"})
    info = deploy_function(api, changed, b"zip-2", lambda _: None, no_wait())
    assert api.calls == ["create", "update_code", "update_configuration"]
    assert (info.memory, dict(info.environment)) == (256, {"GREETING": "yo"})


def test_unchanged_deploy_sends_nothing() -> None:
    api, steps = FakeApi(), list[str]()
    deploy_function(api, SPEC, b"zip-1", lambda _: None, no_wait())
    deploy_function(api, SPEC, b"zip-1", steps.append, no_wait())
    assert api.calls == ["create"]
    assert steps == ["Code of fn unchanged", "Configuration of fn unchanged"]


def test_failed_update_is_an_error_with_the_reason() -> None:
    api = FakeApi()
    deploy_function(api, SPEC, b"zip-1", lambda _: None, no_wait())
    api.fail_next = "Could not unzip uploaded file."
    with pytest.raises(ClientError) as caught:
        deploy_function(api, SPEC, b"zip-2", lambda _: None, no_wait())
    assert caught.value.code == "InvalidZipFileException"
    assert "Could not unzip uploaded file." in caught.value.message


def test_function_that_stays_busy_times_out() -> None:
    api = FakeApi(busy_reads=10_000)
    with pytest.raises(ClientError) as caught:
        deploy_function(api, SPEC, b"zip-1", lambda _: None, no_wait())
    assert caught.value.code == "WaiterTimeout"


def test_role_and_description_count_only_when_given() -> None:
    current = function_info(Role="arn:aws:iam::000000000000:role/custom", Description="kept",
                            Environment={"Variables": {"GREETING": "hi"}})  # fmt: skip
    assert not configuration_differs(current, SPEC)
    other_role = FunctionSpec(**{**SPEC.__dict__, "role": "arn:aws:iam::000000000000:role/other"})
    assert configuration_differs(current, other_role)
    assert configuration_differs(current, FunctionSpec(**{**SPEC.__dict__, "environment": {}}))
