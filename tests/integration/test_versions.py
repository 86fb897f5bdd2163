"""Versions through boto3 and the aws cli: publish, list, invoke, get and delete qualified versions, AWS's errors."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.support import ROLE, Server, create_function, error, invoke_json, make_zip, unique

ARN = "arn:aws:lambda:us-east-1:000000000000:function:"


def app(marker: str) -> dict[str, str]:
    return {"app.py": (
        "import os\n"
        "def handler(event, context):\n"
        f"    return {{'code': {marker!r}, 'version': os.environ['AWS_LAMBDA_FUNCTION_VERSION'],\n"
        "            'arn': context.invoked_function_arn}\n"
    )}  # fmt: skip


def update_code(client: Any, name: str, marker: str, **extra: Any) -> dict[str, Any]:
    response: dict[str, Any] = client.update_function_code(FunctionName=name, ZipFile=make_zip(app(marker)), **extra)
    client.get_waiter("function_updated_v2").wait(FunctionName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    return response


@pytest.fixture
def function(client: Any) -> str:
    return create_function(client, app("one"), Description="first")


def test_publish_snapshots_latest_as_version_1(client: Any, function: str) -> None:
    response = client.publish_version(FunctionName=function)
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert (response["Version"], response["FunctionArn"]) == ("1", f"{ARN}{function}:1")
    assert (response["State"], response["Description"]) == ("Active", "first")
    latest = client.get_function_configuration(FunctionName=function)
    assert response["CodeSha256"] == latest["CodeSha256"] and response["RevisionId"] != latest["RevisionId"]


def test_publishing_without_a_change_returns_the_newest_version(client: Any, function: str) -> None:
    first = client.publish_version(FunctionName=function, Description="release")
    again = client.publish_version(FunctionName=function)
    assert (again["Version"], again["RevisionId"], again["Description"]) == ("1", first["RevisionId"], "release")
    update_code(client, function, "two")
    assert client.publish_version(FunctionName=function)["Version"] == "2"


def test_a_version_keeps_its_code_and_runs_as_itself(client: Any, function: str) -> None:
    client.publish_version(FunctionName=function)
    update_code(client, function, "two")
    response, body = invoke_json(client, function, Qualifier="1")
    assert response["ExecutedVersion"] == "1"
    assert body == {"code": "one", "version": "1", "arn": f"{ARN}{function}:1"}
    response, body = invoke_json(client, function)
    assert (response["ExecutedVersion"], body["code"], body["version"]) == ("$LATEST", "two", "$LATEST")
    response, body = invoke_json(client, f"{function}:1")
    assert (response["ExecutedVersion"], body["code"]) == ("1", "one")


def test_get_by_version_has_a_qualified_arn(client: Any, function: str) -> None:
    client.publish_version(FunctionName=function)
    configuration = client.get_function(FunctionName=function, Qualifier="1")["Configuration"]
    assert (configuration["Version"], configuration["FunctionArn"]) == ("1", f"{ARN}{function}:1")
    assert client.get_function_configuration(FunctionName=f"{function}:1")["LastUpdateStatus"] == "Successful"
    with pytest.raises(ClientError) as caught:
        client.get_function_configuration(FunctionName=function, Qualifier="9")
    assert error(caught) == ("ResourceNotFoundException", f"Function not found: {ARN}{function}:9", 404)
    with pytest.raises(ClientError) as caught:
        client.invoke(FunctionName=function, Qualifier="9")
    assert error(caught) == ("ResourceNotFoundException", f"Function not found: {ARN}{function}:9", 404)


def test_list_versions_pages_latest_first_with_qualified_arns(client: Any, function: str) -> None:
    client.publish_version(FunctionName=function)
    update_code(client, function, "two")
    client.publish_version(FunctionName=function)
    first = client.list_versions_by_function(FunctionName=function, MaxItems=2)
    assert [v["Version"] for v in first["Versions"]] == ["$LATEST", "1"]
    assert first["Versions"][0]["FunctionArn"] == f"{ARN}{function}:$LATEST"
    assert "State" not in first["Versions"][0]
    rest = client.list_versions_by_function(FunctionName=function, Marker=first["NextMarker"])
    assert [v["Version"] for v in rest["Versions"]] == ["2"] and "NextMarker" not in rest


def test_version_numbers_are_not_reused_after_a_delete(client: Any, function: str) -> None:
    client.publish_version(FunctionName=function)
    update_code(client, function, "two")
    client.publish_version(FunctionName=function)
    client.delete_function(FunctionName=function, Qualifier="2")
    with pytest.raises(ClientError) as caught:
        client.get_function(FunctionName=function, Qualifier="2")
    assert error(caught)[0] == "ResourceNotFoundException"
    update_code(client, function, "three")
    assert client.publish_version(FunctionName=function)["Version"] == "3"


def test_publish_preconditions(client: Any, function: str) -> None:
    latest = client.get_function_configuration(FunctionName=function)
    with pytest.raises(ClientError) as caught:
        client.publish_version(FunctionName=function, CodeSha256="abc")
    message = (
        f"CodeSHA256 (abc) is different from current CodeSHA256 in $LATEST ({latest['CodeSha256']}). "
        "Please try again with the CodeSHA256 in $LATEST."
    )
    assert error(caught) == ("InvalidParameterValueException", message, 400)
    with pytest.raises(ClientError) as caught:
        client.publish_version(FunctionName=function, RevisionId="stale")
    assert error(caught) == ("PreconditionFailedException",
                             "The Revision Id provided does not match the latest Revision Id. "
                             "Call the GetFunction/GetAlias API to retrieve the latest Revision Id", 412)  # fmt: skip
    published = client.publish_version(
        FunctionName=function, CodeSha256=latest["CodeSha256"], RevisionId=latest["RevisionId"]
    )
    assert published["Version"] == "1"
    with pytest.raises(ClientError) as caught:
        client.publish_version(FunctionName=unique("missing"))
    assert error(caught)[0] == "ResourceNotFoundException"


def test_publish_flag_on_create_and_update_code(client: Any) -> None:
    name = unique()
    created = client.create_function(FunctionName=name, Runtime="python3.11", Role=ROLE, Handler="app.handler",
                                     Code={"ZipFile": make_zip(app("one"))}, Publish=True)  # fmt: skip
    assert (created["Version"], created["FunctionArn"]) == ("1", f"{ARN}{name}:1")
    updated = client.update_function_code(FunctionName=name, ZipFile=make_zip(app("two")), Publish=True)
    assert (updated["Version"], updated["FunctionArn"]) == ("2", f"{ARN}{name}:2")
    assert invoke_json(client, name, Qualifier="2")[1]["code"] == "two"


def test_a_published_version_cannot_be_updated(client: Any, function: str) -> None:
    client.publish_version(FunctionName=function)
    message = ("Current operation does not support versions other than $LATEST. "
               "Please set the version to $LATEST or do not set a version in your request.")  # fmt: skip
    with pytest.raises(ClientError) as caught:
        client.update_function_configuration(FunctionName=f"{function}:1", Timeout=9)
    assert error(caught) == ("InvalidParameterValueException", message, 400)
    with pytest.raises(ClientError) as caught:
        client.update_function_code(FunctionName=f"{function}:1", ZipFile=make_zip(app("x")))
    assert error(caught) == ("InvalidParameterValueException", message, 400)


def test_list_functions_with_all_versions(client: Any, function: str) -> None:
    client.publish_version(FunctionName=function)
    arns: list[str] = []
    for page in client.get_paginator("list_functions").paginate(FunctionVersion="ALL"):
        arns += [f["FunctionArn"] for f in page["Functions"] if f["FunctionName"] == function]
    assert arns == [f"{ARN}{function}:$LATEST", f"{ARN}{function}:1"]
    plain = [f["FunctionArn"] for f in client.list_functions()["Functions"] if f["FunctionName"] == function]
    assert plain in ([], [f"{ARN}{function}"])  # unqualified (the first page may not reach it)


def test_aws_cli_publishes_lists_and_reports_errors(server: Server, client: Any, function: str) -> None:
    published = server.aws("lambda", "publish-version", "--function-name", function, "--description", "cli")
    assert published.returncode == 0, published.stderr
    assert json.loads(published.stdout)["Version"] == "1"
    listed = server.aws("lambda", "list-versions-by-function", "--function-name", function)
    assert [v["Version"] for v in json.loads(listed.stdout)["Versions"]] == ["$LATEST", "1"]
    failed = server.aws("lambda", "publish-version", "--function-name", function, "--code-sha256", "nope")
    assert failed.returncode != 0
    assert "InvalidParameterValueException" in failed.stderr and "CodeSHA256 (nope) is different" in failed.stderr
    stale = server.aws("lambda", "publish-version", "--function-name", function, "--revision-id", "stale")
    assert "PreconditionFailedException" in stale.stderr
    missing = server.aws("lambda", "get-function", "--function-name", function, "--qualifier", "7")
    assert f"Function not found: {ARN}{function}:7" in missing.stderr
    invoked = server.aws("lambda", "invoke", "--function-name", function, "--qualifier", "1", "/dev/stdout")
    assert '"ExecutedVersion": "1"' in invoked.stdout
    deleted = server.aws("lambda", "delete-function", "--function-name", function, "--qualifier", "1")
    assert deleted.returncode == 0, deleted.stderr
