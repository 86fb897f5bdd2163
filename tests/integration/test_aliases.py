"""Aliases through boto3 and the aws cli: the five operations, RoutingConfig rules, weighted invokes, AWS's errors."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.integration.test_versions import ARN, app, update_code
from tests.support import Server, create_function, error, invoke_json, unique, wait_until

STALE = ("The Revision Id provided does not match the latest Revision Id. "
         "Call the GetFunction/GetAlias API to retrieve the latest Revision Id")  # fmt: skip


@pytest.fixture
def function(client: Any) -> str:
    """A function with versions 1 ("one") and 2 ("two")."""
    name = create_function(client, app("one"))
    client.publish_version(FunctionName=name)
    update_code(client, name, "two")
    client.publish_version(FunctionName=name)
    return name


def test_create_and_get_answer_alias_configuration(client: Any, function: str) -> None:
    created = client.create_alias(FunctionName=function, Name="live", FunctionVersion="1")
    assert created["ResponseMetadata"]["HTTPStatusCode"] == 201
    fetched = client.get_alias(FunctionName=function, Name="live")
    for response in (created, fetched):
        response.pop("ResponseMetadata")
    assert created == fetched == {"AliasArn": f"{ARN}{function}:live", "Name": "live", "FunctionVersion": "1",
                                  "Description": "", "RevisionId": created["RevisionId"]}  # fmt: skip


def test_create_errors(client: Any, function: str) -> None:
    client.create_alias(FunctionName=function, Name="live", FunctionVersion="1")
    with pytest.raises(ClientError) as caught:
        client.create_alias(FunctionName=function, Name="live", FunctionVersion="2")
    assert error(caught) == ("ResourceConflictException", f"Alias already exists: {ARN}{function}:live", 409)
    with pytest.raises(ClientError) as caught:
        client.create_alias(FunctionName=function, Name="other", FunctionVersion="7")
    assert error(caught) == ("ResourceNotFoundException", f"Function not found: {ARN}{function}:7", 404)
    with pytest.raises(ClientError) as caught:
        client.create_alias(FunctionName=function, Name="other", FunctionVersion="1",
                            RoutingConfig={"AdditionalVersionWeights": {"8": 0.5}})  # fmt: skip
    assert error(caught) == ("ResourceNotFoundException", f"Function not found: {ARN}{function}:8", 404)
    with pytest.raises(ClientError) as caught:
        client.get_alias(FunctionName=function, Name="gone")
    assert error(caught) == ("ResourceNotFoundException", f"Cannot find alias arn: {ARN}{function}:gone", 404)


@pytest.mark.parametrize(
    ("version", "weights", "message"),
    [
        ("1", {"2": 0.1, "3": 0.1}, "Number of items in AdditionalVersionWeights cannot be greater than 1"),
        ("1", {"1": 0.5},
         "Invalid function version 1. Function version 1 is already included in routing configuration."),
        ("$LATEST", {"1": 0.5}, "$LATEST is not supported for an alias pointing to more than 1 version"),
    ],
)  # fmt: skip
def test_routing_config_rules(
    client: Any, function: str, version: str, weights: dict[str, float], message: str
) -> None:
    with pytest.raises(ClientError) as caught:
        client.create_alias(FunctionName=function, Name="canary", FunctionVersion=version,
                            RoutingConfig={"AdditionalVersionWeights": weights})  # fmt: skip
    assert error(caught) == ("InvalidParameterValueException", message, 400)


def test_update_changes_what_is_given_and_renews_the_revision(client: Any, function: str) -> None:
    created = client.create_alias(FunctionName=function, Name="live", FunctionVersion="1", Description="d")
    updated = client.update_alias(FunctionName=function, Name="live", FunctionVersion="2",
                                  RevisionId=created["RevisionId"])  # fmt: skip
    assert (updated["FunctionVersion"], updated["Description"]) == ("2", "d")
    assert updated["RevisionId"] != created["RevisionId"]
    routed = client.update_alias(FunctionName=function, Name="live", FunctionVersion="1",
                                 RoutingConfig={"AdditionalVersionWeights": {"2": 0.25}})  # fmt: skip
    assert routed["RoutingConfig"] == {"AdditionalVersionWeights": {"2": 0.25}}
    cleared = client.update_alias(FunctionName=function, Name="live", RoutingConfig={})
    assert "RoutingConfig" not in cleared
    with pytest.raises(ClientError) as caught:
        client.update_alias(FunctionName=function, Name="live", RevisionId=created["RevisionId"])
    assert error(caught) == ("PreconditionFailedException", STALE, 412)
    with pytest.raises(ClientError) as caught:
        client.update_alias(FunctionName=function, Name="gone", FunctionVersion="1")
    assert error(caught) == ("ResourceNotFoundException", f"Alias not found: {ARN}{function}:gone", 404)


def test_delete_and_list(client: Any, function: str) -> None:
    for name, version in (("a", "1"), ("b", "2"), ("c", "1")):
        client.create_alias(FunctionName=function, Name=name, FunctionVersion=version)
    first = client.list_aliases(FunctionName=function, MaxItems=2)
    assert [a["Name"] for a in first["Aliases"]] == ["a", "b"]
    rest = client.list_aliases(FunctionName=function, Marker=first["NextMarker"])
    assert [a["Name"] for a in rest["Aliases"]] == ["c"] and "NextMarker" not in rest
    assert [a["Name"] for a in client.list_aliases(FunctionName=function, FunctionVersion="1")["Aliases"]] == ["a", "c"]
    deleted = client.delete_alias(FunctionName=function, Name="b")
    assert deleted["ResponseMetadata"]["HTTPStatusCode"] == 204
    client.delete_alias(FunctionName=function, Name="b")  # already gone: still 204
    assert [a["Name"] for a in client.list_aliases(FunctionName=function)["Aliases"]] == ["a", "c"]
    with pytest.raises(ClientError) as caught:
        client.list_aliases(FunctionName=unique("missing"))
    assert error(caught)[0] == "ResourceNotFoundException"


def test_invoke_through_an_alias_runs_its_version(client: Any, function: str) -> None:
    client.create_alias(FunctionName=function, Name="live", FunctionVersion="1")
    response, body = invoke_json(client, function, Qualifier="live")
    assert response["ExecutedVersion"] == "1"
    assert body == {"code": "one", "version": "1", "arn": f"{ARN}{function}:live"}
    configuration = client.get_function(FunctionName=function, Qualifier="live")["Configuration"]
    assert (configuration["Version"], configuration["FunctionArn"]) == ("1", f"{ARN}{function}:live")
    with pytest.raises(ClientError) as caught:
        client.invoke(FunctionName=function, Qualifier="gone")
    assert error(caught) == ("ResourceNotFoundException", f"Function not found: {ARN}{function}:gone", 404)
    with pytest.raises(ClientError) as caught:
        client.invoke(FunctionName=function, Qualifier="gone", InvocationType="Event")
    assert error(caught)[0] == "ResourceNotFoundException"


def test_weighted_routing_reports_the_executed_version(client: Any, function: str) -> None:
    client.create_alias(FunctionName=function, Name="canary", FunctionVersion="1",
                        RoutingConfig={"AdditionalVersionWeights": {"2": 0.5}})  # fmt: skip
    seen: set[str] = set()

    def both_versions_ran() -> bool:
        response, body = invoke_json(client, f"{function}:canary")
        assert response["ExecutedVersion"] == body["version"]
        assert body["code"] == {"1": "one", "2": "two"}[body["version"]]
        seen.add(body["version"])
        return seen == {"1", "2"}

    wait_until(both_versions_ran, timeout=60, interval=0)


def test_async_invoke_through_an_alias_runs_a_version(client: Any, server: Server, function: str) -> None:
    client.create_alias(FunctionName=function, Name="live", FunctionVersion="2")
    assert client.invoke(FunctionName=function, Qualifier="live", InvocationType="Event")["StatusCode"] == 202

    def version_2_logged() -> bool:
        events = server.nimbus("logs", function).stdout
        return "Version: 2" in events

    wait_until(version_2_logged, timeout=60, interval=0.5)


def test_versions_an_alias_uses_cannot_be_deleted(client: Any, function: str) -> None:
    client.create_alias(FunctionName=function, Name="live", FunctionVersion="1",
                        RoutingConfig={"AdditionalVersionWeights": {"2": 0.1}})  # fmt: skip
    for version in ("1", "2"):
        with pytest.raises(ClientError) as caught:
            client.delete_function(FunctionName=function, Qualifier=version)
        assert error(caught) == (
            "ResourceConflictException", "Unable to delete version because the following aliases reference it: [live]",
            409,
        )  # fmt: skip
    with pytest.raises(ClientError) as caught:
        client.delete_function(FunctionName=function, Qualifier="live")
    assert error(caught) == ("InvalidParameterValueException", "Deletion of aliases is not supported.", 400)


def test_deleting_the_function_deletes_its_aliases(client: Any, function: str) -> None:
    client.create_alias(FunctionName=function, Name="live", FunctionVersion="1")
    client.delete_function(FunctionName=function)
    create_function(client, app("again"), name=function)
    assert client.list_aliases(FunctionName=function)["Aliases"] == []
    assert client.publish_version(FunctionName=function)["Version"] == "1"


def test_aws_cli_alias_lifecycle_and_errors(server: Server, function: str) -> None:
    created = server.aws("lambda", "create-alias", "--function-name", function, "--name", "live",
                         "--function-version", "1", "--routing-config", "AdditionalVersionWeights={2=0.3}")  # fmt: skip
    assert created.returncode == 0, created.stderr
    assert json.loads(created.stdout)["RoutingConfig"] == {"AdditionalVersionWeights": {"2": 0.3}}
    got = server.aws("lambda", "get-alias", "--function-name", function, "--name", "live")
    assert json.loads(got.stdout)["AliasArn"] == f"{ARN}{function}:live"
    updated = server.aws("lambda", "update-alias", "--function-name", function, "--name", "live",
                         "--function-version", "2", "--routing-config", "{}")  # fmt: skip
    assert json.loads(updated.stdout)["FunctionVersion"] == "2", updated.stderr
    listed = server.aws("lambda", "list-aliases", "--function-name", function, "--function-version", "2")
    assert [a["Name"] for a in json.loads(listed.stdout)["Aliases"]] == ["live"]
    duplicate = server.aws("lambda", "create-alias", "--function-name", function, "--name", "live",
                           "--function-version", "1")  # fmt: skip
    assert (
        "ResourceConflictException" in duplicate.stderr
        and f"Alias already exists: {ARN}{function}:live" in duplicate.stderr
    )
    routing = server.aws("lambda", "update-alias", "--function-name", function, "--name", "live",
                         "--routing-config", "AdditionalVersionWeights={2=0.5}")  # fmt: skip
    assert "Function version 2 is already included in routing configuration." in routing.stderr
    stale = server.aws("lambda", "update-alias", "--function-name", function, "--name", "live", "--revision-id", "x")
    assert "PreconditionFailedException" in stale.stderr
    conflict = server.aws("lambda", "delete-function", "--function-name", function, "--qualifier", "2")
    assert "Unable to delete version because the following aliases reference it: [live]" in conflict.stderr
    invoked = server.aws("lambda", "invoke", "--function-name", function, "--qualifier", "live", "/dev/stdout")
    assert '"ExecutedVersion": "2"' in invoked.stdout
    deleted = server.aws("lambda", "delete-alias", "--function-name", function, "--name", "live")
    assert deleted.returncode == 0, deleted.stderr
    missing = server.aws("lambda", "get-alias", "--function-name", function, "--name", "live")
    assert f"Cannot find alias arn: {ARN}{function}:live" in missing.stderr
    unknown = server.aws("lambda", "update-alias", "--function-name", function, "--name", "live")
    assert f"Alias not found: {ARN}{function}:live" in unknown.stderr
