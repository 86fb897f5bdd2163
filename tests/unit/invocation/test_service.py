"""InvokeService over a real pool of fake environments: status codes, request ids, log lines, init failures."""

from __future__ import annotations

import asyncio
import base64
import re
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import orjson
import pytest

from nimbus.domain.arns import Identity
from nimbus.domain.functions import CodeRef, FunctionConfig
from nimbus.domain.states import FunctionState
from nimbus.errors import InvalidRequestContent, RequestEntityTooLarge, ResourceNotFound
from nimbus.invocation.queue import MemoryEventQueue
from nimbus.invocation.requests import InvocationType, InvokeRequest
from nimbus.invocation.service import TAIL_BYTES, InvokeService
from nimbus.observability.logs import LogSink
from nimbus.observability.metrics import Metrics
from nimbus.runtime.pool import EnvironmentPool
from nimbus.runtime.results import InitOutcome, InvokeInput, InvokeOutcome, Status
from nimbus.runtime.spec import Credentials, EnvironmentSpec
from nimbus.store.code import CodeStore
from nimbus.store.database import create_engine, migrate, sqlite_url
from nimbus.store.logs import SqlLogStore

T = TypeVar("T")
IDENTITY = Identity("us-east-1", "000000000000")
CONFIG = FunctionConfig(
    name="fn",
    runtime="python3.12",
    role="arn:aws:iam::000000000000:role/r",
    handler="app.handler",
    code=CodeRef("ab" * 32, "x", 1),
    revision_id="r1",
    last_modified="2024-01-01T00:00:00.000+0000",
    state=FunctionState.ACTIVE,
)
Behaviour = Callable[[InvokeInput], InvokeOutcome]


def succeed(request: InvokeInput) -> InvokeOutcome:
    return InvokeOutcome(Status.SUCCESS, b'{"ok":true}', 1.234, max_memory_mb=40, output="hello\n")


class FakeEnvironment:
    def __init__(self, spec: EnvironmentSpec, init: InitOutcome, behaviour: Behaviour) -> None:
        self.spec = spec
        self.log_stream = f"2024/01/01/[$LATEST]{id(self):032x}"
        self.last_used = 0.0
        self.requests: list[InvokeInput] = []
        self._init = init
        self._behaviour = behaviour
        self._dead = False

    @property
    def is_dead(self) -> bool:
        return self._dead

    def is_alive(self) -> bool:
        return not self._dead

    async def start(self) -> InitOutcome:
        self._dead = not self._init.ok
        return self._init

    async def stop(self) -> None:
        self._dead = True

    async def invoke(self, request: InvokeInput) -> InvokeOutcome:
        self.requests.append(request)
        outcome = self._behaviour(request)
        self._dead = outcome.environment_lost
        return outcome


class Functions:
    def __init__(self, config: FunctionConfig) -> None:
        self.config = config

    async def get_ready(self, name: str, qualifier: str | None = None) -> FunctionConfig:
        if name != self.config.name:
            raise ResourceNotFound("Function not found")
        return self.config


@dataclass
class Setup:
    service: InvokeService
    logs: LogSink
    queue: MemoryEventQueue
    environments: list[FakeEnvironment] = field(default_factory=list)
    init: InitOutcome = field(default_factory=lambda: InitOutcome(12.5, output="init says hi\n"))
    behaviour: Behaviour = succeed


@pytest.fixture
def setup(tmp_path: Path) -> Setup:
    engine = create_engine(sqlite_url(tmp_path))
    migrate(engine)
    logs = LogSink(SqlLogStore(engine))
    holder: list[Setup] = []

    def factory(spec: EnvironmentSpec) -> FakeEnvironment:
        current = holder[0]
        environment = FakeEnvironment(spec, current.init, current.behaviour)
        current.environments.append(environment)
        return environment

    pool = EnvironmentPool(factory, keep_alive=60)
    queue = MemoryEventQueue()
    code = CodeStore(tmp_path / "code")
    service = InvokeService(
        Functions(CONFIG), pool, code, logs, IDENTITY, Credentials("a", "b"), 10.0, Metrics(), queue
    )
    holder.append(Setup(service, logs, queue))
    return holder[0]


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coroutine)


def request(payload: bytes = b"{}", **extra: Any) -> InvokeRequest:
    return InvokeRequest(function_name="fn", qualifier=None, payload=payload, **extra)


def tail_lines(log_result: str | None) -> list[str]:
    assert log_result is not None
    return base64.b64decode(log_result).decode().removesuffix("\n").split("\n")


def test_request_response_answers_200_with_payload_and_version(setup: Setup) -> None:
    response = run(setup.service.invoke(request()))
    assert (response.status_code, response.payload, response.executed_version) == (200, b'{"ok":true}', "$LATEST")
    assert response.function_error is None


def test_the_api_request_id_is_the_functions_request_id(setup: Setup) -> None:
    response = run(setup.service.invoke(request(request_id="rid-1")))
    assert response.request_id == "rid-1"
    assert setup.environments[0].requests[0].request_id == "rid-1"


def test_function_error_is_unhandled(setup: Setup) -> None:
    setup.behaviour = lambda _: InvokeOutcome(Status.ERROR, b'{"errorType":"ValueError"}', 1.0, error_type="ValueError")
    response = run(setup.service.invoke(request()))
    assert (response.status_code, response.function_error) == (200, "Unhandled")


def test_dry_run_answers_204_without_an_environment(setup: Setup) -> None:
    response = run(setup.service.invoke(request(invocation_type=InvocationType.DRY_RUN)))
    assert response.status_code == 204
    assert setup.environments == []


def test_event_answers_202_once_queued_without_running(setup: Setup) -> None:
    response = run(setup.service.invoke(request(b'{"n": 1}', invocation_type=InvocationType.EVENT, request_id="ev")))
    assert (response.status_code, response.request_id) == (202, "ev")
    assert setup.environments == []

    async def queued() -> list[tuple[str, str, bytes]]:
        return [(e.request_id, e.function_name, e.payload) for e in await setup.queue.claim(10, 1e12, 1e12)]

    assert run(queued()) == [("ev", "fn", b'{"n": 1}')]


def test_a_queued_event_runs_with_its_request_id_and_no_client_context(setup: Setup) -> None:
    async def scenario() -> tuple[int, str | None, bytes]:
        await setup.service.invoke(request(invocation_type=InvocationType.EVENT, client_context='{"custom":{}}',
                                           request_id="ev"))  # fmt: skip
        (event,) = await setup.queue.claim(1, 1e12, 1e12)
        response = await setup.service.run_event(event)
        return response.status_code, response.function_error, response.payload

    assert run(scenario()) == (200, None, b'{"ok":true}')
    (sent,) = setup.environments[0].requests
    assert (sent.request_id, sent.client_context) == ("ev", None)


def test_a_queued_event_that_fails_reports_unhandled(setup: Setup) -> None:
    setup.behaviour = lambda _: InvokeOutcome(Status.ERROR, b'{"errorType":"ValueError"}', 1.0, error_type="ValueError")

    async def scenario() -> str | None:
        await setup.service.invoke(request(invocation_type=InvocationType.EVENT))
        (event,) = await setup.queue.claim(1, 1e12, 1e12)
        return (await setup.service.run_event(event)).function_error

    assert run(scenario()) == "Unhandled"


def test_event_for_a_missing_function_is_refused_before_queueing(setup: Setup) -> None:
    with pytest.raises(ResourceNotFound):
        run(setup.service.invoke(InvokeRequest("nope", None, b"{}", invocation_type=InvocationType.EVENT)))
    assert len(setup.queue) == 0


def test_missing_function_names_latest_in_the_arn(setup: Setup) -> None:
    with pytest.raises(ResourceNotFound, match=r"Function not found: arn:aws:lambda:us-east-1:000000000000:"):
        run(setup.service.invoke(InvokeRequest(function_name="nope", qualifier=None, payload=b"{}")))


def test_payload_checks_run_before_the_function(setup: Setup) -> None:
    with pytest.raises(InvalidRequestContent):
        run(setup.service.invoke(request(b"not json")))
    with pytest.raises(RequestEntityTooLarge):
        run(setup.service.invoke(request(b'"' + b"x" * (6 * 1024 * 1024) + b'"')))
    assert setup.environments == []


def test_cold_start_log_has_init_start_init_output_and_init_duration(setup: Setup) -> None:
    response = run(setup.service.invoke(request(request_id="rid", tail_logs=True)))
    lines = tail_lines(response.log_result)
    assert lines[0].startswith("INIT_START Runtime Version: python:3.12.")
    assert lines[1:5] == ["init says hi", "START RequestId: rid Version: $LATEST", "hello", "END RequestId: rid"]
    assert lines[5] == (
        "REPORT RequestId: rid\tDuration: 1.23 ms\tBilled Duration: 14 ms\tMemory Size: 128 MB\t"
        "Max Memory Used: 40 MB\tInit Duration: 12.50 ms\t"
    )


def test_warm_invoke_log_has_no_init_lines(setup: Setup) -> None:
    async def scenario() -> list[str]:
        await setup.service.invoke(request())
        return tail_lines((await setup.service.invoke(request(request_id="w", tail_logs=True))).log_result)

    lines = run(scenario())
    assert lines[0] == "START RequestId: w Version: $LATEST"
    assert "Init Duration" not in lines[-1]
    assert lines[-1].endswith("Billed Duration: 2 ms\tMemory Size: 128 MB\tMax Memory Used: 40 MB\t")


def test_tail_is_the_last_4_kb_of_the_log(setup: Setup) -> None:
    setup.behaviour = lambda _: InvokeOutcome(Status.SUCCESS, b"null", 1.0, output="x" * 10_000 + "\n")
    response = run(setup.service.invoke(request(tail_logs=True)))
    assert response.log_result is not None
    tail = base64.b64decode(response.log_result)
    assert len(tail) == TAIL_BYTES
    assert tail.startswith(b"xxx")
    assert re.search(rb"END RequestId: \S+\nREPORT RequestId: [^\n]+\t\n$", tail)


def test_no_tail_unless_asked(setup: Setup) -> None:
    assert run(setup.service.invoke(request())).log_result is None


def test_failed_init_is_the_invokes_result_and_report(setup: Setup) -> None:
    error = b"{\"errorMessage\":\"Unable to import module 'app': No module named 'x'\","
    error += b'"errorType":"Runtime.ImportModuleError","requestId":"","stackTrace":[]}'
    setup.init = InitOutcome(50.0, error, "Runtime.ImportModuleError", output="[ERROR] boom\n", max_memory_mb=30)
    response = run(setup.service.invoke(request(request_id="rid", tail_logs=True)))
    assert (response.function_error, response.payload) == ("Unhandled", error)
    lines = tail_lines(response.log_result)
    assert lines[1:3] == [
        "[ERROR] boom",
        "INIT_REPORT Init Duration: 50.00 ms\tPhase: init\tStatus: error\tError Type: Runtime.ImportModuleError",
    ]
    assert lines[-1] == (
        "REPORT RequestId: rid\tDuration: 50.00 ms\tBilled Duration: 50 ms\tMemory Size: 128 MB\t"
        "Max Memory Used: 30 MB\tStatus: error\tError Type: Runtime.ImportModuleError"
    )


def test_failed_init_environment_is_replaced_on_the_next_invoke(setup: Setup) -> None:
    setup.init = InitOutcome(5.0, b'{"errorType":"KeyError"}', "KeyError")

    async def scenario() -> None:
        await setup.service.invoke(request())
        await setup.service.invoke(request())

    run(scenario())
    assert len(setup.environments) == 2


def test_runtime_exit_during_init_names_the_request(setup: Setup) -> None:
    error = b'{"errorMessage":"Error: Runtime exited with error: exit status 3","errorType":"Runtime.ExitError"}'
    setup.init = InitOutcome(5.0, error, "Runtime.ExitError")
    response = run(setup.service.invoke(request(request_id="rid")))
    assert orjson.loads(response.payload) == {
        "errorMessage": "RequestId: rid Error: Runtime exited with error: exit status 3",
        "errorType": "Runtime.ExitError",
    }


def test_timeout_report_says_status_timeout(setup: Setup) -> None:
    setup.behaviour = lambda r: InvokeOutcome(Status.TIMEOUT, b"{}", 1000.4, error_type="Sandbox.Timedout")
    response = run(setup.service.invoke(request(tail_logs=True)))
    assert tail_lines(response.log_result)[-1].endswith("\tStatus: timeout")


def test_out_of_memory_report_names_runtime_out_of_memory(setup: Setup) -> None:
    setup.behaviour = lambda r: InvokeOutcome(
        Status.CRASH, b"{}", 9.0, error_type="Runtime.ExitError", report_error_type="Runtime.OutOfMemory"
    )
    response = run(setup.service.invoke(request(tail_logs=True)))
    assert tail_lines(response.log_result)[-1].endswith("\tStatus: error\tError Type: Runtime.OutOfMemory")


def test_log_lines_are_stored_under_the_group_and_the_environments_stream(setup: Setup) -> None:
    async def scenario() -> list[tuple[str, str]]:
        await setup.service.invoke(request(request_id="rid"))
        await setup.logs.flush()
        return [(event.log_stream, event.message) for event in setup.logs.read("/aws/lambda/fn")]

    events = run(scenario())
    assert {stream for stream, _ in events} == {setup.environments[0].log_stream}
    assert [message for _, message in events][2:4] == ["START RequestId: rid Version: $LATEST", "hello"]


def test_invoked_arn_carries_the_qualifier_it_was_invoked_with(setup: Setup) -> None:
    async def scenario() -> list[str]:
        await setup.service.invoke(request())
        await setup.service.invoke(InvokeRequest(function_name="fn", qualifier="$LATEST", payload=b"{}"))
        return [sent.invoked_arn for sent in setup.environments[0].requests]

    assert run(scenario()) == [
        "arn:aws:lambda:us-east-1:000000000000:function:fn",
        "arn:aws:lambda:us-east-1:000000000000:function:fn:$LATEST",
    ]


def test_after_a_crash_the_next_init_is_suppressed_into_the_invoke(setup: Setup) -> None:
    setup.behaviour = lambda r: InvokeOutcome(Status.CRASH, b"{}", 3.0, error_type="Runtime.ExitError")

    async def scenario() -> list[str]:
        await setup.service.invoke(request())
        setup.behaviour = succeed
        return tail_lines((await setup.service.invoke(request(request_id="next", tail_logs=True))).log_result)

    lines = run(scenario())
    assert lines[:3] == ["START RequestId: next Version: $LATEST", "init says hi", "hello"]
    # Duration is the invoke's 1.234 ms plus the suppressed init's 12.5 ms; no Init Duration.
    assert lines[-1] == (
        "REPORT RequestId: next\tDuration: 13.73 ms\tBilled Duration: 14 ms\tMemory Size: 128 MB\t"
        "Max Memory Used: 40 MB\t"
    )
    assert setup.environments[1].log_stream == setup.environments[0].log_stream


def test_versions_invoked_alternately_keep_their_environments(setup: Setup) -> None:
    versions = iter(["1", "2", "1", "2"])

    class Versions(Functions):
        async def get_ready(self, name: str, qualifier: str | None = None) -> FunctionConfig:
            return CONFIG.replace(version=next(versions))

    setup.service = InvokeService(Versions(CONFIG), setup.service._pool, setup.service._code, setup.logs,
                                  IDENTITY, Credentials("a", "b"), 10.0, Metrics(), setup.queue)  # fmt: skip
    executed = [run(setup.service.invoke(request())).executed_version for _ in range(4)]
    assert executed == ["1", "2", "1", "2"]
    assert [environment.spec.version for environment in setup.environments] == ["1", "2"]
