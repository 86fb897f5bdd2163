"""Asynchronous invocation through boto3, the aws cli and `nimbus queue`: durable, retried as AWS retries.

The servers here run with NIMBUS_ASYNC_RETRY_SCALE=0.01: AWS's 1 and 2 minute retry delays take 0.6 and 1.2 s.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from botocore.exceptions import ClientError

from tests.support import Server, create_function, wait_until

SCALED = {"NIMBUS_ASYNC_RETRY_SCALE": "0.01"}
FAILING = """
def handler(event, context):
    print("attempt", context.aws_request_id)
    raise ValueError("always fails")
"""
# Waits for a release file, then appends its request id to a file: both in a directory given by the environment.
RECORDING = """
import os, time

def handler(event, context):
    directory = os.environ["IDS_DIR"]
    while not os.path.exists(os.path.join(directory, "release")):
        time.sleep(0.01)
    with open(os.path.join(directory, "ids.txt"), "a") as out:
        out.write(context.aws_request_id + "\\n")
    return {"recorded": context.aws_request_id}
"""
KILL_EVENTS = 2000


@pytest.fixture(scope="module")
def scaled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server whose async retries come quickly (shared by this module's tests; unique function names)."""
    running = Server(data_dir=tmp_path_factory.mktemp("async") / "data", extra_env=SCALED).start()
    yield running
    running.stop()


@pytest.fixture
def ids_dir() -> Iterator[Path]:
    """Where a sandboxed function can still write: outside the data dir and /tmp (both are its own), and open to
    every user (it may run as another one)."""
    shared = Path("/var/tmp")
    path = Path(tempfile.mkdtemp(prefix="nimbus-ids-", dir=shared if shared.is_dir() else None))
    path.chmod(0o777)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def log_messages(server: Server, name: str) -> list[str]:
    result = server.nimbus("logs", name, "--raw")
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()


def event_invoke(client: Any, name: str, payload: Any = None) -> str:
    response = client.invoke(FunctionName=name, InvocationType="Event", Payload=json.dumps(payload or {}))
    assert response["StatusCode"] == 202
    return str(response["ResponseMetadata"]["RequestId"])


def recorded(ids_dir: Path) -> set[str]:
    path = ids_dir / "ids.txt"
    return set(path.read_text().split()) if path.exists() else set()


def test_failing_event_is_retried_twice_with_the_same_request_id(scaled: Server) -> None:
    client = scaled.lambda_client()
    name = create_function(client, {"app.py": FAILING})
    request_id = event_invoke(client, name)

    def attempts() -> list[str]:
        return [line for line in log_messages(scaled, name) if line.startswith("START RequestId:")]

    wait_until(lambda: len(attempts()) == 3, timeout=60)
    assert attempts() == [f"START RequestId: {request_id} Version: $LATEST"] * 3
    assert log_messages(scaled, name).count(f"attempt {request_id}") == 3


def test_maximum_retry_attempts_zero_runs_once(scaled: Server) -> None:
    client = scaled.lambda_client()
    name = create_function(client, {"app.py": FAILING})
    client.put_function_event_invoke_config(FunctionName=name, MaximumRetryAttempts=0)
    first = event_invoke(client, name)
    wait_until(lambda: f"attempt {first}" in log_messages(scaled, name), timeout=60)
    # A second event is run after the first was given up on: had the first been retried, its retry (0.6 s after
    # its attempt) would show before the second's end.
    second = event_invoke(client, name)
    wait_until(lambda: f"END RequestId: {second}" in log_messages(scaled, name), timeout=60)
    assert log_messages(scaled, name).count(f"attempt {first}") == 1


def test_event_payload_over_1_mb_is_refused(scaled: Server) -> None:
    client = scaled.lambda_client()
    name = create_function(client, {"app.py": FAILING})
    payload = json.dumps("x" * (1024 * 1024))
    with pytest.raises(ClientError) as caught:
        client.invoke(FunctionName=name, InvocationType="Event", Payload=payload)
    assert caught.value.response["Error"] == {
        "Code": "RequestEntityTooLargeException",
        "Message": f"{len(payload)} byte payload is too large for the Event invocation type (limit 1048576 bytes)",
    }


def test_invoke_async_answers_202_and_runs_the_function(scaled: Server) -> None:
    client = scaled.lambda_client()
    name = create_function(client, {"app.py": FAILING})
    client.put_function_event_invoke_config(FunctionName=name, MaximumRetryAttempts=0)
    response = client.invoke_async(FunctionName=name, InvokeArgs=b'{"legacy": true}')
    assert response["Status"] == 202
    request_id = response["ResponseMetadata"]["RequestId"]
    wait_until(lambda: f"attempt {request_id}" in log_messages(scaled, name), timeout=60)


def test_invoke_async_keeps_the_256_kb_limit(scaled: Server) -> None:
    client = scaled.lambda_client()
    name = create_function(client, {"app.py": FAILING})
    with pytest.raises(ClientError) as caught:
        client.invoke_async(FunctionName=name, InvokeArgs=json.dumps("x" * (256 * 1024)).encode())
    assert caught.value.response["Error"]["Code"] == "RequestEntityTooLargeException"
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 413


def test_aws_cli_event_invoke_is_queued(scaled: Server, tmp_path: Path) -> None:
    client = scaled.lambda_client()
    name = create_function(client, {"app.py": FAILING})
    out = tmp_path / "out.json"
    result = scaled.aws("lambda", "invoke", "--function-name", name, "--invocation-type", "Event", str(out))
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"StatusCode": 202}
    wait_until(lambda: any(line.startswith("attempt ") for line in log_messages(scaled, name)), timeout=60)


def test_aws_cli_event_payload_over_1_mb_is_refused(scaled: Server, tmp_path: Path) -> None:
    # AWS's wording, as seen in the field: "1525970 byte payload is too large for the Event invocation type
    # (limit 1048576 bytes)", code RequestEntityTooLargeException.
    client = scaled.lambda_client()
    name = create_function(client, {"app.py": FAILING})
    payload = tmp_path / "big.json"
    payload.write_text(json.dumps("x" * (1024 * 1024)))
    size = payload.stat().st_size
    result = scaled.aws("lambda", "invoke", "--function-name", name, "--invocation-type", "Event",
                        "--payload", f"fileb://{payload}", str(tmp_path / "out.json"))  # fmt: skip
    assert result.returncode != 0
    assert (
        "An error occurred (RequestEntityTooLargeException) when calling the Invoke operation: "
        f"{size} byte payload is too large for the Event invocation type (limit 1048576 bytes)" in result.stderr
    )


def test_queue_command_and_metrics_show_waiting_and_running_events(scaled: Server, ids_dir: Path) -> None:
    client = scaled.lambda_client()
    name = create_function(client, {"app.py": RECORDING}, Timeout=60,
                           Environment={"Variables": {"IDS_DIR": str(ids_dir)}})  # fmt: skip
    ids = {event_invoke(client, name) for _ in range(20)}

    def listed() -> dict[str, Any]:
        result = scaled.nimbus("queue", "--json")
        assert result.returncode == 0, result.stderr
        return {entry["function_name"]: entry for entry in json.loads(result.stdout)}

    # 20 events, none can finish (no release file): all are waiting or running.
    wait_until(lambda: listed().get(name, {}).get("in_flight", 0) > 0, timeout=60)
    entry = listed()[name]
    assert entry["queued"] + entry["in_flight"] == 20
    table = scaled.nimbus("queue")
    assert table.returncode == 0 and name in table.stdout and "Waiting" in table.stdout
    metrics = httpx.get(f"{scaled.url}/_nimbus/metrics", timeout=10).text
    assert f'nimbus_async_events_received_total{{function="{name}"}} 20.0' in metrics
    wait_until(lambda: f'nimbus_async_queue_depth{{function="{name}"}} 20.0' in
               httpx.get(f"{scaled.url}/_nimbus/metrics", timeout=10).text)  # fmt: skip
    (ids_dir / "release").touch()
    wait_until(lambda: recorded(ids_dir) == ids, timeout=60)
    wait_until(lambda: name not in listed(), timeout=30)


def test_kill_9_with_thousands_of_events_queued_loses_none(fresh_server: Server, ids_dir: Path) -> None:
    server = fresh_server.start()
    client = server.lambda_client()
    name = create_function(client, {"app.py": RECORDING}, Timeout=120,
                           Environment={"Variables": {"IDS_DIR": str(ids_dir)}})  # fmt: skip

    def send(count: int) -> list[str]:
        own = server.lambda_client()
        return [event_invoke(own, name, {"n": i}) for i in range(count)]

    with ThreadPoolExecutor(max_workers=8) as pool:
        accepted = {rid for batch in pool.map(send, [KILL_EVENTS // 8] * 8) for rid in batch}
    assert len(accepted) == KILL_EVENTS
    wait_until(lambda: _in_flight(server, name) > 0)  # some are running, none can finish yet
    assert server.process is not None
    server.process.kill()
    server.process.wait(timeout=30)
    assert recorded(ids_dir) == set()

    (ids_dir / "release").touch()
    restarted = Server(data_dir=server.data_dir, extra_env=server.extra_env).start()
    try:
        wait_until(lambda: len(recorded(ids_dir)) >= KILL_EVENTS, timeout=240, interval=0.5)
        assert recorded(ids_dir) == accepted
    finally:
        restarted.stop()


def _in_flight(server: Server, name: str) -> int:
    result = server.nimbus("queue", "--json")
    entries = json.loads(result.stdout) if result.returncode == 0 else []
    return sum(entry["in_flight"] for entry in entries if entry["function_name"] == name)
