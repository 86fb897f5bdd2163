"""Add/Get/RemoveLayerVersionPermission through boto3 and the aws cli, with AWS's recorded answers
(LocalStack's parity snapshots, TestLambdaLayer::test_layer_policy_*)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.support import Server, error, make_zip, unique

STALE = (
    "The Revision Id provided does not match the latest Revision Id. Call the GetLayerPolicy API to retrieve the "
    "latest Revision Id"
)


def version_arn(name: str, version: int = 1) -> str:
    return f"arn:aws:lambda:us-east-1:000000000000:layer:{name}:{version}"


@pytest.fixture
def layer(client: Any) -> str:
    name = unique("layer")
    client.publish_layer_version(LayerName=name, Content={"ZipFile": make_zip({"python/m.py": "X = 1\n"})})
    return name


def grant(client: Any, layer: str, sid: str, principal: str = "*", **extra: Any) -> dict[str, Any]:
    response: dict[str, Any] = client.add_layer_version_permission(
        LayerName=layer, VersionNumber=1, StatementId=sid, Action="lambda:GetLayerVersion", Principal=principal,
        **extra,
    )  # fmt: skip
    return response


def test_add_answers_the_statement_as_a_json_string(client: Any, layer: str) -> None:
    response = grant(client, layer, "s1")
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert json.loads(response["Statement"]) == {
        "Sid": "s1", "Effect": "Allow", "Principal": "*", "Action": "lambda:GetLayerVersion",
        "Resource": version_arn(layer),
    }  # fmt: skip
    assert response["RevisionId"]


def test_account_and_organization_principals(client: Any, layer: str) -> None:
    account = json.loads(grant(client, layer, "acct", principal="123456789012")["Statement"])
    assert account["Principal"] == {"AWS": "arn:aws:iam::123456789012:root"}
    org = json.loads(grant(client, layer, "org", OrganizationId="o-abcdefghij")["Statement"])
    assert org["Principal"] == "*"
    assert org["Condition"] == {"StringEquals": {"aws:PrincipalOrgID": "o-abcdefghij"}}


def test_policy_lifecycle(client: Any, layer: str) -> None:
    first = grant(client, layer, "s1")
    policy = client.get_layer_version_policy(LayerName=layer, VersionNumber=1)
    assert policy["RevisionId"] == first["RevisionId"]
    document = json.loads(policy["Policy"])
    assert document["Version"] == "2012-10-17" and document["Id"] == "default"
    assert [statement["Sid"] for statement in document["Statement"]] == ["s1"]
    second = grant(client, layer, "s2", RevisionId=first["RevisionId"])
    both = client.get_layer_version_policy(LayerName=layer, VersionNumber=1)
    assert [s["Sid"] for s in json.loads(both["Policy"])["Statement"]] == ["s1", "s2"]
    removed = client.remove_layer_version_permission(
        LayerName=layer, VersionNumber=1, StatementId="s2", RevisionId=second["RevisionId"]
    )
    assert removed["ResponseMetadata"]["HTTPStatusCode"] == 204
    after = client.get_layer_version_policy(LayerName=layer, VersionNumber=1)
    assert [s["Sid"] for s in json.loads(after["Policy"])["Statement"]] == ["s1"]
    assert after["RevisionId"] not in (first["RevisionId"], second["RevisionId"])


def test_removing_the_last_statement_removes_the_policy(client: Any, layer: str) -> None:
    grant(client, layer, "only")
    client.remove_layer_version_permission(LayerName=layer, VersionNumber=1, StatementId="only")
    with pytest.raises(ClientError) as caught:
        client.get_layer_version_policy(LayerName=layer, VersionNumber=1)
    assert error(caught) == ("ResourceNotFoundException", "No policy is associated with the given resource.", 404)


def test_policy_errors(client: Any, layer: str) -> None:
    with pytest.raises(ClientError) as caught:
        client.get_layer_version_policy(LayerName=layer, VersionNumber=1)
    assert error(caught) == ("ResourceNotFoundException", "No policy is associated with the given resource.", 404)
    grant(client, layer, "s1")
    with pytest.raises(ClientError) as caught:
        grant(client, layer, "s1")
    assert error(caught) == (
        "ResourceConflictException",
        "The statement id (s1) provided already exists. Please provide a new statement id, or remove the existing "
        "statement.",
        409,
    )
    with pytest.raises(ClientError) as caught:
        grant(client, layer, "s2", RevisionId="wrong")
    assert error(caught) == ("PreconditionFailedException", STALE, 412)
    with pytest.raises(ClientError) as caught:
        client.remove_layer_version_permission(LayerName=layer, VersionNumber=1, StatementId="s1", RevisionId="wrong")
    assert error(caught) == ("PreconditionFailedException", STALE, 412)
    with pytest.raises(ClientError) as caught:
        client.remove_layer_version_permission(LayerName=layer, VersionNumber=1, StatementId="doesnotexist")
    assert error(caught) == (
        "ResourceNotFoundException",
        "Statement doesnotexist is not found in resource policy.",
        404,
    )


def test_a_missing_layer_version_is_named(client: Any, layer: str) -> None:
    cases = [(f"{layer}-doesnotexist", 1), (layer, 2)]
    for name, version in cases:
        expected = ("ResourceNotFoundException", f"Layer version {version_arn(name, version)} does not exist.", 404)
        with pytest.raises(ClientError) as caught:
            client.add_layer_version_permission(LayerName=name, VersionNumber=version, StatementId="s1",
                                                Action="lambda:GetLayerVersion", Principal="*")  # fmt: skip
        assert error(caught) == expected
        with pytest.raises(ClientError) as caught:
            client.get_layer_version_policy(LayerName=name, VersionNumber=version)
        assert error(caught) == expected
        with pytest.raises(ClientError) as caught:
            client.remove_layer_version_permission(LayerName=name, VersionNumber=version, StatementId="s1")
        assert error(caught) == expected


def test_only_get_layer_version_can_be_granted(client: Any, layer: str) -> None:
    with pytest.raises(ClientError) as caught:
        client.add_layer_version_permission(LayerName=layer, VersionNumber=1, StatementId="s1", Action="*",
                                            Principal="*")  # fmt: skip
    assert error(caught) == (
        "ValidationException",
        "1 validation error detected: Value '*' at 'action' failed to satisfy constraint: Member must satisfy "
        "regular expression pattern: lambda:GetLayerVersion",
        400,
    )


def test_the_aws_cli_drives_layer_permissions(server: Server, client: Any, layer: str) -> None:
    added = server.aws("lambda", "add-layer-version-permission", "--layer-name", layer, "--version-number", "1",
                       "--statement-id", "cli", "--action", "lambda:GetLayerVersion", "--principal", "*")  # fmt: skip
    assert added.returncode == 0, added.stderr
    assert json.loads(json.loads(added.stdout)["Statement"])["Sid"] == "cli"
    policy = server.aws("lambda", "get-layer-version-policy", "--layer-name", layer, "--version-number", "1")
    assert [s["Sid"] for s in json.loads(json.loads(policy.stdout)["Policy"])["Statement"]] == ["cli"]
    again = server.aws("lambda", "add-layer-version-permission", "--layer-name", layer, "--version-number", "1",
                       "--statement-id", "cli", "--action", "lambda:GetLayerVersion", "--principal", "*")  # fmt: skip
    assert "(ResourceConflictException) when calling the AddLayerVersionPermission operation: The statement id " \
        "(cli) provided already exists." in again.stderr  # fmt: skip
    stale = server.aws("lambda", "remove-layer-version-permission", "--layer-name", layer, "--version-number", "1",
                       "--statement-id", "cli", "--revision-id", "wrong")  # fmt: skip
    assert f"(PreconditionFailedException) when calling the RemoveLayerVersionPermission operation: {STALE}" \
        in stale.stderr  # fmt: skip
    removed = server.aws("lambda", "remove-layer-version-permission", "--layer-name", layer, "--version-number", "1",
                         "--statement-id", "cli")  # fmt: skip
    assert removed.returncode == 0, removed.stderr
    gone = server.aws("lambda", "get-layer-version-policy", "--layer-name", layer, "--version-number", "1")
    assert "(ResourceNotFoundException) when calling the GetLayerVersionPolicy operation: No policy is associated " \
        "with the given resource." in gone.stderr  # fmt: skip
    missing = server.aws("lambda", "get-layer-version-policy", "--layer-name", layer, "--version-number", "7")
    assert f"Layer version {version_arn(layer, 7)} does not exist." in missing.stderr
    unknown = server.aws("lambda", "remove-layer-version-permission", "--layer-name", layer, "--version-number", "1",
                         "--statement-id", "nope")  # fmt: skip
    assert "No policy is associated with the given resource." in unknown.stderr
