"""Code signing, recursion and runtime management settings through boto3 and the aws cli, as tools call them."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.support import ECHO_APP, Server, cli_failure, create_function, error, function_arn

CSC = "arn:aws:lambda:us-east-1:000000000000:code-signing-config:csc-0123456789abcdef0"
RUNTIME = "arn:aws:lambda:us-east-1::runtime:0123456789abcdef0123456789abcdef"


def body(response: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in response.items() if key != "ResponseMetadata"}


def test_a_function_has_no_code_signing_config(client: Any, function: str) -> None:
    assert body(client.get_function_code_signing_config(FunctionName=function)) == {}
    deleted = client.delete_function_code_signing_config(FunctionName=function)
    assert deleted["ResponseMetadata"]["HTTPStatusCode"] == 204


def test_putting_a_code_signing_config_names_it_as_not_found(client: Any, function: str) -> None:
    with pytest.raises(ClientError) as caught:
        client.put_function_code_signing_config(FunctionName=function, CodeSigningConfigArn=CSC)
    assert error(caught) == (
        "CodeSigningConfigNotFoundException",
        f"The code signing configuration cannot be found. Check that the provided configuration is not deleted: {CSC}.",
        404,
    )


def test_recursion_defaults_to_terminate_and_keeps_what_is_put(client: Any, function: str) -> None:
    assert body(client.get_function_recursion_config(FunctionName=function)) == {"RecursiveLoop": "Terminate"}
    assert body(client.put_function_recursion_config(FunctionName=function, RecursiveLoop="Allow")) == {
        "RecursiveLoop": "Allow"
    }
    assert body(client.get_function_recursion_config(FunctionName=function)) == {"RecursiveLoop": "Allow"}


def test_runtime_updates_default_to_auto_and_keep_what_is_put(client: Any, function: str) -> None:
    assert body(client.get_runtime_management_config(FunctionName=function)) == {
        "UpdateRuntimeOn": "Auto", "FunctionArn": function_arn(function)
    }  # fmt: skip
    put = client.put_runtime_management_config(FunctionName=function, UpdateRuntimeOn="Manual",
                                               RuntimeVersionArn=RUNTIME)  # fmt: skip
    assert body(put) == {"UpdateRuntimeOn": "Manual", "FunctionArn": f"{function_arn(function)}:$LATEST",
                         "RuntimeVersionArn": RUNTIME}  # fmt: skip
    got = client.get_runtime_management_config(FunctionName=function)
    assert body(got) == {
        "UpdateRuntimeOn": "Manual",
        "FunctionArn": function_arn(function),
        "RuntimeVersionArn": RUNTIME,
    }
    client.put_runtime_management_config(FunctionName=function, UpdateRuntimeOn="FunctionUpdate")
    assert "RuntimeVersionArn" not in client.get_runtime_management_config(FunctionName=function)


def test_missing_functions_are_404(client: Any) -> None:
    name = "no-such-function"
    expected = ("ResourceNotFoundException", f"Function not found: {function_arn(name)}", 404)
    calls: list[Callable[[], Any]] = [
        lambda: client.get_function_code_signing_config(FunctionName=name),
        lambda: client.delete_function_code_signing_config(FunctionName=name),
        lambda: client.get_function_recursion_config(FunctionName=name),
        lambda: client.put_function_recursion_config(FunctionName=name, RecursiveLoop="Allow"),
        lambda: client.get_runtime_management_config(FunctionName=name),
        lambda: client.put_runtime_management_config(FunctionName=name, UpdateRuntimeOn="Auto"),
    ]
    for call in calls:
        with pytest.raises(ClientError) as caught:
            call()
        assert error(caught) == expected


def test_modes_are_validated(client: Any, function: str) -> None:
    with pytest.raises(ClientError) as caught:
        client.put_function_recursion_config(FunctionName=function, RecursiveLoop="Sometimes")
    assert error(caught) == (
        "ValidationException",
        "1 validation error detected: Value 'Sometimes' at 'recursiveLoop' failed to satisfy constraint: Member must "
        "satisfy enum value set: [Allow, Terminate]",
        400,
    )


def test_a_deleted_function_takes_its_settings_along(client: Any) -> None:
    name = create_function(client, {"app.py": ECHO_APP})
    client.put_function_recursion_config(FunctionName=name, RecursiveLoop="Allow")
    client.delete_function(FunctionName=name)
    create_function(client, {"app.py": ECHO_APP}, name=name)
    assert client.get_function_recursion_config(FunctionName=name)["RecursiveLoop"] == "Terminate"


def test_aws_cli_settings(server: Server, function: str) -> None:
    def run(*args: str) -> dict[str, Any]:
        result = server.aws("lambda", *args, "--function-name", function)
        assert result.returncode == 0, result.stderr
        return dict(json.loads(result.stdout)) if result.stdout.strip() else {}

    assert run("get-function-code-signing-config") == {}
    assert run("delete-function-code-signing-config") == {}
    assert run("get-function-recursion-config") == {"RecursiveLoop": "Terminate"}
    assert run("put-function-recursion-config", "--recursive-loop", "Allow") == {"RecursiveLoop": "Allow"}
    assert run("get-runtime-management-config")["UpdateRuntimeOn"] == "Auto"
    assert run("put-runtime-management-config", "--update-runtime-on", "FunctionUpdate")["UpdateRuntimeOn"] == (
        "FunctionUpdate"
    )
    put_csc = server.aws("lambda", "put-function-code-signing-config", "--function-name", function,
                         "--code-signing-config-arn", CSC)  # fmt: skip
    assert "(CodeSigningConfigNotFoundException)" in cli_failure(put_csc)
    missing = server.aws("lambda", "get-function-recursion-config", "--function-name", "no-such-function")
    assert f"Function not found: {function_arn('no-such-function')}" in cli_failure(missing)
