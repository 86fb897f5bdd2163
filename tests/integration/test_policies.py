"""AddPermission, GetPolicy, RemovePermission through boto3 and the aws cli: AWS's shapes and errors."""

from __future__ import annotations

import json
import subprocess
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.support import ECHO_APP, Server, cli_failure, create_function, error, function_arn

BUCKET = "arn:aws:s3:::bucket"


def allow(client: Any, function: str, sid: str = "s1", **extra: Any) -> dict[str, Any]:
    response = client.add_permission(FunctionName=function, StatementId=sid, Action="lambda:InvokeFunction",
                                     Principal="s3.amazonaws.com", **extra)  # fmt: skip
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 201
    return dict(json.loads(response["Statement"]))


def test_add_permission_returns_the_statement_and_get_policy_the_document(client: Any, function: str) -> None:
    statement = allow(client, function, SourceArn=BUCKET, SourceAccount="123456789012")
    assert statement == {
        "Sid": "s1", "Effect": "Allow", "Principal": {"Service": "s3.amazonaws.com"},
        "Action": "lambda:InvokeFunction", "Resource": function_arn(function),
        "Condition": {"StringEquals": {"AWS:SourceAccount": "123456789012"}, "ArnLike": {"AWS:SourceArn": BUCKET}},
    }  # fmt: skip
    policy = client.get_policy(FunctionName=function)
    assert json.loads(policy["Policy"]) == {"Version": "2012-10-17", "Id": "default", "Statement": [statement]}
    assert policy["RevisionId"]


def test_principals_and_url_conditions_are_written_as_aws_writes_them(client: Any, function: str) -> None:
    account = client.add_permission(FunctionName=function, StatementId="acct", Action="lambda:InvokeFunction",
                                    Principal="123456789012")  # fmt: skip
    assert json.loads(account["Statement"])["Principal"] == {"AWS": "arn:aws:iam::123456789012:root"}
    url = client.add_permission(FunctionName=function, StatementId="url", Action="lambda:InvokeFunctionUrl",
                                Principal="*", FunctionUrlAuthType="NONE")  # fmt: skip
    statement = json.loads(url["Statement"])
    assert statement["Principal"] == "*"
    assert statement["Condition"] == {"StringEquals": {"lambda:FunctionUrlAuthType": "NONE"}}
    sids = [s["Sid"] for s in json.loads(client.get_policy(FunctionName=function)["Policy"])["Statement"]]
    assert sids == ["acct", "url"]


def test_a_version_has_its_own_policy_on_the_qualified_arn(client: Any, function: str) -> None:
    version = client.publish_version(FunctionName=function)["Version"]
    statement = allow(client, function, Qualifier=version)
    assert statement["Resource"] == f"{function_arn(function)}:{version}"
    with pytest.raises(ClientError) as caught:
        client.get_policy(FunctionName=function)
    assert error(caught) == ("ResourceNotFoundException", "The resource you requested does not exist.", 404)
    qualified = json.loads(client.get_policy(FunctionName=f"{function}:{version}")["Policy"])
    assert qualified["Statement"] == [statement]


def test_remove_permission_and_what_is_left(client: Any, function: str) -> None:
    allow(client, function, "s1")
    allow(client, function, "s2")
    response = client.remove_permission(FunctionName=function, StatementId="s1")
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 204
    statements = json.loads(client.get_policy(FunctionName=function)["Policy"])["Statement"]
    assert [s["Sid"] for s in statements] == ["s2"]
    client.remove_permission(FunctionName=function, StatementId="s2")
    with pytest.raises(ClientError) as caught:
        client.get_policy(FunctionName=function)
    assert error(caught) == ("ResourceNotFoundException", "The resource you requested does not exist.", 404)


def test_removing_what_is_not_there_is_404(client: Any, function: str) -> None:
    with pytest.raises(ClientError) as caught:
        client.remove_permission(FunctionName=function, StatementId="s1")
    assert error(caught) == ("ResourceNotFoundException", "No policy is associated with the given resource.", 404)
    allow(client, function, "s1")
    with pytest.raises(ClientError) as caught:
        client.remove_permission(FunctionName=function, StatementId="s9")
    assert error(caught) == ("ResourceNotFoundException", "Statement s9 is not found in resource policy.", 404)


def test_a_duplicate_statement_id_is_a_conflict(client: Any, function: str) -> None:
    allow(client, function, "s1")
    with pytest.raises(ClientError) as caught:
        allow(client, function, "s1")
    assert error(caught) == (
        "ResourceConflictException",
        "The statement id (s1) provided already exists. Please provide a new statement id, or remove the existing "
        "statement.",
        409,
    )


def test_latest_and_bad_principals_are_refused(client: Any, function: str) -> None:
    with pytest.raises(ClientError) as caught:
        allow(client, function, Qualifier="$LATEST")
    assert error(caught) == (
        "InvalidParameterValueException",
        "We currently do not support adding policies for $LATEST.",
        400,
    )
    with pytest.raises(ClientError) as caught:
        client.add_permission(FunctionName=function, StatementId="s1", Action="lambda:InvokeFunction",
                              Principal="somebody")  # fmt: skip
    assert error(caught) == (
        "InvalidParameterValueException",
        "The provided principal was invalid. Please check the principal and try again.",
        400,
    )


STALE = (
    "PreconditionFailedException",
    "The Revision Id provided does not match the latest Revision Id. Call the GetFunction/GetAlias API to retrieve "
    "the latest Revision Id",
    412,
)


def function_revision(client: Any, function: str, qualifier: str = "$LATEST") -> str:
    return str(client.get_function(FunctionName=function, Qualifier=qualifier)["Configuration"]["RevisionId"])


def test_the_policy_revision_id_is_the_functions_and_moves_with_it(client: Any, function: str) -> None:
    with pytest.raises(ClientError) as caught:
        allow(client, function, RevisionId="00000000-0000-0000-0000-000000000000")
    assert error(caught) == STALE
    before = function_revision(client, function)
    allow(client, function, "s1", RevisionId=before)
    revision = client.get_policy(FunctionName=function)["RevisionId"]
    assert revision == function_revision(client, function) != before
    with pytest.raises(ClientError) as caught:
        allow(client, function, "s2", RevisionId=before)
    assert error(caught) == STALE
    allow(client, function, "s2", RevisionId=revision)
    with pytest.raises(ClientError) as caught:
        client.remove_permission(FunctionName=function, StatementId="s2", RevisionId=revision)
    assert error(caught) == STALE
    latest = function_revision(client, function)
    client.remove_permission(FunctionName=function, StatementId="s2", RevisionId=latest)
    assert function_revision(client, function) not in (latest, revision)


def test_a_version_and_an_alias_share_their_own_revision_ids(client: Any, function: str) -> None:
    version = client.publish_version(FunctionName=function)["Version"]
    alias = client.create_alias(FunctionName=function, Name="live", FunctionVersion=version)["RevisionId"]
    latest = function_revision(client, function)
    published = function_revision(client, function, version)
    allow(client, function, Qualifier=version, RevisionId=published)
    assert (
        client.get_policy(FunctionName=function, Qualifier=version)["RevisionId"]
        == function_revision(client, function, version)
        != published
    )
    with pytest.raises(ClientError) as caught:
        allow(client, function, Qualifier="live", RevisionId=latest)
    assert error(caught) == STALE
    allow(client, function, Qualifier="live", RevisionId=alias)
    renewed = client.get_alias(FunctionName=function, Name="live")["RevisionId"]
    assert client.get_policy(FunctionName=function, Qualifier="live")["RevisionId"] == renewed != alias
    assert function_revision(client, function) == latest  # $LATEST's is not touched
    with pytest.raises(ClientError) as caught:
        allow(client, function, Qualifier="gone")
    assert error(caught) == ("ResourceNotFoundException", f"Cannot find alias arn: {function_arn(function)}:gone", 404)


def test_aws_cli_revision_ids(server: Server, function: str) -> None:
    def add(sid: str, revision: str) -> subprocess.CompletedProcess[str]:
        return server.aws("lambda", "add-permission", "--function-name", function, "--statement-id", sid,
                          "--action", "lambda:InvokeFunction", "--principal", "s3.amazonaws.com",
                          "--revision-id", revision)  # fmt: skip

    def revision() -> str:
        got = server.aws("lambda", "get-function", "--function-name", function)
        return str(json.loads(got.stdout)["Configuration"]["RevisionId"])

    assert STALE[1] in cli_failure(add("s1", "00000000-0000-0000-0000-000000000000"))
    before = revision()
    assert add("s1", before).returncode == 0
    policy = json.loads(server.aws("lambda", "get-policy", "--function-name", function).stdout)
    assert policy["RevisionId"] == revision() != before
    assert STALE[1] in cli_failure(server.aws("lambda", "remove-permission", "--function-name", function,
                                              "--statement-id", "s1", "--revision-id", before))  # fmt: skip


def test_a_policy_over_20_kb_is_refused(client: Any, function: str) -> None:
    source = "arn:aws:s3:::" + "b" * 900
    with pytest.raises(ClientError) as caught:
        for index in range(40):
            allow(client, function, f"s{index}", SourceArn=source)
    code, message, status = error(caught)
    assert (code, status) == ("PolicyLengthExceededException", 400)
    assert message.startswith("The final policy size (") and message.endswith(") is bigger than the limit (20480).")


def test_missing_functions_and_versions_are_404(client: Any, function: str) -> None:
    with pytest.raises(ClientError) as caught:
        allow(client, "no-such-function")
    assert error(caught) == (
        "ResourceNotFoundException",
        f"Function not found: {function_arn('no-such-function')}",
        404,
    )
    with pytest.raises(ClientError) as caught:
        client.get_policy(FunctionName=function, Qualifier="42")
    assert error(caught) == ("ResourceNotFoundException", "The resource you requested does not exist.", 404)
    with pytest.raises(ClientError) as caught:
        client.remove_permission(FunctionName="no-such-function", StatementId="s1")
    assert error(caught) == (
        "ResourceNotFoundException",
        f"No policy found for: {function_arn('no-such-function')}",
        404,
    )


def test_statement_ids_are_validated(client: Any, function: str) -> None:
    with pytest.raises(ClientError) as caught:
        allow(client, function, "bad id")
    assert error(caught) == (
        "ValidationException",
        "1 validation error detected: Value 'bad id' at 'statementId' failed to satisfy constraint: Member must "
        "satisfy regular expression pattern: ([a-zA-Z0-9-_]+)",
        400,
    )


def test_a_deleted_function_takes_its_policy_along(client: Any) -> None:
    name = create_function(client, {"app.py": ECHO_APP})
    allow(client, name)
    client.delete_function(FunctionName=name)
    create_function(client, {"app.py": ECHO_APP}, name=name)
    with pytest.raises(ClientError) as caught:
        client.get_policy(FunctionName=name)
    assert error(caught)[0] == "ResourceNotFoundException"


def test_aws_cli_add_get_remove_permission(server: Server, function: str) -> None:
    added = server.aws("lambda", "add-permission", "--function-name", function, "--statement-id", "cli",
                       "--action", "lambda:InvokeFunction", "--principal", "events.amazonaws.com",
                       "--source-arn", "arn:aws:events:us-east-1:123456789012:rule/r")  # fmt: skip
    assert added.returncode == 0, added.stderr
    statement = json.loads(json.loads(added.stdout)["Statement"])
    assert statement["Principal"] == {"Service": "events.amazonaws.com"}
    got = server.aws("lambda", "get-policy", "--function-name", function)
    assert got.returncode == 0, got.stderr
    assert json.loads(json.loads(got.stdout)["Policy"])["Statement"] == [statement]
    removed = server.aws("lambda", "remove-permission", "--function-name", function, "--statement-id", "cli")
    assert removed.returncode == 0, removed.stderr
    assert "The resource you requested does not exist." in cli_failure(
        server.aws("lambda", "get-policy", "--function-name", function)
    )


def test_aws_cli_reports_aws_errors(server: Server, function: str) -> None:
    def add(*extra: str) -> subprocess.CompletedProcess[str]:
        return server.aws("lambda", "add-permission", "--function-name", function, "--statement-id", "s1",
                          "--action", "lambda:InvokeFunction", "--principal", "s3.amazonaws.com", *extra)  # fmt: skip

    assert add().returncode == 0
    assert "(ResourceConflictException)" in (duplicate := cli_failure(add()))
    assert "The statement id (s1) provided already exists." in duplicate
    assert "We currently do not support adding policies for $LATEST." in cli_failure(add("--qualifier", "$LATEST"))
    assert "(PreconditionFailedException)" in cli_failure(add("--revision-id", "stale"))
    missing = server.aws("lambda", "remove-permission", "--function-name", function, "--statement-id", "s9")
    assert "Statement s9 is not found in resource policy." in cli_failure(missing)
    other = server.aws("lambda", "remove-permission", "--function-name", "no-such-function", "--statement-id", "s1")
    assert f"No policy found for: {function_arn('no-such-function')}" in cli_failure(other)
