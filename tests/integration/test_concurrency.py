"""Reserved, account and provisioned concurrency through boto3 and the aws cli: the operations, AWS's errors, and
throttling on every invoke path (429 with Reason and Retry-After for synchronous invokes; waiting async events)."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from botocore.exceptions import ClientError

from tests.support import Server, create_function, error, invoke_json, unique, wait_until

APP = """
import os, time

def handler(event, context):
    time.sleep(event.get("sleep", 0))
    return {"initialization_type": os.environ["AWS_LAMBDA_INITIALIZATION_TYPE"]}
"""
FAILING_INIT = "raise RuntimeError('init broke')\n\ndef handler(event, context):\n    return {}\n"
ARN = "arn:aws:lambda:us-east-1:000000000000:function:"
RESERVED_REASON = "ReservedFunctionConcurrentInvocationLimitExceeded"
ACCOUNT_REASON = "ConcurrentInvocationLimitExceeded"
BELOW_MINIMUM = (
    "Specified ReservedConcurrentExecutions for function decreases account's UnreservedConcurrentExecution below "
    "its minimum value of [{}]."
)


@pytest.fixture
def function(client: Any) -> str:
    return create_function(client, {"app.py": APP}, Timeout=30)


def throttled(call: Callable[[], Any]) -> dict[str, Any] | None:
    """The 429 response of `call`, or None when it ran."""
    try:
        call()
    except ClientError as caught:
        if caught.response["Error"]["Code"] == "TooManyRequestsException":
            return dict(caught.response)
        raise
    return None


def at_once(*calls: Callable[[], Any]) -> list[dict[str, Any] | None]:
    """Run the calls in parallel threads; each one's 429 response, or None when it ran."""
    results: list[dict[str, Any] | None] = [None] * len(calls)

    def run(index: int) -> None:
        results[index] = throttled(calls[index])

    threads = [threading.Thread(target=run, args=(index,)) for index in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def aws_json(server: Server, *args: str) -> Any:
    result = server.aws("lambda", *args)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout) if result.stdout.strip() else None


def publish(client: Any, name: str) -> str:
    return str(client.publish_version(FunctionName=name)["Version"])


# -- reserved concurrency ------------------------------------------------------------------------------------------
def test_put_get_delete_function_concurrency(client: Any, function: str) -> None:
    assert client.get_function_concurrency(FunctionName=function).keys() == {"ResponseMetadata"}
    put = client.put_function_concurrency(FunctionName=function, ReservedConcurrentExecutions=3)
    assert put["ReservedConcurrentExecutions"] == 3 and put["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert client.get_function_concurrency(FunctionName=function)["ReservedConcurrentExecutions"] == 3
    assert client.get_function(FunctionName=function)["Concurrency"] == {"ReservedConcurrentExecutions": 3}
    assert "Concurrency" not in client.get_function(FunctionName=function, Qualifier="$LATEST")
    deleted = client.delete_function_concurrency(FunctionName=function)
    assert deleted["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert "ReservedConcurrentExecutions" not in client.get_function_concurrency(FunctionName=function)
    assert "Concurrency" not in client.get_function(FunctionName=function)


def test_reserved_concurrency_errors(server: Server, client: Any, function: str) -> None:
    with pytest.raises(client.exceptions.ResourceNotFoundException) as caught:
        client.put_function_concurrency(FunctionName="no-such-function", ReservedConcurrentExecutions=1)
    assert error(caught) == ("ResourceNotFoundException", f"Function not found: {ARN}no-such-function", 404)
    for call in (client.get_function_concurrency, client.delete_function_concurrency):
        with pytest.raises(client.exceptions.ResourceNotFoundException):
            call(FunctionName="no-such-function")
    unreserved = client.get_account_settings()["AccountLimit"]["UnreservedConcurrentExecutions"]
    with pytest.raises(client.exceptions.InvalidParameterValueException) as caught:
        client.put_function_concurrency(FunctionName=function, ReservedConcurrentExecutions=unreserved - 99)
    assert error(caught) == ("InvalidParameterValueException", BELOW_MINIMUM.format(100), 400)
    unchecked = server.lambda_client(parameter_validation=False)  # botocore would refuse these before sending
    with pytest.raises(ClientError) as caught:
        unchecked.put_function_concurrency(FunctionName=function, ReservedConcurrentExecutions=-1)
    assert error(caught)[0] == "ValidationException"
    with pytest.raises(ClientError) as caught:
        unchecked.put_provisioned_concurrency_config(FunctionName=function, Qualifier="1",
                                                     ProvisionedConcurrentExecutions=0)  # fmt: skip
    assert error(caught)[0:2] == ("ValidationException", "1 validation error detected: Value '0' at "
                                  "'provisionedConcurrentExecutions' failed to satisfy constraint: Member must have "
                                  "value greater than or equal to 1")  # fmt: skip


def test_account_settings_report_what_is_left_unreserved(client: Any, function: str) -> None:
    before = client.get_account_settings()["AccountLimit"]
    assert before["ConcurrentExecutions"] == 1000
    client.put_function_concurrency(FunctionName=function, ReservedConcurrentExecutions=7)
    after = client.get_account_settings()["AccountLimit"]
    assert after["UnreservedConcurrentExecutions"] == before["UnreservedConcurrentExecutions"] - 7
    client.delete_function(FunctionName=function)  # a deleted function gives its reservation back
    final = client.get_account_settings()["AccountLimit"]
    assert final["UnreservedConcurrentExecutions"] == before["UnreservedConcurrentExecutions"]


def test_zero_reserved_throttles_sync_invokes_with_reason_and_retry_after(client: Any, function: str) -> None:
    client.put_function_concurrency(FunctionName=function, ReservedConcurrentExecutions=0)
    response = throttled(lambda: client.invoke(FunctionName=function, Payload=b"{}"))
    assert response is not None
    assert response["Error"] == {"Code": "TooManyRequestsException", "Message": "Rate Exceeded."}
    assert (response["Reason"], response["Type"], response["message"]) == (RESERVED_REASON, "User", "Rate Exceeded.")
    assert response["retryAfterSeconds"] == "1"
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 429
    client.delete_function_concurrency(FunctionName=function)
    assert invoke_json(client, function)[1] == {"initialization_type": "on-demand"}


def test_reserved_concurrency_of_one_throttles_a_second_concurrent_invoke(client: Any, function: str) -> None:
    client.put_function_concurrency(FunctionName=function, ReservedConcurrentExecutions=1)
    # Both hold their slot for at least 2 s, so they overlap: one runs, the other is refused at once.
    results = at_once(*[lambda: invoke_json(client, function, {"sleep": 2})] * 2)
    refused = [response for response in results if response is not None]
    assert len(refused) == 1 and refused[0]["Reason"] == RESERVED_REASON


def test_account_limit_throttles_with_the_account_reason(fresh_server: Server) -> None:
    fresh_server.extra_env = {"NIMBUS_ACCOUNT_CONCURRENCY": "1"}
    client = fresh_server.start().lambda_client()
    settings = client.get_account_settings()["AccountLimit"]
    assert (settings["ConcurrentExecutions"], settings["UnreservedConcurrentExecutions"]) == (1, 1)
    first, second = (create_function(client, {"app.py": APP}, Timeout=30) for _ in range(2))
    with pytest.raises(client.exceptions.InvalidParameterValueException) as caught:
        client.put_function_concurrency(FunctionName=first, ReservedConcurrentExecutions=1)
    assert error(caught)[1] == BELOW_MINIMUM.format(1)
    results = at_once(
        lambda: invoke_json(client, first, {"sleep": 2}), lambda: invoke_json(client, second, {"sleep": 2})
    )
    refused = [response for response in results if response is not None]
    assert len(refused) == 1
    assert refused[0]["Reason"] == ACCOUNT_REASON and refused[0]["retryAfterSeconds"] == "1"
    assert invoke_json(client, second)[1] == {"initialization_type": "on-demand"}


def throttle_retries(server: Server, name: str) -> float:
    metrics = httpx.get(f"{server.url}/_nimbus/metrics", timeout=5).text
    prefix = f'nimbus_async_events_retried_total{{function="{name}",reason="throttle"}} '
    return sum(float(line.removeprefix(prefix)) for line in metrics.splitlines() if line.startswith(prefix))


def started(server: Server, name: str, request_id: str) -> bool:
    result = server.nimbus("logs", name, "--raw")
    return f"START RequestId: {request_id}" in result.stdout


def test_async_events_to_a_zero_reserved_function_wait_then_run_after_delete(fresh_server: Server) -> None:
    fresh_server.extra_env = {"NIMBUS_ASYNC_RETRY_SCALE": "0.01"}
    client = fresh_server.start().lambda_client()
    function = create_function(client, {"app.py": APP}, Timeout=30)
    client.put_function_concurrency(FunctionName=function, ReservedConcurrentExecutions=0)
    response = client.invoke(FunctionName=function, InvocationType="Event", Payload=b"{}")
    assert response["StatusCode"] == 202  # never a 429 for an asynchronous invoke
    request_id = response["ResponseMetadata"]["RequestId"]
    wait_until(lambda: throttle_retries(fresh_server, function) >= 3, timeout=30)
    assert not started(fresh_server, function, request_id)
    client.delete_function_concurrency(FunctionName=function)
    wait_until(lambda: started(fresh_server, function, request_id), timeout=30, interval=0.2)


def test_reserved_concurrency_through_the_aws_cli(server: Server, function: str) -> None:
    put = aws_json(server, "put-function-concurrency", "--function-name", function,
                   "--reserved-concurrent-executions", "2")  # fmt: skip
    assert put == {"ReservedConcurrentExecutions": 2}
    assert aws_json(server, "get-function-concurrency", "--function-name", function) == put
    assert aws_json(server, "get-function", "--function-name", function)["Concurrency"] == put
    assert aws_json(server, "delete-function-concurrency", "--function-name", function) is None
    assert aws_json(server, "get-function-concurrency", "--function-name", function) is None  # {}: nothing printed
    result = server.aws("lambda", "put-function-concurrency", "--function-name", function,
                        "--reserved-concurrent-executions", "100000")  # fmt: skip
    assert result.returncode != 0
    assert ("An error occurred (InvalidParameterValueException) when calling the PutFunctionConcurrency operation: "
            + BELOW_MINIMUM.format(100)) in result.stderr  # fmt: skip
    result = server.aws("lambda", "get-function-concurrency", "--function-name", "no-such-function")
    assert f"(ResourceNotFoundException) when calling the GetFunctionConcurrency operation: Function not found: " \
           f"{ARN}no-such-function" in result.stderr  # fmt: skip
    aws_json(server, "put-function-concurrency", "--function-name", function, "--reserved-concurrent-executions", "0")
    result = server.aws("lambda", "invoke", "--function-name", function, "/dev/null")
    assert result.returncode != 0
    assert "(TooManyRequestsException) when calling the Invoke operation" in result.stderr
    assert "Rate Exceeded." in result.stderr


# -- provisioned concurrency -----------------------------------------------------------------------------------------
def ready(client: Any, name: str, qualifier: str) -> dict[str, Any] | None:
    config: dict[str, Any] = client.get_provisioned_concurrency_config(FunctionName=name, Qualifier=qualifier)
    return config if config["Status"] == "READY" else None


def report_line(invoke_response: dict[str, Any]) -> str:
    log = base64.b64decode(invoke_response["LogResult"]).decode()
    return next(line for line in log.splitlines() if line.startswith("REPORT"))


def test_provisioned_config_becomes_ready_and_serves_invokes_without_init(client: Any, function: str) -> None:
    version = publish(client, function)
    put = client.put_provisioned_concurrency_config(
        FunctionName=function, Qualifier=version, ProvisionedConcurrentExecutions=1
    )
    assert put["ResponseMetadata"]["HTTPStatusCode"] == 202
    assert (put["Status"], put["RequestedProvisionedConcurrentExecutions"]) == ("IN_PROGRESS", 1)
    assert (put["AllocatedProvisionedConcurrentExecutions"], put["AvailableProvisionedConcurrentExecutions"]) == (0, 0)
    assert put["LastModified"].endswith("+0000")
    config = wait_until(lambda: ready(client, function, version), timeout=60)
    assert (config["AllocatedProvisionedConcurrentExecutions"], config["AvailableProvisionedConcurrentExecutions"]) \
        == (1, 1)  # fmt: skip
    assert "StatusReason" not in config
    response, payload = invoke_json(client, function, Qualifier=version, LogType="Tail")
    assert payload == {"initialization_type": "provisioned-concurrency"}
    assert "Init Duration" not in report_line(response)
    listed = client.list_provisioned_concurrency_configs(FunctionName=function)["ProvisionedConcurrencyConfigs"]
    assert [(item["FunctionArn"], item["Status"]) for item in listed] == [(f"{ARN}{function}:{version}", "READY")]
    deleted = client.delete_provisioned_concurrency_config(FunctionName=function, Qualifier=version)
    assert deleted["ResponseMetadata"]["HTTPStatusCode"] == 204
    with pytest.raises(client.exceptions.ProvisionedConcurrencyConfigNotFoundException) as caught:
        client.get_provisioned_concurrency_config(FunctionName=function, Qualifier=version)
    assert error(caught) == (
        "ProvisionedConcurrencyConfigNotFoundException",
        "No Provisioned Concurrency Config found for this function",
        404,
    )
    assert caught.value.response["message"] == "No Provisioned Concurrency Config found for this function"
    assert invoke_json(client, function, Qualifier=version)[1] == {"initialization_type": "on-demand"}


def test_provisioned_config_on_an_alias(client: Any, function: str) -> None:
    version = publish(client, function)
    alias = unique("live")
    client.create_alias(FunctionName=function, Name=alias, FunctionVersion=version)
    client.put_provisioned_concurrency_config(FunctionName=function, Qualifier=alias, ProvisionedConcurrentExecutions=1)
    wait_until(lambda: ready(client, function, alias), timeout=60)
    assert invoke_json(client, function, Qualifier=alias)[1] == {"initialization_type": "provisioned-concurrency"}
    with pytest.raises(client.exceptions.ResourceConflictException) as caught:
        client.put_provisioned_concurrency_config(
            FunctionName=function, Qualifier=version, ProvisionedConcurrentExecutions=1
        )
    assert error(caught) == ("ResourceConflictException", "Version is pointed by a Provisioned Concurrency alias", 409)
    client.delete_alias(FunctionName=function, Name=alias)  # takes its provisioned config along
    assert client.list_provisioned_concurrency_configs(FunctionName=function)["ProvisionedConcurrencyConfigs"] == []


def test_provisioned_concurrency_errors(client: Any, function: str) -> None:
    version = publish(client, function)
    with pytest.raises(client.exceptions.InvalidParameterValueException) as caught:
        client.put_provisioned_concurrency_config(
            FunctionName=function, Qualifier="$LATEST", ProvisionedConcurrentExecutions=1
        )
    assert error(caught)[1] == "Provisioned Concurrency Configs cannot be applied to unpublished function versions."
    for call in (client.get_provisioned_concurrency_config, client.delete_provisioned_concurrency_config):
        with pytest.raises(client.exceptions.InvalidParameterValueException) as caught:
            call(FunctionName=function, Qualifier="$LATEST")
        assert error(caught)[1] == "The function resource provided must be an alias or a published version."
    with pytest.raises(client.exceptions.ResourceNotFoundException) as caught:
        client.get_provisioned_concurrency_config(FunctionName=function, Qualifier="10")
    assert error(caught) == ("ResourceNotFoundException", f"Function not found: {ARN}{function}:10", 404)
    with pytest.raises(client.exceptions.ResourceNotFoundException) as caught:
        client.put_provisioned_concurrency_config(
            FunctionName=function, Qualifier="noalias", ProvisionedConcurrentExecutions=1
        )
    assert error(caught)[1] == f"Cannot find alias arn: {ARN}{function}:noalias"
    with pytest.raises(client.exceptions.ResourceNotFoundException) as caught:
        client.get_provisioned_concurrency_config(FunctionName="doesnotexist", Qualifier="noalias")
    assert error(caught)[1] == f"Cannot find alias arn: {ARN}doesnotexist:noalias"
    with pytest.raises(client.exceptions.ResourceNotFoundException) as caught:
        client.list_provisioned_concurrency_configs(FunctionName="doesnotexist")
    assert error(caught)[1] == f"Function not found: {ARN}doesnotexist"
    deleted = client.delete_provisioned_concurrency_config(FunctionName=function, Qualifier=version)
    assert deleted["ResponseMetadata"]["HTTPStatusCode"] == 204  # deleting a config that is not there succeeds
    client.put_function_concurrency(FunctionName=function, ReservedConcurrentExecutions=1)
    with pytest.raises(client.exceptions.InvalidParameterValueException) as caught:
        client.put_provisioned_concurrency_config(
            FunctionName=function, Qualifier=version, ProvisionedConcurrentExecutions=2
        )
    assert error(caught)[1] == (
        "Requested Provisioned Concurrency should not be greater than the reservedConcurrentExecution for function"
    )
    client.delete_function_concurrency(FunctionName=function)
    with pytest.raises(client.exceptions.InvalidParameterValueException) as caught:
        client.put_provisioned_concurrency_config(
            FunctionName=function, Qualifier=version, ProvisionedConcurrentExecutions=1000
        )
    assert error(caught)[1] == (
        "Specified ConcurrentExecutions for function decreases account's UnreservedConcurrentExecution below its "
        "minimum value of [100]."
    )


def test_alias_on_an_already_provisioned_version_conflicts(client: Any, function: str) -> None:
    version = publish(client, function)
    alias = unique("live")
    client.create_alias(FunctionName=function, Name=alias, FunctionVersion=version)
    client.put_provisioned_concurrency_config(
        FunctionName=function, Qualifier=version, ProvisionedConcurrentExecutions=1
    )
    with pytest.raises(client.exceptions.ResourceConflictException) as caught:
        client.put_provisioned_concurrency_config(
            FunctionName=function, Qualifier=alias, ProvisionedConcurrentExecutions=1
        )
    assert error(caught)[1] == (
        "Alias can't be used for Provisioned Concurrency configuration on an already Provisioned version"
    )
    client.delete_function(FunctionName=function)


def test_failed_init_marks_the_provisioned_config_failed(client: Any) -> None:
    function = create_function(client, {"app.py": FAILING_INIT})
    version = publish(client, function)
    client.put_provisioned_concurrency_config(
        FunctionName=function, Qualifier=version, ProvisionedConcurrentExecutions=1
    )

    def failed() -> dict[str, Any] | None:
        config: dict[str, Any] = client.get_provisioned_concurrency_config(FunctionName=function, Qualifier=version)
        return config if config["Status"] == "FAILED" else None

    config = wait_until(failed, timeout=60)
    assert "init broke" in config["StatusReason"] and config["AllocatedProvisionedConcurrentExecutions"] == 0


def test_provisioned_environments_are_started_again_after_a_restart(fresh_server: Server) -> None:
    client = fresh_server.start().lambda_client()
    function = create_function(client, {"app.py": APP})
    version = publish(client, function)
    client.put_provisioned_concurrency_config(
        FunctionName=function, Qualifier=version, ProvisionedConcurrentExecutions=1
    )
    wait_until(lambda: ready(client, function, version), timeout=60)
    fresh_server.stop()
    client = fresh_server.start().lambda_client()
    wait_until(lambda: ready(client, function, version), timeout=60)
    response, payload = invoke_json(client, function, Qualifier=version, LogType="Tail")
    assert payload == {"initialization_type": "provisioned-concurrency"}
    assert "Init Duration" not in report_line(response)


def test_provisioned_concurrency_through_the_aws_cli(server: Server, client: Any, function: str) -> None:
    version = publish(client, function)
    put = aws_json(server, "put-provisioned-concurrency-config", "--function-name", function, "--qualifier", version,
                   "--provisioned-concurrent-executions", "1")  # fmt: skip
    assert (put["Status"], put["RequestedProvisionedConcurrentExecutions"]) == ("IN_PROGRESS", 1)
    wait_until(lambda: aws_json(server, "get-provisioned-concurrency-config", "--function-name", function,
                                "--qualifier", version)["Status"] == "READY", timeout=60, interval=0.5)  # fmt: skip
    listed = aws_json(server, "list-provisioned-concurrency-configs", "--function-name", function)
    assert listed["ProvisionedConcurrencyConfigs"][0]["FunctionArn"] == f"{ARN}{function}:{version}"
    assert aws_json(server, "delete-provisioned-concurrency-config", "--function-name", function,
                    "--qualifier", version) is None  # fmt: skip
    result = server.aws("lambda", "get-provisioned-concurrency-config", "--function-name", function,
                        "--qualifier", version)  # fmt: skip
    assert ("An error occurred (ProvisionedConcurrencyConfigNotFoundException) when calling the "
            "GetProvisionedConcurrencyConfig operation: No Provisioned Concurrency Config found for this function"
            ) in result.stderr  # fmt: skip
    result = server.aws("lambda", "put-provisioned-concurrency-config", "--function-name", function,
                        "--qualifier", "$LATEST", "--provisioned-concurrent-executions", "1")  # fmt: skip
    assert (
        "(InvalidParameterValueException) when calling the PutProvisionedConcurrencyConfig operation: "
        "Provisioned Concurrency Configs cannot be applied to unpublished function versions." in result.stderr
    )
    result = server.aws("lambda", "list-provisioned-concurrency-configs", "--function-name", "doesnotexist")
    assert f"Function not found: {ARN}doesnotexist" in result.stderr
