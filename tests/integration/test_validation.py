"""Malformed requests get AWS's error code, status and exact message: through boto3 and the aws cli where they can
send the request, and as raw SigV4-signed HTTP where botocore would refuse to send it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from tests.support import ACCESS_KEY, REGION, ROLE, SECRET_KEY, Server, create_function, make_zip, unique

HELLO = "def handler(event, context):\n    return event\n"
ZIP = make_zip({"app.py": HELLO})


def signed_request(
    server: Server,
    method: str,
    path: str,
    body: bytes | dict[str, Any] = b"",
    *,
    secret: str = SECRET_KEY,
    key: str = ACCESS_KEY,
) -> httpx.Response:
    """Send a request signed exactly as botocore signs one, whatever its content (boto3 validates before sending)."""
    data = json.dumps(body).encode() if isinstance(body, dict) else body
    headers = {"Content-Type": "application/json"} if data else {}
    request = AWSRequest(method=method, url=server.url + path, data=data, headers=headers)
    SigV4Auth(Credentials(key, secret), "lambda", REGION).add_auth(request)
    return httpx.request(method, server.url + path, content=data, headers=dict(request.headers.items()), timeout=30)


def _create_body(**members: Any) -> dict[str, Any]:
    import base64

    return {"FunctionName": unique(), "Runtime": "python3.12", "Role": ROLE, "Handler": "app.handler",
            "Code": {"ZipFile": base64.b64encode(ZIP).decode()}, **members}  # fmt: skip


def _error(response: httpx.Response) -> tuple[int, str, dict[str, Any]]:
    return response.status_code, response.headers.get("x-amzn-ErrorType", ""), response.json()


def _client_error(call: Any, **kwargs: Any) -> dict[str, Any]:
    with pytest.raises(ClientError) as caught:
        call(**kwargs)
    response: dict[str, Any] = dict(caught.value.response)
    return response


def _create(client: Any, **members: Any) -> dict[str, Any]:
    arguments = {"FunctionName": unique(), "Runtime": "python3.12", "Role": ROLE, "Handler": "app.handler",
                 "Code": {"ZipFile": ZIP}, **members}  # fmt: skip
    return _client_error(client.create_function, **arguments)


# -- missing members and client-side checks: raw signed HTTP ------------------------------------------------------


def test_missing_required_members_are_listed_as_null(server: Server) -> None:
    status, code, body = _error(signed_request(server, "POST", "/2015-03-31/functions", {"Runtime": "python3.12"}))
    assert (status, code) == (400, "ValidationException")
    assert body == {
        "message": "3 validation errors detected: "
        "Value null at 'functionName' failed to satisfy constraint: Member must not be null; "
        "Value null at 'role' failed to satisfy constraint: Member must not be null; "
        "Value null at 'code' failed to satisfy constraint: Member must not be null"
    }


@pytest.mark.parametrize(
    ("member", "value", "message"),
    [
        ("MemorySize", 64, "Value '64' at 'memorySize' failed to satisfy constraint: "
                           "Member must have value greater than or equal to 128"),
        ("Timeout", 0, "Value '0' at 'timeout' failed to satisfy constraint: "
                       "Member must have value greater than or equal to 1"),
        ("FunctionName", "", "Value '' at 'functionName' failed to satisfy constraint: "
                             "Member must have length greater than or equal to 1"),
    ],
)  # fmt: skip
def test_values_botocore_refuses_locally_are_validation_errors_on_the_server(
    server: Server, member: str, value: Any, message: str
) -> None:
    status, code, body = _error(
        signed_request(server, "POST", "/2015-03-31/functions", _create_body(**{member: value}))
    )
    assert (status, code) == (400, "ValidationException")
    assert message in body["message"]
    assert "Type" not in body


def test_a_body_that_is_not_json_is_400(server: Server) -> None:
    status, code, body = _error(signed_request(server, "POST", "/2015-03-31/functions", b"{not json"))
    assert status == 400
    assert code == "InvalidRequestContentException"
    assert body["message"].startswith("Could not parse request body into json")


def test_a_member_of_the_wrong_json_type_is_400_not_500(server: Server) -> None:
    status, code, _ = _error(signed_request(server, "POST", "/2015-03-31/functions", _create_body(Code="abc")))
    assert (status, code) == (400, "InvalidRequestContentException")
    status, code, _ = _error(signed_request(server, "POST", "/2015-03-31/functions", _create_body(MemorySize="big")))
    assert (status, code) == (400, "InvalidRequestContentException")


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/nothing"), ("GET", "/2015-03-31/functions/f/bogus"), ("POST", "/2016-08-19/account-settings")],
)
def test_an_unknown_path_is_a_json_404(server: Server, method: str, path: str) -> None:
    status, code, body = _error(signed_request(server, method, path))
    assert (status, code) == (404, "UnknownOperationException")
    assert path in body["message"]


# -- names ------------------------------------------------------------------------------------------------------


def test_a_65_character_name_is_invalid_parameter_value_with_the_validation_text(client: Any) -> None:
    name = "n" * 65
    response = _create(client, FunctionName=name)
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert response["Error"] == {
        "Code": "InvalidParameterValueException",
        "Message": f"1 validation error detected: Value '{name}' at 'functionName' failed to satisfy constraint: "
        "Member must have length less than or equal to 64",
    }


def test_a_name_outside_the_pattern_is_a_validation_exception(client: Any) -> None:
    response = _create(client, FunctionName="bad.name")
    assert response["Error"]["Code"] == "ValidationException"
    assert response["Error"]["Message"].startswith(
        "1 validation error detected: Value 'bad.name' at 'functionName' failed to satisfy constraint: "
        "Member must satisfy regular expression pattern: (arn:(aws[a-zA-Z-]*)?:lambda:)?"
    )


# -- runtime ----------------------------------------------------------------------------------------------------


def test_an_unknown_runtime_is_invalid_parameter_value_with_the_enum(client: Any) -> None:
    with pytest.raises(client.exceptions.InvalidParameterValueException) as caught:
        client.create_function(FunctionName=unique(), Runtime="PYTHON3.9", Role=ROLE, Handler="app.handler",
                               Code={"ZipFile": ZIP})  # fmt: skip
    message = caught.value.response["Error"]["Message"]
    assert message.startswith(
        "Value PYTHON3.9 at 'runtime' failed to satisfy constraint: Member must satisfy enum value set: ["
    )
    assert "python3.12" in message
    assert message.endswith("] or be a valid ARN")
    assert caught.value.response["Type"] == "User"


def test_a_blocked_runtime_is_no_longer_supported(client: Any) -> None:
    response = _create(client, Runtime="python3.7")
    assert response["Error"] == {
        "Code": "InvalidParameterValueException",
        "Message": "The runtime parameter of python3.7 is no longer supported for creating or updating AWS Lambda "
        "functions. We recommend you use a supported runtime while creating or updating functions.",
    }


# -- limits and patterns ----------------------------------------------------------------------------------------


def test_memory_and_timeout_above_the_limits(client: Any) -> None:
    response = _create(client, MemorySize=10241, Timeout=901)
    assert response["Error"]["Code"] == "ValidationException"
    message = response["Error"]["Message"]
    assert message.startswith("2 validation errors detected: ")
    assert (
        "Value '901' at 'timeout' failed to satisfy constraint: Member must have value less than or equal to 900"
        in (message)
    )
    assert "Value '10241' at 'memorySize' failed to satisfy constraint: Member must have value less than or equal to " \
           "10240" in message  # fmt: skip
    assert "; " in message


def test_the_memory_and_timeout_limits_themselves_are_accepted(client: Any) -> None:
    name = create_function(client, {"app.py": HELLO}, runtime="python3.12", MemorySize=10240, Timeout=900)
    config = client.get_function_configuration(FunctionName=name)
    assert (config["MemorySize"], config["Timeout"]) == (10240, 900)


def test_a_handler_with_whitespace(client: Any) -> None:
    response = _create(client, Handler="app handler")
    assert response["Error"] == {
        "Code": "ValidationException",
        "Message": "1 validation error detected: Value 'app handler' at 'handler' failed to satisfy constraint: "
        "Member must satisfy regular expression pattern: [^\\s]+",
    }


def test_a_role_that_is_not_a_role_arn(client: Any) -> None:
    response = _create(client, Role="r1")
    assert response["Error"]["Message"] == (
        "1 validation error detected: Value 'r1' at 'role' failed to satisfy constraint: Member must satisfy "
        "regular expression pattern: arn:(aws[a-zA-Z-]*)?:iam::\\d{12}:role/?[a-zA-Z_0-9+=,.@\\-_/]+"
    )


def test_environment_over_4kb(client: Any) -> None:
    response = _create(client, Environment={"Variables": {"BIG": "x" * 4100}})
    assert response["Error"]["Code"] == "InvalidParameterValueException"
    assert response["Error"]["Message"] == (
        "Lambda was unable to configure your environment variables because the environment variables you have "
        f'provided exceeded the 4KB limit. String measured: {{"BIG":"{"x" * 4100}"}}'
    )


def test_reserved_environment_keys(client: Any) -> None:
    response = _create(client, Environment={"Variables": {"AWS_REGION": "eu-west-1"}})
    assert response["Error"] == {
        "Code": "InvalidParameterValueException",
        "Message": "Lambda was unable to configure your environment variables because the environment variables "
        "you have provided contains reserved keys that are currently not supported for modification. "
        "Reserved keys used in this request: AWS_REGION",
    }


def test_an_environment_key_outside_the_pattern_is_not_echoed(client: Any) -> None:
    response = _create(client, Environment={"Variables": {"1KEY": "secret-value"}})
    assert response["Error"] == {
        "Code": "ValidationException",
        "Message": "1 validation error detected: Value at 'environment.variables' failed to satisfy constraint: "
        "Map keys must satisfy constraint: [Member must satisfy regular expression pattern: [a-zA-Z]([a-zA-Z0-9_])+]",
    }


def test_a_zip_that_is_not_a_zip(client: Any) -> None:
    response = _create(client, Code={"ZipFile": b"definitely not a zip"})
    assert response["Error"] == {
        "Code": "InvalidParameterValueException",
        "Message": "Could not unzip uploaded file. Please check your file, then try to upload again.",
    }


def test_update_configuration_is_validated_too(client: Any) -> None:
    name = create_function(client, {"app.py": HELLO})
    response = _client_error(client.update_function_configuration, FunctionName=name, Timeout=901)
    assert response["Error"]["Code"] == "ValidationException"
    response = _client_error(client.update_function_configuration, FunctionName=name, Runtime="python3.7")
    assert response["Error"]["Code"] == "InvalidParameterValueException"
    assert client.get_function_configuration(FunctionName=name)["Timeout"] == 3


# -- not found and conflict -------------------------------------------------------------------------------------


def test_not_found_is_the_modeled_exception_with_the_function_arn(client: Any) -> None:
    name = unique()
    with pytest.raises(client.exceptions.ResourceNotFoundException) as caught:
        client.get_function(FunctionName=name)
    response = caught.value.response
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 404
    assert response["Error"]["Message"] == f"Function not found: arn:aws:lambda:us-east-1:000000000000:function:{name}"
    assert response["Message"] == response["Error"]["Message"]
    assert response["Type"] == "User"


def test_not_found_with_a_qualifier_names_it(client: Any) -> None:
    name = unique()
    response = _client_error(client.get_function_configuration, FunctionName=name, Qualifier="7")
    assert response["Error"]["Message"] == (
        f"Function not found: arn:aws:lambda:us-east-1:000000000000:function:{name}:7"
    )


def test_conflict_is_function_already_exist(client: Any) -> None:
    name = create_function(client, {"app.py": HELLO})
    with pytest.raises(client.exceptions.ResourceConflictException) as caught:
        client.create_function(FunctionName=name, Runtime="python3.12", Role=ROLE, Handler="app.handler",
                               Code={"ZipFile": ZIP})  # fmt: skip
    response = caught.value.response
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 409
    assert response["Error"]["Message"] == f"Function already exist: {name}"
    assert response["message"] == f"Function already exist: {name}"


def test_aws_cli_reports_the_error_code_and_message(server: Server, tmp_path: Path) -> None:
    name = unique()
    result = server.aws("lambda", "get-function", "--function-name", name)
    assert result.returncode != 0
    assert (
        "An error occurred (ResourceNotFoundException) when calling the GetFunction operation: "
        f"Function not found: arn:aws:lambda:us-east-1:000000000000:function:{name}"
    ) in result.stderr
    package = tmp_path / "function.zip"
    package.write_bytes(ZIP)
    result = server.aws("lambda", "create-function", "--function-name", unique(), "--runtime", "python3.12",
                        "--handler", "app.handler", "--role", ROLE, "--zip-file", f"fileb://{package}",
                        "--timeout", "901")  # fmt: skip
    assert result.returncode != 0
    assert (
        "An error occurred (ValidationException) when calling the CreateFunction operation: 1 validation error "
        "detected: Value '901' at 'timeout' failed to satisfy constraint: Member must have value less than or equal "
        "to 900"
    ) in result.stderr
