"""RuntimeApiEnvironment and its Runtime API server, driven directly: real processes, no nimbus server."""

from __future__ import annotations

import asyncio
import json
import stat
import sys
import textwrap
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import h11
import pytest

from nimbus.runtime.results import InvokeInput, Status
from nimbus.runtime.runtime_api import RuntimeApiEnvironment
from nimbus.runtime.runtime_api_server import (
    ErrorPosted,
    InitErrorPosted,
    ResponsePosted,
    ResponseRejected,
    RuntimeApiServer,
    RuntimeReady,
)
from nimbus.runtime.spec import MAX_RESPONSE_BYTES, Credentials, EnvironmentSpec

ARN = "arn:aws:lambda:us-east-1:000000000000:function:fn"
NEXT = "/2018-06-01/runtime/invocation/next"
POLL_DEADLINE = 10.0


# -- building environments -------------------------------------------------------------------------------------------
def make_spec(task_root: Path, timeout: int = 30) -> EnvironmentSpec:
    return EnvironmentSpec(
        function_name="fn",
        version="$LATEST",
        runtime="provided.al2023",
        handler="app.handler",
        memory_size=128,
        timeout=timeout,
        task_root=task_root,
        function_arn=ARN,
        log_group="/aws/lambda/fn",
        variables={},
        region="us-east-1",
        credentials=Credentials("test", "test"),
        init_timeout=10,
    )


def write_executable(path: Path, text: str) -> None:
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)


def python_runtime(root: Path, script: str) -> None:
    """A custom runtime: a POSIX-shell bootstrap that execs a plain-Python Runtime API loop."""
    write_executable(root / "bootstrap", f'#!/bin/sh\nexec "{sys.executable}" "$LAMBDA_TASK_ROOT/runtime.py"\n')
    (root / "runtime.py").write_text(PRELUDE + textwrap.dedent(script))


def awslambdaric_runtime(root: Path, handler: str, app: str) -> None:
    write_executable(root / "bootstrap", f'#!/bin/sh\nexec "{sys.executable}" -m awslambdaric {handler}\n')
    (root / "app.py").write_text(textwrap.dedent(app))


PRELUDE = """\
import http.client, json, os
API = "/2018-06-01/runtime/invocation/"
conn = http.client.HTTPConnection(os.environ["AWS_LAMBDA_RUNTIME_API"])

def call(method, path, body=None):
    conn.request(method, path, body=body)
    response = conn.getresponse()
    return response, response.read()

def next_invoke():
    response, event = call("GET", API + "next")
    return response.getheader("Lambda-Runtime-Aws-Request-Id"), event, response
"""

ECHO = """\
while True:
    request_id, event, response = next_invoke()
    print("got", request_id, flush=True)
    headers = {name.lower(): value for name, value in response.getheaders()}
    call("POST", API + request_id + "/response", json.dumps({"event": event.decode(), "headers": headers}))
"""


def invoke_input(payload: bytes = b'{"k": 1}', client_context: str | None = None) -> InvokeInput:
    return InvokeInput(
        request_id=str(uuid.uuid4()),
        payload=payload,
        deadline_ms=int(time.time() * 1000) + 30_000,
        invoked_arn=ARN,
        client_context=client_context,
        trace_id="Root=1-5bef4de7-ad49b0e87f6ef6c87fc2e700;Parent=9a9197af755a6419;Sampled=1",
    )


@asynccontextmanager
async def environment(spec: EnvironmentSpec) -> AsyncIterator[RuntimeApiEnvironment]:
    env = RuntimeApiEnvironment(spec, memory=None)
    try:
        yield env
    finally:
        await env.stop()


async def eventually(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + POLL_DEADLINE
    while not condition():
        assert time.monotonic() < deadline, "condition not met before the deadline"
        await asyncio.sleep(0.01)


def only_this_task() -> bool:
    return asyncio.all_tasks() == {asyncio.current_task()}


def doc(payload: bytes) -> dict[str, object]:
    loaded = json.loads(payload)
    assert isinstance(loaded, dict)
    return loaded


# -- a raw HTTP/1.1 client for the server tests ------------------------------------------------------------------------
@dataclass(frozen=True)
class HttpResponse:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> dict[str, object]:
        return doc(self.body)


class Client:
    """One keep-alive connection to the Runtime API server, framed by h11."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._conn = h11.Connection(h11.CLIENT)
        self._reader, self._writer = reader, writer

    @classmethod
    async def connect(cls, port: int) -> Client:
        return cls(*await asyncio.open_connection("127.0.0.1", port))

    async def call(
        self, method: str, path: str, body: Iterable[bytes] = (), headers: Iterable[tuple[str, str]] = ()
    ) -> HttpResponse:
        chunks = list(body)
        framing = (
            ("content-length", str(sum(map(len, chunks)))) if len(chunks) < 2 else ("transfer-encoding", "chunked")
        )
        self._send(h11.Request(method=method, target=path, headers=[("host", "runtime"), framing, *headers]))
        for chunk in chunks:
            self._send(h11.Data(data=chunk))
        self._send(h11.EndOfMessage())
        head = await self._event()
        assert isinstance(head, h11.Response)
        data = b""
        while isinstance(event := await self._event(), h11.Data):
            data += event.data
        self._conn.start_next_cycle()
        return HttpResponse(head.status_code, {k.decode(): v.decode() for k, v in head.headers}, data)

    def close(self) -> None:
        self._writer.close()

    def _send(self, event: h11.Request | h11.Data | h11.EndOfMessage) -> None:
        self._writer.write(self._conn.send(event) or b"")

    async def _event(self) -> object:
        while (event := self._conn.next_event()) is h11.NEED_DATA:
            self._conn.receive_data(await self._reader.read(65536))
        return event


@asynccontextmanager
async def runtime_api() -> AsyncIterator[tuple[RuntimeApiServer, Client]]:
    server = RuntimeApiServer()
    client = await Client.connect(await server.start())
    try:
        yield server, client
    finally:
        client.close()
        server.close()


async def parked_next(server: RuntimeApiServer, client: Client) -> asyncio.Task[HttpResponse]:
    task = asyncio.create_task(client.call("GET", NEXT))
    await eventually(lambda: server.polling or task.done())
    return task


async def in_flight(server: RuntimeApiServer, client: Client, invoke: InvokeInput) -> HttpResponse:
    """Walk the runtime through init and hand it `invoke`."""
    task = await parked_next(server, client)
    assert isinstance(await server.next_event(), RuntimeReady)
    server.deliver(invoke)
    return await task


def run(test: Callable[[], Awaitable[None]]) -> None:
    async def main() -> None:
        async with asyncio.timeout(60):  # the test runs in this task, so only_this_task() can see leftovers
            await test()

    asyncio.run(main())


# -- (a) a plain custom runtime -------------------------------------------------------------------------------------
def test_custom_runtime_receives_events_and_headers_and_is_reused(tmp_path: Path) -> None:
    python_runtime(tmp_path, ECHO)

    async def scenario() -> None:
        async with environment(make_spec(tmp_path)) as env:
            init = await env.start()
            assert init.ok, init
            first, second = invoke_input(b'{"n": 1}', client_context='{"custom":\n{"a": "b"}}'), invoke_input()
            one = await env.invoke(first)
            two = await env.invoke(second)
            assert (one.status, two.status) == (Status.SUCCESS, Status.SUCCESS)
            body = doc(one.payload)
            assert body["event"] == '{"n": 1}'
            assert body["headers"] == {
                "lambda-runtime-aws-request-id": first.request_id,
                "lambda-runtime-deadline-ms": str(first.deadline_ms),
                "lambda-runtime-invoked-function-arn": ARN,
                "lambda-runtime-trace-id": first.trace_id,
                "lambda-runtime-client-context": '{"custom": {"a": "b"}}',
                "content-type": "application/json",
                "content-length": "8",
            }
            second_headers = doc(two.payload)["headers"]
            assert isinstance(second_headers, dict) and "lambda-runtime-client-context" not in second_headers
            assert f"got {first.request_id}" in one.output
            assert f"got {second.request_id}" in two.output
            assert not env.is_dead

    run(scenario)


def test_environment_variables_point_the_runtime_at_its_api(tmp_path: Path) -> None:
    python_runtime(
        tmp_path,
        """\
        request_id, _, _ = next_invoke()
        env = {k: os.environ.get(k) for k in ("AWS_LAMBDA_RUNTIME_API", "_HANDLER", "LAMBDA_TASK_ROOT")}
        call("POST", API + request_id + "/response", json.dumps({**env, "cwd": os.getcwd()}))
        next_invoke()
        """,
    )

    async def scenario() -> None:
        async with environment(make_spec(tmp_path)) as env:
            assert (await env.start()).ok
            body = doc((await env.invoke(invoke_input())).payload)
            assert str(body["AWS_LAMBDA_RUNTIME_API"]).startswith("127.0.0.1:")
            assert body["_HANDLER"] == "app.handler"
            assert body["LAMBDA_TASK_ROOT"] == body["cwd"] == str(tmp_path)

    run(scenario)


# -- (b) awslambdaric, unmodified ------------------------------------------------------------------------------------
def test_awslambdaric_handler_result_is_the_response(tmp_path: Path) -> None:
    awslambdaric_runtime(
        tmp_path,
        "app.handler",
        """\
        def handler(event, context):
            print("handling", context.aws_request_id)
            return {"echo": event, "arn": context.invoked_function_arn}
        """,
    )

    async def scenario() -> None:
        async with environment(make_spec(tmp_path)) as env:
            init = await env.start()
            assert init.ok, init
            request = invoke_input(b'{"hello": "world"}')
            outcome = await env.invoke(request)
            assert outcome.status is Status.SUCCESS, outcome
            assert doc(outcome.payload) == {"echo": {"hello": "world"}, "arn": ARN}
            assert f"handling {request.request_id}" in outcome.output

    run(scenario)


def test_awslambdaric_handler_exception_is_a_function_error_and_keeps_the_environment(tmp_path: Path) -> None:
    awslambdaric_runtime(
        tmp_path,
        "app.handler",
        """\
        def handler(event, context):
            if event.get("fail"):
                raise ValueError("boom")
            return "fine"
        """,
    )

    async def scenario() -> None:
        async with environment(make_spec(tmp_path)) as env:
            assert (await env.start()).ok
            request = invoke_input(b'{"fail": true}')
            failed = await env.invoke(request)
            assert (failed.status, failed.error_type) == (Status.ERROR, "ValueError")
            error = doc(failed.payload)
            assert (error["errorType"], error["errorMessage"], error["requestId"]) == (
                "ValueError",
                "boom",
                request.request_id,
            )
            assert isinstance(error["stackTrace"], list) and "raise ValueError" in error["stackTrace"][-1]
            assert "[ERROR] ValueError: boom" in failed.output
            assert not env.is_dead
            assert (await env.invoke(invoke_input(b"{}"))).payload == b'"fine"'

    run(scenario)


def test_awslambdaric_import_error_fails_init_through_init_error(tmp_path: Path) -> None:
    awslambdaric_runtime(tmp_path, "app.handler", "import not_a_module_anywhere\n")

    async def scenario() -> None:
        async with environment(make_spec(tmp_path)) as env:
            init = await env.start()
            assert init.error_type == "Runtime.ImportModuleError"
            assert init.error_payload is not None
            error = doc(init.error_payload)
            assert error["errorType"] == "Runtime.ImportModuleError"
            assert error["errorMessage"] == "Unable to import module 'app': No module named 'not_a_module_anywhere'"
            assert "Runtime.ImportModuleError" in init.output
            assert env.is_dead

    run(scenario)


# -- (c) the Runtime API protocol, driven with raw HTTP ------------------------------------------------------------
def test_next_then_chunked_response_on_one_keep_alive_connection() -> None:
    async def scenario() -> None:
        async with runtime_api() as (server, client):
            invoke = invoke_input(b"[1, 2]")
            event = await in_flight(server, client, invoke)
            assert (event.status, event.body) == (200, b"[1, 2]")
            assert event.headers["lambda-runtime-aws-request-id"] == invoke.request_id
            reply = await client.call(
                "POST", f"/2018-06-01/runtime/invocation/{invoke.request_id}/response", [b"o", b"k"]
            )
            assert (reply.status, reply.json()) == (202, {"status": "OK"})
            assert await server.next_event() == ResponsePosted(b"ok")

    run(scenario)


def test_wrong_request_id_is_400_invalid_request_id() -> None:
    async def scenario() -> None:
        async with runtime_api() as (server, client):
            await in_flight(server, client, invoke_input())
            for endpoint in ("response", "error"):
                reply = await client.call("POST", f"/2018-06-01/runtime/invocation/not-the-id/{endpoint}", [b"{}"])
                assert reply.status == 400
                assert reply.json() == {"errorMessage": "Invalid request ID", "errorType": "InvalidRequestID"}

    run(scenario)


def test_second_next_while_an_invoke_is_outstanding_is_403() -> None:
    async def scenario() -> None:
        async with runtime_api() as (server, client):
            await in_flight(server, client, invoke_input())
            reply = await client.call("GET", NEXT)
            assert reply.status == 403
            assert reply.json() == {
                "errorMessage": "State transition from Running to Ready failed for runtime. "
                "Error: State transition is not allowed",
                "errorType": "InvalidStateTransition",
            }

    run(scenario)


def test_second_response_for_the_same_request_is_403() -> None:
    async def scenario() -> None:
        async with runtime_api() as (server, client):
            invoke = invoke_input()
            await in_flight(server, client, invoke)
            path = f"/2018-06-01/runtime/invocation/{invoke.request_id}/response"
            assert (await client.call("POST", path, [b"1"])).status == 202
            again = await client.call("POST", path, [b"2"])
            assert again.status == 403
            assert again.json()["errorMessage"] == (
                "State transition from RuntimeResponseSentState to InvocationResponse failed for runtime. "
                "Error: State transition is not allowed"
            )
            assert await server.next_event() == ResponsePosted(b"1")
            assert server.pending_event() is None

    run(scenario)


def test_error_post_carries_body_and_checked_error_type() -> None:
    async def scenario() -> None:
        async with runtime_api() as (server, client):
            invoke = invoke_input()
            await in_flight(server, client, invoke)
            header = [("Lambda-Runtime-Function-Error-Type", "Function.MyFailure")]
            path = f"/2018-06-01/runtime/invocation/{invoke.request_id}/error"
            assert (await client.call("POST", path, [b'{"errorType":"X"}'], header)).status == 202
            assert await server.next_event() == ErrorPosted(b'{"errorType":"X"}', "Function.MyFailure")

    run(scenario)


def test_init_error_is_accepted_during_init_only() -> None:
    async def scenario() -> None:
        async with runtime_api() as (server, client):
            header = [("Lambda-Runtime-Function-Error-Type", "NotAnAwsType")]
            reply = await client.call("POST", "/2018-06-01/runtime/init/error", [b'{"errorType":"E"}'], header)
            assert reply.status == 202
            # RAPID keeps only (Runtime|Function).Xxx error types for the platform; the body is untouched.
            assert await server.next_event() == InitErrorPosted(b'{"errorType":"E"}', "Runtime.Unknown")
            refused = await client.call("GET", NEXT)
            assert refused.status == 403
            assert str(refused.json()["errorMessage"]).startswith("State transition from InitError to Ready failed")

    run(scenario)


def test_unknown_paths_are_404_and_ping_answers() -> None:
    async def scenario() -> None:
        async with runtime_api() as (_, client):
            assert (await client.call("GET", "/2018-06-01/runtime/nothing")).status == 404
            assert (await client.call("GET", "/runtime/invocation/next")).status == 404
            assert (await client.call("POST", NEXT)).status == 405
            ping = await client.call("GET", "/2018-06-01/ping")
            assert (ping.status, ping.body) == (200, b"pong")

    run(scenario)


def test_oversized_response_is_413_and_rejected() -> None:
    async def scenario() -> None:
        async with runtime_api() as (server, client):
            invoke = invoke_input()
            await in_flight(server, client, invoke)
            path = f"/2018-06-01/runtime/invocation/{invoke.request_id}/response"
            reply = await client.call("POST", path, [b"x" * (MAX_RESPONSE_BYTES + 1)])
            assert reply.status == 413
            assert reply.json()["errorType"] == "RequestEntityTooLarge"
            event = await server.next_event()
            assert isinstance(event, ResponseRejected) and event.error_type == "Function.ResponseSizeTooLarge"
            # The connection stays usable: the refused body was read to its end.
            assert (await client.call("GET", "/2018-06-01/ping")).status == 200

    run(scenario)


def test_a_runtime_that_hangs_up_on_next_can_poll_again() -> None:
    async def scenario() -> None:
        server = RuntimeApiServer()
        port = await server.start()
        first, second = await Client.connect(port), await Client.connect(port)
        try:
            abandoned = await parked_next(server, first)
            first.close()
            await eventually(lambda: not server.polling)
            abandoned.cancel()
            invoke = invoke_input()
            pending = await parked_next(server, second)
            server.deliver(invoke)
            assert (await pending).headers["lambda-runtime-aws-request-id"] == invoke.request_id
        finally:
            second.close()
            server.close()

    run(scenario)


def test_closing_the_server_ends_parked_polls_without_leaking_tasks() -> None:
    async def scenario() -> None:
        server = RuntimeApiServer()
        client = await Client.connect(await server.start())
        task = await parked_next(server, client)
        server.close()
        with pytest.raises((h11.RemoteProtocolError, ConnectionError)):
            await task
        client.close()
        await eventually(only_this_task)

    run(scenario)


# -- (d) failures of the runtime process ----------------------------------------------------------------------------
def test_runtime_exiting_mid_invoke_is_exit_error_and_kills_the_environment(tmp_path: Path) -> None:
    python_runtime(
        tmp_path,
        """\
        request_id, _, _ = next_invoke()
        print("about to exit", flush=True)
        os._exit(3)
        """,
    )

    async def scenario() -> None:
        async with environment(make_spec(tmp_path)) as env:
            assert (await env.start()).ok
            request = invoke_input()
            outcome = await env.invoke(request)
            assert (outcome.status, outcome.error_type) == (Status.CRASH, "Runtime.ExitError")
            assert doc(outcome.payload) == {
                "errorMessage": f"RequestId: {request.request_id} Error: Runtime exited with error: exit status 3",
                "errorType": "Runtime.ExitError",
            }
            assert "about to exit" in outcome.output
            assert env.is_dead
        await eventually(only_this_task)

    run(scenario)


def test_runtime_exiting_before_next_fails_init(tmp_path: Path) -> None:
    write_executable(tmp_path / "bootstrap", "#!/bin/sh\necho starting\nexit 0\n")

    async def scenario() -> None:
        async with environment(make_spec(tmp_path)) as env:
            init = await env.start()
            assert init.error_type == "Runtime.ExitError"
            assert init.error_payload is not None
            assert doc(init.error_payload)["errorMessage"] == "Error: Runtime exited without providing a reason"
            assert "starting" in init.output
            assert env.is_dead

    run(scenario)


def test_missing_or_unexecutable_bootstrap_is_invalid_entrypoint(tmp_path: Path) -> None:
    async def init_error() -> dict[str, object]:
        async with environment(make_spec(tmp_path)) as env:
            init = await env.start()
            assert init.error_type == "Runtime.InvalidEntrypoint" and init.error_payload is not None
            return doc(init.error_payload)

    async def scenario() -> None:
        missing = await init_error()
        assert missing["errorMessage"] == f"Error: Couldn't find valid bootstrap(s): [{tmp_path / 'bootstrap'}]"
        (tmp_path / "bootstrap").write_text("#!/bin/sh\n")
        (tmp_path / "bootstrap").chmod(0o644)
        unexecutable = await init_error()
        assert unexecutable["errorMessage"] == f"Error: fork/exec {tmp_path / 'bootstrap'}: permission denied"

    run(scenario)


def test_runtime_that_never_answers_times_out(tmp_path: Path) -> None:
    python_runtime(tmp_path, "import time\nnext_invoke()\ntime.sleep(3600)\n")

    async def scenario() -> None:
        async with environment(make_spec(tmp_path, timeout=1)) as env:
            assert (await env.start()).ok
            outcome = await env.invoke(invoke_input())
            assert (outcome.status, outcome.error_type) == (Status.TIMEOUT, "Sandbox.Timedout")
            assert env.is_dead
        await eventually(only_this_task)

    run(scenario)


# -- (e) payload limit ------------------------------------------------------------------------------------------------
def test_response_over_the_limit_is_response_size_too_large(tmp_path: Path) -> None:
    python_runtime(
        tmp_path,
        f"""\
        request_id, _, _ = next_invoke()
        refused, body = call("POST", API + request_id + "/response", b"x" * {MAX_RESPONSE_BYTES + 1})
        request_id, _, _ = next_invoke()
        call("POST", API + request_id + "/response", json.dumps([refused.status, body.decode()]))
        next_invoke()
        """,
    )

    async def scenario() -> None:
        async with environment(make_spec(tmp_path)) as env:
            assert (await env.start()).ok
            outcome = await env.invoke(invoke_input())
            assert (outcome.status, outcome.error_type) == (Status.ERROR, "Function.ResponseSizeTooLarge")
            assert doc(outcome.payload) == {
                "errorMessage": "Response payload size exceeded maximum allowed payload size (6291556 bytes).",
                "errorType": "Function.ResponseSizeTooLarge",
            }
            assert not env.is_dead
            status, body = json.loads((await env.invoke(invoke_input())).payload)
            assert status == 413
            assert json.loads(body) == {
                "errorMessage": "Exceeded maximum allowed payload size (6291556 bytes).",
                "errorType": "RequestEntityTooLarge",
            }

    run(scenario)
