"""Invoke through boto3, the aws cli and raw signed HTTP: status codes, headers, payloads and their limits."""

from __future__ import annotations

import base64
import json
import re
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from tests.integration.processes import shared_directory
from tests.support import ACCESS_KEY, REGION, SECRET_KEY, Server, create_function, invoke_json, wait_until

APP = """
import json, os, time

def handler(event, context):
    kind = event.get("kind") if isinstance(event, dict) else None
    print("invoked", context.aws_request_id, json.dumps(event)[:100])
    if kind == "error":
        raise ValueError("something broke")
    if kind == "none":
        return None
    if kind == "large":
        return "x" * event["size"]
    if kind == "context":
        cc = context.client_context
        if cc is None:
            return None
        client = cc.client
        return {"custom": cc.custom, "env": cc.env,
                "client": None if client is None else {"installation_id": client.installation_id,
                                                       "app_title": client.app_title}}
    if kind == "wait_for_file":
        open(event["started"], "w").close()
        deadline = time.time() + 30
        while not os.path.exists(event["release"]) and time.time() < deadline:
            time.sleep(0.01)
        return "finished"
    return {"request_id": context.aws_request_id, "echo": event}
"""


@pytest.fixture(scope="module")
def function(server: Server) -> str:
    return create_function(server.lambda_client(), {"app.py": APP}, Timeout=30)


def signed(server: Server, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None) -> Any:
    """A raw SigV4-signed request, for what boto3 will not send (oversized bodies)."""
    url = f"{server.url}{path}"
    request = AWSRequest(method, url, data=body, headers=headers or {})
    SigV4Auth(Credentials(ACCESS_KEY, SECRET_KEY), "lambda", REGION).add_auth(request)
    return httpx.request(method, url, content=body, headers=dict(request.headers), timeout=120)


def test_request_response_returns_200_and_executed_version(client: Any, function: str) -> None:
    response, body = invoke_json(client, function, {"hello": "world"})
    assert response["StatusCode"] == 200
    assert response["ExecutedVersion"] == "$LATEST"
    assert response["ResponseMetadata"]["HTTPHeaders"]["content-type"] == "application/json"
    assert body["echo"] == {"hello": "world"}
    assert "FunctionError" not in response


def test_response_request_id_is_the_functions_request_id(client: Any, function: str) -> None:
    response, body = invoke_json(client, function, {})
    assert body["request_id"] == response["ResponseMetadata"]["RequestId"]


def test_function_error_returns_200_with_unhandled_and_error_document(client: Any, function: str) -> None:
    response, body = invoke_json(client, function, {"kind": "error"})
    assert response["StatusCode"] == 200
    assert response["FunctionError"] == "Unhandled"
    assert body["errorMessage"] == "something broke"
    assert body["errorType"] == "ValueError"
    assert body["requestId"] == response["ResponseMetadata"]["RequestId"]
    assert len(body["stackTrace"]) == 1
    assert re.match(r'  File "[^"]+/app\.py", line \d+, in handler\n    raise ValueError', body["stackTrace"][0])


def test_none_return_is_null(client: Any, function: str) -> None:
    response = client.invoke(FunctionName=function, Payload=json.dumps({"kind": "none"}))
    assert response["Payload"].read() == b"null"


def test_empty_payload_is_an_empty_event(client: Any, function: str) -> None:
    response = client.invoke(FunctionName=function)
    assert json.loads(response["Payload"].read())["echo"] == {}


def test_dry_run_returns_204(client: Any, function: str) -> None:
    response = client.invoke(FunctionName=function, InvocationType="DryRun")
    assert response["StatusCode"] == 204
    assert response["Payload"].read() == b""


def test_event_returns_202_and_runs_the_function(server: Server, client: Any, function: str) -> None:
    response = client.invoke(FunctionName=function, InvocationType="Event", Payload=b'{"async": true}')
    assert response["StatusCode"] == 202
    assert response["Payload"].read() == b""
    request_id = response["ResponseMetadata"]["RequestId"]

    def ran() -> bool:
        page = signed(server, "GET", f"/_nimbus/logs/{function}").json()
        return any(event["message"] == f"END RequestId: {request_id}" for event in page["events"])

    wait_until(ran)
    page = signed(server, "GET", f"/_nimbus/logs/{function}").json()
    assert f'invoked {request_id} {{"async": true}}' in [event["message"] for event in page["events"]]


def test_tail_returns_this_invokes_log_with_start_end_report(client: Any, function: str) -> None:
    response, _ = invoke_json(client, function, {"n": 1}, LogType="Tail")
    request_id = response["ResponseMetadata"]["RequestId"]
    log = base64.b64decode(response["LogResult"]).decode()
    lines = log.removesuffix("\n").split("\n")
    start = lines.index(f"START RequestId: {request_id} Version: $LATEST")
    assert lines[start + 1] == f'invoked {request_id} {{"n": 1}}'
    assert lines[start + 2] == f"END RequestId: {request_id}"
    assert lines[start + 3].startswith(f"REPORT RequestId: {request_id}\tDuration: ")
    assert start + 4 == len(lines)


def test_tail_is_capped_at_the_last_4_kb(client: Any, function: str) -> None:
    response, _ = invoke_json(client, function, {"padding": "y" * 90}, LogType="Tail")
    assert len(base64.b64decode(response["LogResult"])) <= 4096
    noisy = create_function(client, {"app.py": "def handler(e, c):\n    print('z' * 10000)\n"})
    response, _ = invoke_json(client, noisy, {}, LogType="Tail")
    tail = base64.b64decode(response["LogResult"])
    assert len(tail) == 4096
    assert tail.startswith(b"zzz")
    assert tail.endswith(b"\t\n")


def test_no_log_result_without_tail(client: Any, function: str) -> None:
    response, _ = invoke_json(client, function, {})
    assert "LogResult" not in response


def test_client_context_reaches_the_handler(client: Any, function: str) -> None:
    document = {"custom": {"user": "u1"}, "env": {"locale": "en"}, "client": {"installation_id": "i-1"}}
    context = base64.b64encode(json.dumps(document).encode()).decode()
    _, body = invoke_json(client, function, {"kind": "context"}, ClientContext=context)
    assert body == {
        "custom": {"user": "u1"},
        "env": {"locale": "en"},
        "client": {"installation_id": "i-1", "app_title": None},
    }
    _, body = invoke_json(client, function, {"kind": "context"})
    assert body is None


@pytest.mark.parametrize("context", ["not base64!", base64.b64encode(b"[1, 2]").decode()])
def test_bad_client_context_is_invalid_request_content(client: Any, function: str, context: str) -> None:
    with pytest.raises(ClientError) as caught:
        client.invoke(FunctionName=function, Payload=b"{}", ClientContext=context)
    assert caught.value.response["Error"]["Code"] == "InvalidRequestContentException"
    assert caught.value.response["Error"]["Message"] == "Client context must be a valid Base64-encoded JSON object."
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_payload_that_is_not_json_is_invalid_request_content(client: Any, function: str) -> None:
    with pytest.raises(ClientError) as caught:
        client.invoke(FunctionName=function, Payload=b"{this is not json")
    error = caught.value.response["Error"]
    assert error["Code"] == "InvalidRequestContentException"
    assert error["Message"].startswith("Could not parse request body into json: Could not parse payload into json")


def test_payload_of_exactly_6_mb_is_accepted(server: Server, function: str) -> None:
    body = b'"' + b"x" * (6291456 - 2) + b'"'
    response = signed(server, "POST", f"/2015-03-31/functions/{function}/invocations", body)
    assert response.status_code == 200


@pytest.mark.parametrize("size", [6291457, 20_000_000])
def test_payload_over_6_mb_is_request_entity_too_large(server: Server, function: str, size: int) -> None:
    body = b'"' + b"x" * (size - 2) + b'"'
    response = signed(server, "POST", f"/2015-03-31/functions/{function}/invocations", body)
    assert response.status_code == 413
    assert response.headers["x-amzn-errortype"] == "RequestEntityTooLargeException"
    message = "Request must be smaller than 6291456 bytes for the InvokeFunction operation"
    assert message in response.json().values()


def test_boto3_sees_request_entity_too_large(client: Any, function: str) -> None:
    with pytest.raises(ClientError) as caught:
        client.invoke(FunctionName=function, Payload=b'"' + b"x" * 7_000_000 + b'"')
    assert caught.value.response["Error"]["Code"] == "RequestEntityTooLargeException"


def test_response_over_the_limit_is_function_response_size_too_large(client: Any, function: str) -> None:
    response, body = invoke_json(client, function, {"kind": "large", "size": 6291556})
    assert response["FunctionError"] == "Unhandled"
    assert body == {
        "errorMessage": "Response payload size exceeded maximum allowed payload size (6291556 bytes).",
        "errorType": "Function.ResponseSizeTooLarge",
    }
    # The limit counts the JSON document: a string of 6291554 characters plus its quotes is exactly at it.
    _, body = invoke_json(client, function, {"kind": "large", "size": 6291554})
    assert len(body) == 6291554


def test_missing_function_is_resource_not_found_naming_latest(client: Any) -> None:
    with pytest.raises(client.exceptions.ResourceNotFoundException) as caught:
        client.invoke(FunctionName="no-such-function-anywhere")
    message = caught.value.response["Error"]["Message"]
    assert (
        message
        == "Function not found: arn:aws:lambda:us-east-1:000000000000:function:no-such-function-anywhere:$LATEST"
    )


def test_aws_cli_invoke_prints_function_error_and_tail_log(server: Server, function: str, tmp_path: Path) -> None:
    out = tmp_path / "out.json"
    payload = '{"kind": "error"}'
    # aws cli v1 sends --payload as given (v2 would need --cli-binary-format raw-in-base64-out).
    result = server.aws("lambda", "invoke", "--function-name", function, "--log-type", "Tail", "--payload", payload,
                        str(out))  # fmt: skip
    assert result.returncode == 0, result.stderr
    printed = json.loads(result.stdout)
    assert printed["StatusCode"] == 200
    assert printed["FunctionError"] == "Unhandled"
    assert printed["ExecutedVersion"] == "$LATEST"
    log = base64.b64decode(printed["LogResult"]).decode()
    assert "[ERROR] ValueError: something broke\rTraceback (most recent call last):\r" in log
    assert json.loads(out.read_text())["errorType"] == "ValueError"


@pytest.mark.parametrize(("invocation_type", "status"), [("Event", 202), ("DryRun", 204)])
def test_aws_cli_invocation_types(
    server: Server, function: str, tmp_path: Path, invocation_type: str, status: int
) -> None:
    out = tmp_path / "out.json"
    result = server.aws("lambda", "invoke", "--function-name", function, "--invocation-type", invocation_type,
                        str(out))  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"StatusCode": status}
    assert out.read_bytes() == b""


def test_sigterm_lets_the_in_flight_invoke_finish_and_exits_0(fresh_server: Server) -> None:
    server = fresh_server.start()
    client = server.lambda_client()
    name = create_function(client, {"app.py": APP}, Timeout=30)
    with shared_directory() as shared:
        sigterm_drains_in_flight_invoke(server, client, name, shared)
    assert server.stop() == 0


def sigterm_drains_in_flight_invoke(server: Server, client: Any, name: str, shared: Path) -> None:
    started, release = shared / "started", shared / "release"
    outcome: dict[str, Any] = {}

    def call() -> None:
        outcome["result"] = invoke_json(client, name, {"kind": "wait_for_file", "started": str(started),
                                                       "release": str(release)})  # fmt: skip

    caller = threading.Thread(target=call)
    caller.start()
    wait_until(started.exists)
    assert server.process is not None
    server.process.terminate()
    wait_until(lambda: "Shutting down" in server.log_text())
    release.touch()  # the handler finishes only once the server is draining
    caller.join(timeout=60)
    assert outcome["result"][1] == "finished"
