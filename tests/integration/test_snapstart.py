"""SnapStart through boto3 and the aws cli: a published version is initialised once, into a snapshot, and its
environments are forked from it (after-restore hooks, Restore Duration, AWS's errors)."""

from __future__ import annotations

import base64
import concurrent.futures
import contextlib
import json
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError, WaiterError

from tests.support import Server, cli_failure, create_function, invoke_json, wait_until

SNAP = {"ApplyOn": "PublishedVersions"}
# AWS's answer to invoking a function in the Failed state (unverified for a SnapStart version: see compatibility.md).
FAILED_STATE = (
    "The operation cannot be performed at this time. The function is currently in the following state: Failed"
)
# AWS's texts: SnapStartNotReadyException's as documented (snapstart-troubleshooting); the others are the service
# model's descriptions of the exceptions.
NOT_READY = "Lambda is initializing your function. It will be ready to invoke once your function state becomes ACTIVE."
RESTORE_FAILED = (
    "The afterRestore() runtime hook encountered an error. For more information, check the Amazon CloudWatch logs."
)
RESTORE_TIMED_OUT = "Lambda couldn't restore the snapshot within the timeout limit."

APP = (
    "import os, random, time, uuid\n"
    "from snapshot_restore_py import register_before_snapshot, register_after_restore\n"
    "INIT_PID = os.getpid()\n"
    "INIT_TOKEN = random.random()\n"
    "HOOKS = []\n"
    "ENVIRONMENT = []  # an id each environment draws on its first invoke (pids may repeat across PID namespaces)\n"
    "@register_before_snapshot\n"
    "def before():\n"
    "    HOOKS.append('before')\n"
    "@register_after_restore\n"
    "def after():\n"
    "    HOOKS.append('after')\n"
    "def handler(event, context):\n"
    "    time.sleep(event.get('sleep', 0))\n"
    "    if not ENVIRONMENT:\n"
    "        ENVIRONMENT.append(uuid.uuid4().hex)\n"
    "    return {'init_pid': INIT_PID, 'init_token': INIT_TOKEN, 'hooks': HOOKS, 'environment': ENVIRONMENT[0],\n"
    "            'random': random.random(), 'type': os.environ['AWS_LAMBDA_INITIALIZATION_TYPE']}\n"
)


def publish_active(client: Any, name: str) -> dict[str, Any]:
    version: dict[str, Any] = client.publish_version(FunctionName=name)
    try:
        client.get_waiter("published_version_active").wait(
            FunctionName=name, Qualifier=version["Version"], WaiterConfig={"Delay": 1, "MaxAttempts": 60}
        )
    except Exception:
        print(client.get_function_configuration(FunctionName=name, Qualifier=version["Version"]))
        raise
    return version


def error(caught: pytest.ExceptionInfo[ClientError]) -> tuple[str, str, int]:
    response = caught.value.response
    return response["Error"]["Code"], response["Error"]["Message"], response["ResponseMetadata"]["HTTPStatusCode"]


def test_optimization_status_is_on_for_versions_only(client: Any) -> None:
    name = create_function(client, {"app.py": APP}, SnapStart=SNAP)
    latest = client.get_function_configuration(FunctionName=name)
    assert latest["SnapStart"] == {"ApplyOn": "PublishedVersions", "OptimizationStatus": "Off"}
    version = client.publish_version(FunctionName=name)
    assert version["State"] == "Pending" and version["StateReasonCode"] == "Creating"
    assert version["SnapStart"] == {"ApplyOn": "PublishedVersions", "OptimizationStatus": "On"}
    publish_active(client, name)
    active = client.get_function_configuration(FunctionName=name, Qualifier=version["Version"])
    assert active["State"] == "Active" and "StateReasonCode" not in active


def test_restored_environments_share_one_init_and_run_after_restore_hooks(client: Any) -> None:
    name = create_function(client, {"app.py": APP}, SnapStart=SNAP)
    version = publish_active(client, name)["Version"]
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda _: invoke_json(client, name, {"sleep": 1}, Qualifier=version)[1], range(2)))
    assert results[0]["environment"] != results[1]["environment"]  # two environments
    assert results[0]["init_pid"] == results[1]["init_pid"] and results[0]["init_token"] == results[1]["init_token"]
    assert all(result["hooks"] == ["before", "after"] for result in results)
    assert results[0]["random"] != results[1]["random"]
    assert {result["type"] for result in results} == {"snap-start"}
    # $LATEST is never restored: each of its environments runs init.
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        latest = list(pool.map(lambda _: invoke_json(client, name, {"sleep": 1})[1], range(2)))
    assert latest[0]["init_token"] != latest[1]["init_token"] and latest[0]["hooks"] == []
    assert {result["type"] for result in latest} == {"on-demand"}


def test_report_shows_restore_duration(client: Any) -> None:
    name = create_function(client, {"app.py": APP}, SnapStart=SNAP)
    version = publish_active(client, name)["Version"]
    response, _ = invoke_json(client, name, Qualifier=version, LogType="Tail")
    log = base64.b64decode(response["LogResult"]).decode()
    assert "RESTORE_START Runtime Version: python:3.11.v1" in log
    assert "RESTORE_REPORT Restore Duration: " in log and "INIT_START" not in log
    report = next(line for line in log.splitlines() if line.startswith("REPORT"))
    assert "\tRestore Duration: " in report and "\tBilled Restore Duration: " in report
    assert "Init Duration" not in report


def test_failing_init_fails_the_version(client: Any) -> None:
    name = create_function(client, {"app.py": "raise ValueError('no init')\n"}, SnapStart=SNAP)
    version = client.publish_version(FunctionName=name)["Version"]
    with pytest.raises(WaiterError):
        client.get_waiter("published_version_active").wait(
            FunctionName=name, Qualifier=version, WaiterConfig={"Delay": 1, "MaxAttempts": 30}
        )
    failed = client.get_function_configuration(FunctionName=name, Qualifier=version)
    assert (failed["State"], failed["StateReasonCode"]) == ("Failed", "FunctionError")
    assert "ValueError: no init" in failed["StateReason"]


class Gate:
    """A TCP server that after-restore hooks ask whether to fail ("F") or not ("K"): the first `failures` ask in
    vain. Restored environments are each a fresh copy of the snapshot (its /tmp too), so only something outside
    them can make one restore fail and the next succeed."""

    def __init__(self, failures: int) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._failures = failures
        threading.Thread(target=self._serve, daemon=True).start()

    def hook(self) -> str:
        return (
            "import socket\n"
            "from snapshot_restore_py import register_after_restore\n"
            "@register_after_restore\n"
            "def reconnect():\n"
            f"    with socket.create_connection(('127.0.0.1', {self.port}), timeout=10) as gate:\n"
            "        if gate.recv(1) == b'F':\n"
            "            raise RuntimeError('cannot reconnect')\n"
            "def handler(event, context):\n"
            "    return 'ok'\n"
        )

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()

    def _serve(self) -> None:
        while True:
            try:
                connection, _ = self._listener.accept()
            except OSError:
                return
            with connection:
                connection.sendall(b"F" if self._failures > 0 else b"K")
                self._failures -= 1


@pytest.fixture
def gate() -> Iterator[Gate]:
    opened = Gate(failures=2)
    yield opened
    opened.close()


def cli_invoke(server: Server, tmp_path: Path, name: str, version: str) -> str:
    """The stderr of an `aws lambda invoke` of the version that must fail."""
    result = server.aws("lambda", "invoke", "--function-name", name, "--qualifier", version, str(tmp_path / "out"))
    return cli_failure(result)


def test_after_restore_hook_that_raises_is_a_snapstart_exception(
    server: Server, client: Any, gate: Gate, tmp_path: Path
) -> None:
    name = create_function(client, {"app.py": gate.hook()}, SnapStart=SNAP)
    version = publish_active(client, name)["Version"]
    with pytest.raises(ClientError) as caught:
        client.invoke(FunctionName=name, Qualifier=version)
    assert error(caught) == ("SnapStartException", RESTORE_FAILED, 400)
    assert f"An error occurred (SnapStartException) when calling the Invoke operation: {RESTORE_FAILED}" in cli_invoke(
        server, tmp_path, name, version
    )
    # The environments whose hook failed are discarded; the next restore runs the hook again, which now succeeds.
    assert invoke_json(client, name, Qualifier=version)[1] == "ok"
    active = client.get_function_configuration(FunctionName=name, Qualifier=version)
    assert active["State"] == "Active"


def test_invoking_a_version_whose_snapshot_is_being_made_is_not_ready(
    server: Server, client: Any, tmp_path: Path
) -> None:
    slow_init = "import time\ntime.sleep(6)\ndef handler(event, context):\n    return 'ready'\n"
    name = create_function(client, {"app.py": slow_init}, SnapStart=SNAP)
    version = client.publish_version(FunctionName=name)["Version"]
    assert client.get_function_configuration(FunctionName=name, Qualifier=version)["State"] == "Pending"
    with pytest.raises(ClientError) as caught:
        client.invoke(FunctionName=name, Qualifier=version)
    assert error(caught) == ("SnapStartNotReadyException", NOT_READY, 409)
    stderr = cli_invoke(server, tmp_path, name, version)
    assert f"An error occurred (SnapStartNotReadyException) when calling the Invoke operation: {NOT_READY}" in stderr
    # The refusal is only while the snapshot is made: once Active the version answers.
    wait_until(lambda: client.get_function_configuration(FunctionName=name, Qualifier=version)["State"] == "Active")
    assert invoke_json(client, name, Qualifier=version)[1] == "ready"


def test_invoking_a_version_whose_snapshot_failed_is_a_conflict(server: Server, client: Any, tmp_path: Path) -> None:
    name = create_function(client, {"app.py": "raise ValueError('no init')\n"}, SnapStart=SNAP)
    version = client.publish_version(FunctionName=name)["Version"]
    wait_until(lambda: client.get_function_configuration(FunctionName=name, Qualifier=version)["State"] == "Failed")
    with pytest.raises(ClientError) as caught:
        client.invoke(FunctionName=name, Qualifier=version)
    assert error(caught) == ("ResourceConflictException", FAILED_STATE, 409)
    stderr = cli_invoke(server, tmp_path, name, version)
    assert f"An error occurred (ResourceConflictException) when calling the Invoke operation: {FAILED_STATE}" in stderr
    # $LATEST is not snapshotted: it runs init on invoke, and answers the init error as a function error.
    response = client.invoke(FunctionName=name)
    assert response["FunctionError"] == "Unhandled"


def test_an_after_restore_hook_slower_than_the_restore_timeout_is_a_snapstart_timeout(
    server: Server, client: Any, tmp_path: Path
) -> None:
    """AWS's restore phase is bounded by a fixed 10 s (not the function's timeout, here 3 s): the hook sleeps 11."""
    code = (
        "import time\n"
        "from snapshot_restore_py import register_after_restore\n"
        "register_after_restore(time.sleep, 11)\n"
        "def handler(event, context):\n"
        "    return 'ok'\n"
    )
    name = create_function(client, {"app.py": code}, SnapStart=SNAP, Timeout=3)
    version = publish_active(client, name)["Version"]

    def through_boto3() -> tuple[str, str, int]:
        with pytest.raises(ClientError) as caught:
            client.invoke(FunctionName=name, Qualifier=version)
        return error(caught)

    # Both restores run at once (two environments), so the test waits the 10 s once.
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        boto3_error = pool.submit(through_boto3)
        cli_stderr = pool.submit(cli_invoke, server, tmp_path, name, version)
        assert boto3_error.result() == ("SnapStartTimeoutException", RESTORE_TIMED_OUT, 408)
        assert (
            f"An error occurred (SnapStartTimeoutException) when calling the Invoke operation: {RESTORE_TIMED_OUT}"
            in cli_stderr.result()
        )


def test_a_socket_opened_during_init_is_not_shared(client: Any) -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    code = (
        "import socket\n"
        f"CONNECTION = socket.create_connection(('127.0.0.1', {port}))\n"
        "def handler(event, context):\n"
        "    try:\n"
        "        CONNECTION.sendall(b'hello')\n"
        "        return 'sent'\n"
        "    except OSError as exc:\n"
        "        return type(exc).__name__\n"
    )
    try:
        name = create_function(client, {"app.py": code}, SnapStart=SNAP)
        version = publish_active(client, name)["Version"]
        _, result = invoke_json(client, name, Qualifier=version)
        assert result != "sent"  # the inherited connection is not this environment's
        _, again = invoke_json(client, name, Qualifier=version)
        assert again == result
    finally:
        listener.close()


def test_through_the_aws_cli(server: Server, client: Any) -> None:
    name = create_function(client, {"app.py": APP}, SnapStart=SNAP)
    version = publish_active(client, name)["Version"]
    shown = json.loads(server.aws("lambda", "get-function-configuration", "--function-name", name,
                                  "--qualifier", version).stdout)  # fmt: skip
    assert shown["SnapStart"] == {"ApplyOn": "PublishedVersions", "OptimizationStatus": "On"}
