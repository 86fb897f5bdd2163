"""Function URLs: the config operations through boto3 and the aws cli, and the URL answering HTTP (curl, httpx)."""

from __future__ import annotations

import base64
import json
import subprocess
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from tests.support import ACCESS_KEY, REGION, SECRET_KEY, Server, create_function, error, function_arn

APP = """
import base64, json

def handler(event, context):
    path = event["rawPath"]
    if path == "/plain":
        return {"message": "hi"}
    if path == "/string":
        return "Hello, world!"
    if path == "/fail":
        raise ValueError("boom")
    if path == "/binary":
        return {"statusCode": 200, "headers": {"content-type": "application/octet-stream"},
                "body": base64.b64encode(b"\\x00\\xff").decode(), "isBase64Encoded": True}
    event["invokedArn"] = context.invoked_function_arn
    return {"statusCode": 201, "headers": {"x-echo": "yes", "access-control-allow-origin": "mine"},
            "cookies": ["a=1; Path=/", "b=2"], "body": json.dumps(event)}
"""
NOT_EXIST = "Function does not exist"
NO_RESOURCE = "The resource you requested does not exist."
QUALIFIER_PATTERN = r"((?!^\d+$)^[0-9a-zA-Z-_]+$)"


@pytest.fixture
def function(client: Any) -> str:
    return create_function(client, {"app.py": APP})


def call(server: Server, url: str, path: str = "/", method: str = "GET", **extra: Any) -> httpx.Response:
    """A request to a function URL, sent to the server with the URL's host in the Host header."""
    headers = {"host": urlsplit(url).netloc, **extra.pop("headers", {})}
    return httpx.request(method, f"{server.url}{path}", headers=headers, timeout=60, **extra)


# -- configs --------------------------------------------------------------------------------------------------------
def test_create_get_update_list_delete(client: Any, server: Server, function: str) -> None:
    created = client.create_function_url_config(FunctionName=function, AuthType="NONE")
    assert created["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert created["FunctionArn"] == function_arn(function)
    assert created["AuthType"] == "NONE" and created["InvokeMode"] == "BUFFERED"
    assert "Cors" not in created and "LastModifiedTime" not in created
    url = urlsplit(created["FunctionUrl"])
    url_id, _, rest = url.netloc.partition(".")
    assert len(url_id) == 32 and url_id.isalnum() and url_id.islower()
    assert rest.startswith("lambda-url.us-east-1.localhost:") and url.path == "/"

    got = client.get_function_url_config(FunctionName=function_arn(function))
    assert got["FunctionUrl"] == created["FunctionUrl"] and got["CreationTime"] == created["CreationTime"]
    cors = {"AllowOrigins": ["https://example.com"], "AllowMethods": ["GET"], "MaxAge": 60}
    updated = client.update_function_url_config(FunctionName=function, AuthType="AWS_IAM", Cors=cors)
    assert updated["AuthType"] == "AWS_IAM" and updated["Cors"] == cors
    assert updated["FunctionUrl"] == created["FunctionUrl"] and updated["LastModifiedTime"] >= got["CreationTime"]

    listed = client.list_function_url_configs(FunctionName=function)["FunctionUrlConfigs"]
    assert [(c["FunctionUrl"], c["AuthType"], c["Cors"]) for c in listed] == [(created["FunctionUrl"], "AWS_IAM", cors)]
    assert client.delete_function_url_config(FunctionName=function)["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert client.list_function_url_configs(FunctionName=function)["FunctionUrlConfigs"] == []
    assert call(server, created["FunctionUrl"]).status_code == 403


def test_aws_errors(client: Any, function: str) -> None:
    client.create_function_url_config(FunctionName=function, AuthType="NONE")
    cases: list[tuple[Callable[[], object], tuple[str, str, int]]] = [
        (lambda: client.create_function_url_config(FunctionName=function, AuthType="NONE"),
         ("ResourceConflictException", f"Failed to create function url config for [functionArn = "
          f"{function_arn(function)}]. Error message:  FunctionUrlConfig exists for this Lambda function", 409)),
        (lambda: client.create_function_url_config(FunctionName="no-such-fn", AuthType="NONE"),
         ("ResourceNotFoundException", NOT_EXIST, 404)),
        (lambda: client.create_function_url_config(FunctionName=function, Qualifier="ghost", AuthType="NONE"),
         ("ResourceNotFoundException", NOT_EXIST, 404)),
        (lambda: client.get_function_url_config(FunctionName="no-such-fn"),
         ("ResourceNotFoundException", NO_RESOURCE, 404)),
        (lambda: client.get_function_url_config(FunctionName=function, Qualifier="ghost"),
         ("ResourceNotFoundException", NO_RESOURCE, 404)),
        (lambda: client.delete_function_url_config(FunctionName=function, Qualifier="ghost"),
         ("ResourceNotFoundException", NO_RESOURCE, 404)),
        (lambda: client.update_function_url_config(FunctionName=function, Qualifier="ghost", AuthType="NONE"),
         ("ResourceNotFoundException", NOT_EXIST, 404)),
        (lambda: client.list_function_url_configs(FunctionName="no-such-fn"),
         ("ResourceNotFoundException", NOT_EXIST, 404)),
        (lambda: client.get_function_url_config(FunctionName=function, Qualifier="1"),
         ("ValidationException", "1 validation error detected: Value '1' at 'qualifier' failed to satisfy "
          f"constraint: Member must satisfy regular expression pattern: {QUALIFIER_PATTERN}", 400)),
        (lambda: client.update_function_url_config(FunctionName=function, Cors={"AllowMethods": ["OPTIONS"]}),
         ("ValidationException", "1 validation error detected: Value '[OPTIONS]' at 'cors.allowMethods' failed to "
          "satisfy constraint: Member must satisfy constraint: [Member must have length less than or equal to 6]",
          400)),
    ]  # fmt: skip
    for operation, expected in cases:
        with pytest.raises(ClientError) as caught:
            operation()
        assert error(caught) == expected


def test_aws_cli_round_trip_and_messages(server: Server, function: str) -> None:
    created = server.aws("lambda", "create-function-url-config", "--function-name", function, "--auth-type", "NONE",
                         "--cors", json.dumps({"AllowOrigins": ["*"]}))  # fmt: skip
    assert created.returncode == 0, created.stderr
    document = json.loads(created.stdout)
    assert document["FunctionArn"] == function_arn(function) and document["Cors"] == {"AllowOrigins": ["*"]}
    again = server.aws("lambda", "create-function-url-config", "--function-name", function, "--auth-type", "NONE")
    assert (
        "An error occurred (ResourceConflictException) when calling the CreateFunctionUrlConfig operation: Failed to "
        f"create function url config for [functionArn = {function_arn(function)}]. Error message:  "
        "FunctionUrlConfig exists for this Lambda function" in again.stderr
    )
    listed = server.aws("lambda", "list-function-url-configs", "--function-name", function)
    assert json.loads(listed.stdout)["FunctionUrlConfigs"][0]["FunctionUrl"] == document["FunctionUrl"]
    updated = server.aws("lambda", "update-function-url-config", "--function-name", function, "--auth-type", "AWS_IAM")
    assert json.loads(updated.stdout)["AuthType"] == "AWS_IAM", updated.stderr
    assert server.aws("lambda", "delete-function-url-config", "--function-name", function).returncode == 0
    for args, message in [
        (("get-function-url-config", "--function-name", function), f"(ResourceNotFoundException) when calling the "
         f"GetFunctionUrlConfig operation: {NO_RESOURCE}"),
        (("delete-function-url-config", "--function-name", function), f"(ResourceNotFoundException) when calling "
         f"the DeleteFunctionUrlConfig operation: {NO_RESOURCE}"),
        (("update-function-url-config", "--function-name", function, "--qualifier", "ghost"),
         f"(ResourceNotFoundException) when calling the UpdateFunctionUrlConfig operation: {NOT_EXIST}"),
        (("create-function-url-config", "--function-name", "no-such-fn", "--auth-type", "NONE"),
         f"(ResourceNotFoundException) when calling the CreateFunctionUrlConfig operation: {NOT_EXIST}"),
        (("list-function-url-configs", "--function-name", "no-such-fn"),
         f"(ResourceNotFoundException) when calling the ListFunctionUrlConfigs operation: {NOT_EXIST}"),
        (("get-function-url-config", "--function-name", function, "--qualifier", "1"),
         "(ValidationException) when calling the GetFunctionUrlConfig operation: 1 validation error detected: "
         f"Value '1' at 'qualifier' failed to satisfy constraint: Member must satisfy regular expression pattern: "
         f"{QUALIFIER_PATTERN}"),
    ]:  # fmt: skip
        result = server.aws("lambda", *args)
        assert result.returncode != 0 and message in result.stderr, result.stderr


def test_a_deleted_function_takes_its_url_along(client: Any, server: Server) -> None:
    name = create_function(client, {"app.py": APP})
    url = client.create_function_url_config(FunctionName=name, AuthType="NONE")["FunctionUrl"]
    client.delete_function(FunctionName=name)
    create_function(client, {"app.py": APP}, name=name)
    assert client.list_function_url_configs(FunctionName=name)["FunctionUrlConfigs"] == []
    assert call(server, url).status_code == 403


# -- the URL itself --------------------------------------------------------------------------------------------------
@pytest.fixture
def url(client: Any, function: str) -> str:
    return str(client.create_function_url_config(FunctionName=function, AuthType="NONE")["FunctionUrl"])


def test_curl_reaches_the_returned_url(url: str) -> None:
    result = subprocess.run(
        ["curl", "-s", "-i", "--max-time", "60", "-X", "POST", f"{url}my/path?x=1&x=2&y=%20z",
         "-H", "content-type: application/json", "-H", "Cookie: c1=v1; c2=v2", "-d", '{"hello": "world"}'],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    head, _, body = result.stdout.partition("\n\n")  # text mode has turned CRLF into LF
    assert head.startswith("HTTP/1.1 201")
    lines = head.lower().splitlines()
    assert "x-echo: yes" in lines and "set-cookie: a=1; path=/" in lines and "set-cookie: b=2" in lines
    event = json.loads(body)
    assert event["rawPath"] == "/my/path" and event["rawQueryString"] == "x=1&x=2&y=%20z"
    assert event["queryStringParameters"] == {"x": "1,2", "y": " z"}
    assert event["cookies"] == ["c1=v1", "c2=v2"]
    assert event["body"] == '{"hello": "world"}' and event["isBase64Encoded"] is False
    assert event["requestContext"]["http"]["method"] == "POST"
    assert event["requestContext"]["accountId"] == "anonymous"
    assert event["requestContext"]["domainName"] == urlsplit(url).hostname
    assert event["headers"]["content-type"] == "application/json" and "cookie" not in event["headers"]


def test_plain_values_come_back_as_json(server: Server, url: str) -> None:
    plain = call(server, url, "/plain")
    assert (plain.status_code, plain.json()) == (200, {"message": "hi"})
    assert plain.headers["content-type"] == "application/json"
    string = call(server, url, "/string")
    assert (string.status_code, string.text) == (200, '"Hello, world!"')


def test_binary_bodies_go_in_and_out_base64(server: Server, url: str) -> None:
    echoed = call(server, url, "/echo", "PUT", content=b"\x00\x01\xfe", headers={"content-type": "image/png"})
    event = json.loads(echoed.text)
    assert event["isBase64Encoded"] is True and base64.b64decode(event["body"]) == b"\x00\x01\xfe"
    binary = call(server, url, "/binary")
    assert binary.content == b"\x00\xff" and binary.headers["content-type"] == "application/octet-stream"


def test_function_error_is_502(server: Server, url: str) -> None:
    failed = call(server, url, "/fail")
    assert (failed.status_code, failed.json()) == (502, {"Message": "Internal Server Error"})
    assert failed.headers["x-amzn-requestid"]


def test_cors_preflight_and_response_headers(client: Any, server: Server, function: str, url: str) -> None:
    without = call(server, url, "/", "OPTIONS", headers={"origin": "https://example.com",
                                                         "access-control-request-method": "GET"})  # fmt: skip
    assert without.status_code == 201  # no Cors config: the function answers OPTIONS itself
    client.update_function_url_config(FunctionName=function, Cors={
        "AllowOrigins": ["https://example.com"], "AllowMethods": ["GET", "POST"], "AllowHeaders": ["x-custom"],
        "ExposeHeaders": ["x-echo"], "MaxAge": 300, "AllowCredentials": True,
    })  # fmt: skip
    preflight = call(server, url, "/", "OPTIONS", headers={"origin": "https://example.com",
                                                           "access-control-request-method": "POST"})  # fmt: skip
    assert preflight.status_code == 200 and preflight.content == b""
    assert preflight.headers["access-control-allow-origin"] == "https://example.com"
    assert preflight.headers["access-control-allow-methods"] == "GET,POST"
    assert preflight.headers["access-control-allow-headers"] == "x-custom"
    assert preflight.headers["access-control-max-age"] == "300"
    assert preflight.headers["access-control-allow-credentials"] == "true"
    response = call(server, url, "/", headers={"origin": "https://example.com"})
    assert response.headers["access-control-allow-origin"] == "https://example.com"  # the function's "mine" replaced
    assert response.headers["access-control-expose-headers"] == "x-echo"
    other = call(server, url, "/", headers={"origin": "https://elsewhere.example"})
    assert "access-control-allow-origin" not in other.headers


def signed(url: str, path: str, method: str = "GET", secret: str = SECRET_KEY) -> dict[str, str]:
    request = AWSRequest(method=method, url=f"{url.rstrip('/')}{path}", data=b"")
    SigV4Auth(Credentials(ACCESS_KEY, secret), "lambda", REGION).add_auth(request)
    return {k.lower(): v for k, v in request.headers.items()}


def test_aws_iam_urls_need_a_valid_signature(client: Any, server: Server, function: str, url: str) -> None:
    client.update_function_url_config(FunctionName=function, AuthType="AWS_IAM")
    unsigned = call(server, url, "/")
    assert (unsigned.status_code, unsigned.json()) == (403, {"Message": "Forbidden"})
    forged = call(server, url, "/", headers=signed(url, "/", secret="wrong"))
    assert (forged.status_code, forged.json()) == (403, {"Message": "Forbidden"})
    ok = call(server, url, "/", headers=signed(url, "/"))
    assert ok.status_code == 201, ok.text
    context = json.loads(ok.text)["requestContext"]
    assert context["accountId"] == "000000000000" and context["authorizer"]["iam"]["accessKey"] == ACCESS_KEY


def test_an_unknown_url_is_forbidden(server: Server) -> None:
    response = call(server, f"http://{'z' * 32}.lambda-url.us-east-1.localhost:{server.port}/")
    assert (response.status_code, response.json()) == (403, {"Message": "Forbidden"})


def test_an_alias_url_invokes_the_alias(client: Any, server: Server, function: str) -> None:
    version = client.publish_version(FunctionName=function)["Version"]
    client.create_alias(FunctionName=function, Name="live", FunctionVersion=version)
    created = client.create_function_url_config(FunctionName=function, Qualifier="live", AuthType="NONE")
    assert created["FunctionArn"] == f"{function_arn(function)}:live"
    event = json.loads(call(server, created["FunctionUrl"], "/").text)
    assert event["invokedArn"] == f"{function_arn(function)}:live"
    client.delete_alias(FunctionName=function, Name="live")
    assert call(server, created["FunctionUrl"], "/").status_code == 403
