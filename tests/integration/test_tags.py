"""TagResource, UntagResource, ListTags and the Tags of Create/GetFunction through boto3 and the aws cli."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.support import ECHO_APP, Server, cli_failure, create_function, error, function_arn
from tests.unit.control.test_tags import legacy_config, legacy_database

TOO_MANY = {f"k{index}": "v" for index in range(51)}


def test_tag_list_untag(client: Any, function: str) -> None:
    assert client.list_tags(Resource=function_arn(function))["Tags"] == {}
    tagged = client.tag_resource(Resource=function_arn(function), Tags={"team": "core", "env": "dev"})
    assert tagged["ResponseMetadata"]["HTTPStatusCode"] == 204
    client.tag_resource(Resource=function_arn(function), Tags={"env": "prod"})
    assert client.list_tags(Resource=function_arn(function))["Tags"] == {"team": "core", "env": "prod"}
    untagged = client.untag_resource(Resource=function_arn(function), TagKeys=["team", "not-there"])
    assert untagged["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert client.list_tags(Resource=function_arn(function))["Tags"] == {"env": "prod"}


def test_create_function_tags_are_resource_tags_and_get_function_shows_them(client: Any) -> None:
    name = create_function(client, {"app.py": ECHO_APP}, Tags={"team": "core"})
    assert client.list_tags(Resource=function_arn(name))["Tags"] == {"team": "core"}
    client.tag_resource(Resource=function_arn(name), Tags={"cost": "1"})
    assert client.get_function(FunctionName=name)["Tags"] == {"team": "core", "cost": "1"}
    client.untag_resource(Resource=function_arn(name), TagKeys=["team", "cost"])
    assert "Tags" not in client.get_function(FunctionName=name)


def test_list_functions_does_not_return_tags(client: Any) -> None:
    name = create_function(client, {"app.py": ECHO_APP}, Tags={"team": "core"})
    listed = [f for page in client.get_paginator("list_functions").paginate() for f in page["Functions"]]
    mine = [f for f in listed if f["FunctionName"] == name]
    assert len(mine) == 1 and "Tags" not in mine[0]


def test_qualified_arns_are_refused(client: Any, function: str) -> None:
    expected = (
        "InvalidParameterValueException",
        "Tags on function aliases and versions are not supported. Please specify a function ARN.",
        400,
    )
    with pytest.raises(ClientError) as caught:
        client.tag_resource(Resource=f"{function_arn(function)}:$LATEST", Tags={"a": "1"})
    assert error(caught) == expected
    with pytest.raises(ClientError) as caught:
        client.list_tags(Resource=f"{function_arn(function)}:1")
    assert error(caught) == expected


def test_more_than_50_tags_are_refused(client: Any, function: str) -> None:
    expected = ("InvalidParameterValueException", "Number of tags exceeds resource tag limit.", 400)
    client.tag_resource(Resource=function_arn(function), Tags={"first": "1"})
    with pytest.raises(ClientError) as caught:
        client.tag_resource(Resource=function_arn(function), Tags=dict(list(TOO_MANY.items())[:50]))
    assert error(caught) == expected
    with pytest.raises(ClientError) as caught:
        create_function(client, {"app.py": ECHO_APP}, Tags=TOO_MANY)
    assert error(caught) == expected


def test_a_function_created_with_too_many_tags_does_not_exist(client: Any) -> None:
    with pytest.raises(ClientError):
        create_function(client, {"app.py": ECHO_APP}, name="tags-refused-fn", Tags=TOO_MANY)
    with pytest.raises(ClientError) as caught:
        client.get_function(FunctionName="tags-refused-fn")
    assert error(caught)[0] == "ResourceNotFoundException"


def test_empty_tags_and_missing_keys_are_refused(client: Any, function: str) -> None:
    with pytest.raises(ClientError) as caught:
        client.tag_resource(Resource=function_arn(function), Tags={})
    assert error(caught) == (
        "InvalidParameterValueException",
        "An error occurred and the request cannot be processed.",
        400,
    )
    with pytest.raises(ClientError) as caught:
        client.untag_resource(Resource=function_arn(function), TagKeys=[])
    assert error(caught) == (
        "ValidationException",
        "1 validation error detected: Value null at 'tagKeys' failed to satisfy constraint: Member must not be null",
        400,
    )


def test_missing_functions_are_404(client: Any) -> None:
    expected = ("ResourceNotFoundException", f"Function not found: {function_arn('no-such-function')}", 404)
    calls: list[Callable[[], Any]] = [
        lambda: client.list_tags(Resource=function_arn("no-such-function")),
        lambda: client.tag_resource(Resource=function_arn("no-such-function"), Tags={"a": "1"}),
        lambda: client.untag_resource(Resource=function_arn("no-such-function"), TagKeys=["a"]),
    ]
    for call in calls:
        with pytest.raises(ClientError) as caught:
            call()
        assert error(caught) == expected


def test_a_name_is_not_a_taggable_resource(client: Any) -> None:
    with pytest.raises(ClientError) as caught:
        client.list_tags(Resource="just-a-name")
    code, message, status = error(caught)
    assert (code, status) == ("ValidationException", 400)
    assert message.startswith("1 validation error detected: Value 'just-a-name' at 'resource' failed to satisfy")


def test_a_deleted_function_takes_its_tags_along(client: Any) -> None:
    name = create_function(client, {"app.py": ECHO_APP}, Tags={"team": "core"})
    client.delete_function(FunctionName=name)
    create_function(client, {"app.py": ECHO_APP}, name=name)
    assert client.list_tags(Resource=function_arn(name))["Tags"] == {}


def test_aws_cli_tag_list_untag(server: Server, function: str) -> None:
    tagged = server.aws("lambda", "tag-resource", "--resource", function_arn(function), "--tags", "team=core,env=dev")
    assert tagged.returncode == 0, tagged.stderr
    listed = server.aws("lambda", "list-tags", "--resource", function_arn(function))
    assert json.loads(listed.stdout)["Tags"] == {"team": "core", "env": "dev"}
    untagged = server.aws("lambda", "untag-resource", "--resource", function_arn(function), "--tag-keys", "env")
    assert untagged.returncode == 0, untagged.stderr
    remaining = server.aws("lambda", "list-tags", "--resource", function_arn(function))
    assert json.loads(remaining.stdout)["Tags"] == {"team": "core"}


def test_aws_cli_reports_aws_errors(server: Server, function: str) -> None:
    qualified = server.aws("lambda", "tag-resource", "--resource", f"{function_arn(function)}:1", "--tags", "a=1")
    assert "Tags on function aliases and versions are not supported." in cli_failure(qualified)
    too_many = ",".join(f"{key}={value}" for key, value in TOO_MANY.items())
    limit = server.aws("lambda", "tag-resource", "--resource", function_arn(function), "--tags", too_many)
    assert "Number of tags exceeds resource tag limit." in cli_failure(limit)
    missing = server.aws("lambda", "list-tags", "--resource", function_arn("no-such-function"))
    assert f"Function not found: {function_arn('no-such-function')}" in cli_failure(missing)
    untag = server.aws("lambda", "untag-resource", "--resource", function_arn("no-such-function"), "--tag-keys", "a")
    assert "(ResourceNotFoundException)" in cli_failure(untag)


def test_tags_from_before_migration_0005_survive_the_upgrade(fresh_server: Server) -> None:
    fresh_server.data_dir.mkdir(parents=True)
    legacy_database(fresh_server.data_dir, {"old-fn": legacy_config("old-fn", {"team": "payments"})}).dispose()
    fresh_server.start()
    client = fresh_server.lambda_client()
    assert client.list_tags(Resource=function_arn("old-fn"))["Tags"] == {"team": "payments"}
    assert client.get_function(FunctionName="old-fn")["Tags"] == {"team": "payments"}
    listed = fresh_server.aws("lambda", "list-tags", "--resource", function_arn("old-fn"))
    assert listed.returncode == 0, listed.stderr
    assert json.loads(listed.stdout)["Tags"] == {"team": "payments"}
    fresh_server.stop()
    fresh_server.start()  # adopted once: still there after another start, and still removable
    client.untag_resource(Resource=function_arn("old-fn"), TagKeys=["team"])
    fresh_server.stop()
    fresh_server.start()
    assert client.list_tags(Resource=function_arn("old-fn"))["Tags"] == {}
