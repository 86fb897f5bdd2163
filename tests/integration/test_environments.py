"""Execution environments as AWS runs them: handler lookup, init errors, variables, the context object, timeouts,
crashes, memory limits, concurrency, reuse, reaping and code updates."""

from __future__ import annotations

import base64
import json
import os
import re
import signal
import sys
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import psutil
import pytest

from nimbus.runtime.catalogue import discover
from tests.integration.processes import IDENTITY, host_pid, shared_directory
from tests.support import Server, create_function, invoke_json, make_zip, unique, wait_until

PROBE = (
    IDENTITY
    + """
import os, sys, time

def handler(event, context):
    kind = event.get("kind")
    if kind == "sleep":
        time.sleep(event["seconds"])
    if kind == "exit":
        os._exit(3)
    if kind == "kill":
        os.kill(os.getpid(), 9)
    if kind == "allocate":
        block = bytearray(event["mb"] * 1024 * 1024)
        for offset in range(0, len(block), 4096):
            block[offset] = 1
    if kind == "barrier":  # returns only once `count` invokes are inside the handler at the same time
        open(os.path.join(event["dir"], context.aws_request_id), "w").close()
        deadline = time.time() + 30
        while len(os.listdir(event["dir"])) < event["count"] and time.time() < deadline:
            time.sleep(0.01)
    first = context.get_remaining_time_in_millis()
    time.sleep(0.05)
    return {**where(), "stream": context.log_stream_name, "version": list(sys.version_info[:2]),
            "remaining": [first, context.get_remaining_time_in_millis()]}
"""
)


def environments(server: Server) -> set[int]:
    """PIDs of the execution environments the server runs (its bootstrap children)."""
    assert server.process is not None
    children = psutil.Process(server.process.pid).children(recursive=True)
    found = set()
    for child in children:
        try:
            if child.status() != psutil.STATUS_ZOMBIE and "python_bootstrap.py" in " ".join(child.cmdline()):
                found.add(child.pid)
        except psutil.NoSuchProcess:
            continue
    return found


def tail(response: dict[str, Any]) -> str:
    return base64.b64decode(response["LogResult"]).decode()


def report_of(response: dict[str, Any]) -> str:
    return next(line for line in tail(response).split("\n") if line.startswith("REPORT "))


# -- handler lookup and init ------------------------------------------------------------------------------------


def test_nested_package_handler_is_found(client: Any) -> None:
    files = {"pkg/__init__.py": "", "pkg/sub/__init__.py": "", "pkg/sub/mod.py": "def handler(e, c):\n    return 1\n"}
    name = create_function(client, files, handler="pkg.sub.mod.handler")
    assert invoke_json(client, name)[1] == 1


def test_slash_form_handler_is_found(client: Any) -> None:
    name = create_function(
        client, {"src/app.py": "def handler(e, c):\n    return __name__\n"}, handler="src/app.handler"
    )
    assert invoke_json(client, name)[1] == "src.app"


INIT_FAILURES = [
    pytest.param({"app.py": "import nosuchmodule\n"}, "app.handler", "Runtime.ImportModuleError",
                 "Unable to import module 'app': No module named 'nosuchmodule'", id="import-error"),
    pytest.param({"app.py": "x = 1\n"}, "app.missing", "Runtime.HandlerNotFound",
                 "Handler 'missing' missing on module 'app'", id="handler-not-found"),
    pytest.param({"app.py": "def handler(e, c)\n    return 1\n"}, "app.handler", "Runtime.UserCodeSyntaxError",
                 "Syntax error in module 'app': ", id="syntax-error"),
    pytest.param({"app.py": "raise KeyError('at import')\n"}, "app.handler", "KeyError", "'at import'",
                 id="raises-at-import"),
    pytest.param({"app.py": "class Broken(Exception):\n    pass\nraise Broken('no config')\n"}, "app.handler",
                 "Broken", "no config", id="raises-own-type"),
    pytest.param({"app.py": "x = 1\n"}, "apphandler", "Runtime.MalformedHandlerName",
                 "Bad handler 'apphandler': not enough values to unpack (expected 2, got 1)", id="malformed-name"),
]  # fmt: skip


@pytest.mark.parametrize(("files", "handler", "error_type", "message"), INIT_FAILURES)
def test_init_failure_returns_awslambdaric_error(
    client: Any, files: dict[str, str], handler: str, error_type: str, message: str
) -> None:
    name = create_function(client, files, handler=handler)
    response, body = invoke_json(client, name, {}, LogType="Tail")
    assert response["FunctionError"] == "Unhandled"
    assert body["errorType"] == error_type
    assert body["errorMessage"].startswith(message)
    if not message.endswith(": "):
        assert body["errorMessage"] == message
    assert body["requestId"] == ""
    assert "INIT_REPORT Init Duration: " in tail(response)
    assert report_of(response).endswith(f"\tStatus: error\tError Type: {error_type}")


def test_syntax_error_trace_points_at_the_line(client: Any) -> None:
    name = create_function(client, {"app.py": "import os\ndef handler(e, c)\n    return 1\n"})
    _, body = invoke_json(client, name)
    assert body["errorMessage"].startswith("Syntax error in module 'app': ")
    assert body["errorMessage"].endswith("(app.py, line 2)")
    (frame,) = body["stackTrace"]
    assert re.fullmatch(r'  File "[^"]+/app\.py" Line 2\n    def handler\(e, c\)\n', frame)


def test_failed_init_is_not_reused_and_the_next_invoke_inits_again(client: Any) -> None:
    app = (
        "import os\n"
        "path = os.environ['COUNTER']\n"
        "count = int(open(path).read()) + 1 if os.path.exists(path) else 1\n"
        "open(path, 'w').write(str(count))\n"
        "if count == 1:\n"
        "    raise RuntimeError('first init fails')\n"
        "def handler(e, c):\n"
        "    return count\n"
    )
    with shared_directory() as shared:
        counter = shared / "inits"
        name = create_function(client, {"app.py": app}, Environment={"Variables": {"COUNTER": str(counter)}})
        response, body = invoke_json(client, name)
        assert (response["FunctionError"], body["errorType"]) == ("Unhandled", "RuntimeError")
        assert invoke_json(client, name)[1] == 2
        assert invoke_json(client, name)[1] == 2  # now warm


# -- what the function sees ---------------------------------------------------------------------------------------


def test_environment_variables_are_set_as_aws_sets_them(client: Any) -> None:
    app = "import os\ndef handler(e, c):\n    return dict(os.environ)\n"
    name = create_function(client, {"app.py": app}, runtime="python3.11", MemorySize=256,
                           Environment={"Variables": {"GREETING": "hello"}})  # fmt: skip
    env = invoke_json(client, name)[1]
    assert env["AWS_LAMBDA_FUNCTION_NAME"] == name
    assert env["AWS_LAMBDA_FUNCTION_VERSION"] == "$LATEST"
    assert env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "256"
    assert env["AWS_REGION"] == env["AWS_DEFAULT_REGION"] == "us-east-1"
    assert env["AWS_EXECUTION_ENV"] == "AWS_Lambda_python3.11"
    assert env["AWS_LAMBDA_LOG_GROUP_NAME"] == f"/aws/lambda/{name}"
    assert re.fullmatch(r"\d{4}/\d{2}/\d{2}/\[\$LATEST\][0-9a-f]{32}", env["AWS_LAMBDA_LOG_STREAM_NAME"])
    assert env["_HANDLER"] == "app.handler"
    assert env["TZ"] == ":UTC"
    assert env["LANG"] == "en_US.UTF-8"
    assert env["AWS_LAMBDA_INITIALIZATION_TYPE"] == "on-demand"
    assert os.path.isabs(env["LAMBDA_TASK_ROOT"])
    assert env["GREETING"] == "hello"
    assert {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"} <= env.keys()


def test_context_object_members(client: Any) -> None:
    app = (
        "def handler(e, c):\n"
        "    return {'name': c.function_name, 'version': c.function_version, 'memory': c.memory_limit_in_mb,\n"
        "            'arn': c.invoked_function_arn, 'id': c.aws_request_id, 'group': c.log_group_name,\n"
        "            'stream': c.log_stream_name, 'identity': c.identity.cognito_identity_id,\n"
        "            'client_context': c.client_context}\n"
    )
    name = create_function(client, {"app.py": app}, MemorySize=512)
    response, body = invoke_json(client, name)
    assert body == {
        "name": name,
        "version": "$LATEST",
        "memory": "512",  # a str, as awslambdaric reads it from the environment
        "arn": f"arn:aws:lambda:us-east-1:000000000000:function:{name}",
        "id": response["ResponseMetadata"]["RequestId"],
        "group": f"/aws/lambda/{name}",
        "stream": body["stream"],
        "identity": None,
        "client_context": None,
    }
    qualified = client.invoke(FunctionName=name, Qualifier="$LATEST")
    assert json.loads(qualified["Payload"].read())["arn"].endswith(f":function:{name}:$LATEST")


def test_remaining_time_decreases_and_starts_within_the_timeout(client: Any) -> None:
    name = create_function(client, {"app.py": PROBE}, Timeout=7)
    first, second = invoke_json(client, name, {})[1]["remaining"]
    assert 0 < second < first <= 7000


def test_cwd_is_the_task_root_and_tmp_is_writable(client: Any) -> None:
    app = (
        "import os\n"
        "def handler(e, c):\n"
        "    path = '/tmp/' + c.aws_request_id\n"
        "    open(path, 'w').write('kept')\n"
        "    return {'cwd': os.getcwd(), 'root': os.environ['LAMBDA_TASK_ROOT'], 'tmp': open(path).read(),\n"
        "            'code': os.path.exists('app.py')}\n"
    )
    name = create_function(client, {"app.py": app})
    body = invoke_json(client, name)[1]
    assert body["cwd"] == body["root"]
    assert body["tmp"] == "kept"
    assert body["code"]


def test_python312_function_runs_on_python312(client: Any) -> None:
    if discover((3, 12)) is None:
        pytest.skip("no python3.12 on this host")
    name = create_function(client, {"app.py": PROBE}, runtime="python3.12")
    assert invoke_json(client, name, {})[1]["version"] == [3, 12]


def test_python314_falls_back_and_the_server_log_says_which(server: Server, client: Any) -> None:
    if discover((3, 14)) is not None:
        pytest.skip("python3.14 is installed here: nothing falls back")
    name = create_function(client, {"app.py": PROBE}, runtime="python3.14")
    major, minor = invoke_json(client, name, {})[1]["version"]
    assert (major, minor) < (3, 14)
    line = wait_until(lambda: re.search(r"WARNING .*runtime python3\.14 is not installed here.*", server.log_text()))
    assert f"it runs on python{major}.{minor}" in line[0]


# -- timeouts, crashes and memory ---------------------------------------------------------------------------------


def test_timeout_returns_sandbox_timedout_and_the_next_invoke_reinits(client: Any) -> None:
    name = create_function(client, {"app.py": PROBE}, Timeout=1)
    warm, stream = (invoke_json(client, name, {})[1][key] for key in ("environment", "stream"))
    response, body = invoke_json(client, name, {"kind": "sleep", "seconds": 30}, LogType="Tail")
    request_id = response["ResponseMetadata"]["RequestId"]
    assert response["FunctionError"] == "Unhandled"
    assert body == {
        "errorMessage": f"RequestId: {request_id} Error: Task timed out after 1.00 seconds",
        "errorType": "Sandbox.Timedout",
    }
    assert report_of(response).endswith("\tStatus: timeout")
    after, body = invoke_json(client, name, {}, LogType="Tail")
    assert "FunctionError" not in after
    assert body["environment"] != warm  # a new process ran init again ...
    # ... as AWS's suppressed init: into the same log stream, its time inside Duration, no Init Duration.
    assert body["stream"] == stream
    assert "Init Duration" not in report_of(after)


def test_exit_is_runtime_exit_error_with_its_status(client: Any) -> None:
    name = create_function(client, {"app.py": PROBE})
    response, body = invoke_json(client, name, {"kind": "exit"}, LogType="Tail")
    request_id = response["ResponseMetadata"]["RequestId"]
    assert body == {
        "errorMessage": f"RequestId: {request_id} Error: Runtime exited with error: exit status 3",
        "errorType": "Runtime.ExitError",
    }
    assert report_of(response).endswith("\tStatus: error\tError Type: Runtime.ExitError")
    assert "FunctionError" not in invoke_json(client, name, {})[0]


def test_death_by_signal_is_runtime_exit_error_signal_killed(client: Any) -> None:
    name = create_function(client, {"app.py": PROBE})
    response, body = invoke_json(client, name, {"kind": "kill"})
    request_id = response["ResponseMetadata"]["RequestId"]
    assert body == {
        "errorMessage": f"RequestId: {request_id} Error: Runtime exited with error: signal: killed",
        "errorType": "Runtime.ExitError",
    }
    assert "FunctionError" not in invoke_json(client, name, {})[0]


def test_memory_beyond_memory_size_ends_the_environment(server: Server, client: Any) -> None:
    if "no writable memory cgroup" in server.log_text():
        pytest.skip("this host has no writable memory cgroup: MemorySize is not enforced")
    name = create_function(client, {"app.py": PROBE}, MemorySize=128, Timeout=30)
    response, body = invoke_json(client, name, {"kind": "allocate", "mb": 300}, LogType="Tail")
    request_id = response["ResponseMetadata"]["RequestId"]
    assert response["FunctionError"] == "Unhandled"
    assert body == {
        "errorMessage": f"RequestId: {request_id} Error: Runtime exited with error: signal: killed",
        "errorType": "Runtime.ExitError",
    }
    assert report_of(response).endswith("\tStatus: error\tError Type: Runtime.OutOfMemory")
    assert "\tMax Memory Used: 128 MB\t" in report_of(response)
    assert "FunctionError" not in invoke_json(client, name, {})[0]


def test_environment_killed_from_outside_is_replaced(server: Server, client: Any) -> None:
    name = create_function(client, {"app.py": PROBE})
    killed = invoke_json(client, name, {})[1]
    pid = host_pid(server, killed)
    assert pid in environments(server)
    os.kill(pid, signal.SIGKILL)
    wait_until(lambda: pid not in environments(server))
    response, body = invoke_json(client, name, {})
    assert "FunctionError" not in response
    assert body["environment"] != killed["environment"]


# -- concurrency, reuse, reaping and updates ------------------------------------------------------------------------


def test_concurrent_invokes_run_in_separate_environments_at_once(server: Server) -> None:
    count = 3
    client = server.lambda_client(max_pool_connections=count)
    name = create_function(client, {"app.py": PROBE}, Timeout=60)
    with shared_directory() as marks, ThreadPoolExecutor(count) as pool:
        event = {"kind": "barrier", "dir": str(marks), "count": count}
        bodies = list(pool.map(lambda _: invoke_json(client, name, event)[1], range(count)))
        assert len(os.listdir(marks)) == count
    assert len({body["environment"] for body in bodies}) == count
    assert len({body["stream"] for body in bodies}) == count


def test_sequential_invokes_reuse_one_warm_environment(client: Any) -> None:
    name = create_function(client, {"app.py": PROBE})
    results = [invoke_json(client, name, {}, LogType="Tail") for _ in range(3)]
    assert len({body["environment"] for _, body in results}) == 1
    assert len({body["stream"] for _, body in results}) == 1
    reports = [report_of(response) for response, _ in results]
    assert ["\tInit Duration: " in report for report in reports] == [True, False, False]


def test_idle_environments_are_reaped_after_keep_alive(fresh_server: Server) -> None:
    fresh_server.extra_env = {"NIMBUS_KEEP_ALIVE": "0.5"}
    server = fresh_server.start()
    client = server.lambda_client()
    name = create_function(client, {"app.py": PROBE})
    first = invoke_json(client, name, {})[1]
    assert host_pid(server, first) in environments(server)
    wait_until(lambda: not environments(server), timeout=30)
    response, body = invoke_json(client, name, {}, LogType="Tail")
    assert body["environment"] != first["environment"]
    assert "\tInit Duration: " in report_of(response)


def test_code_update_is_used_by_the_next_invoke_and_retires_old_environments(server: Server, client: Any) -> None:
    name = create_function(client, {"app.py": IDENTITY + "def handler(e, c):\n    return ['v1', where()]\n"})
    old = invoke_json(client, name)[1][1]
    old_pid = host_pid(server, old)
    client.update_function_code(FunctionName=name, ZipFile=make_zip(
        {"app.py": IDENTITY + "def handler(e, c):\n    return ['v2', where()]\n"}))  # fmt: skip
    client.get_waiter("function_updated_v2").wait(FunctionName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    version, new = invoke_json(client, name)[1]
    assert version == "v2"
    assert new["environment"] != old["environment"]
    wait_until(lambda: old_pid not in environments(server))


def test_python_runtimes_report_their_own_version(client: Any) -> None:
    """Each python3.X this host has runs on that interpreter (the catalogue's pick)."""
    checked = 0
    for minor in (9, 10, 11, 12, 13):
        if discover((3, minor)) is None:
            continue
        name = create_function(client, {"app.py": PROBE}, name=unique(f"py3{minor}"), runtime=f"python3.{minor}")
        assert invoke_json(client, name, {})[1]["version"] == [3, minor]
        checked += 1
    assert checked >= 1, sys.version


def _environment_gauge(server: Server) -> dict[str, float]:
    text = httpx.get(f"{server.url}/_nimbus/metrics").text
    return {m[1]: float(m[2]) for m in re.finditer(r'^nimbus_environments\{state="(\w+)"\} (\S+)$', text, re.M)}


def test_metrics_count_live_and_idle_environments(fresh_server: Server) -> None:
    fresh_server.start()
    client = fresh_server.lambda_client()
    assert _environment_gauge(fresh_server)["live"] == 0
    name = create_function(client, {"app.py": "def handler(event, context):\n    return 1\n"})
    invoke_json(client, name)
    gauge = _environment_gauge(fresh_server)
    assert gauge["live"] >= 1  # the one that ran (and perhaps a spare)
    assert gauge["idle"] >= 1
    assert gauge["busy"] == 0
