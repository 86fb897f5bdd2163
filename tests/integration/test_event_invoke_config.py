"""Put/Update/Get/Delete/ListFunctionEventInvokeConfigs through boto3 and the aws cli: shapes and AWS's errors."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.support import ECHO_APP, Server, create_function, error

QUEUE = "arn:aws:sqs:us-east-1:123456789012:destination"
TOPIC = "arn:aws:sns:us-east-1:123456789012:topic"


def arn(name: str) -> str:
    return f"arn:aws:lambda:us-east-1:000000000000:function:{name}:$LATEST"


def test_put_echoes_what_was_set_with_a_qualified_arn(client: Any, function: str) -> None:
    before = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=5)
    response = client.put_function_event_invoke_config(FunctionName=function, MaximumRetryAttempts=0)
    assert response["FunctionArn"] == arn(function)
    assert response["MaximumRetryAttempts"] == 0
    assert "MaximumEventAgeInSeconds" not in response
    assert response["DestinationConfig"] == {"OnSuccess": {}, "OnFailure": {}}
    assert isinstance(response["LastModified"], dt.datetime) and response["LastModified"] >= before


def test_get_returns_the_stored_config(client: Any, function: str) -> None:
    client.put_function_event_invoke_config(
        FunctionName=function, MaximumEventAgeInSeconds=3600, DestinationConfig={"OnFailure": {"Destination": QUEUE}}
    )
    response = client.get_function_event_invoke_config(FunctionName=function)
    assert response["MaximumEventAgeInSeconds"] == 3600
    assert response["DestinationConfig"] == {"OnSuccess": {}, "OnFailure": {"Destination": QUEUE}}


def test_put_replaces_and_update_merges(client: Any, function: str) -> None:
    client.put_function_event_invoke_config(FunctionName=function, MaximumRetryAttempts=1, MaximumEventAgeInSeconds=90)
    replaced = client.put_function_event_invoke_config(FunctionName=function, MaximumRetryAttempts=2)
    assert "MaximumEventAgeInSeconds" not in replaced
    merged = client.update_function_event_invoke_config(
        FunctionName=function, DestinationConfig={"OnSuccess": {"Destination": TOPIC}}
    )
    assert merged["MaximumRetryAttempts"] == 2
    assert merged["DestinationConfig"] == {"OnSuccess": {"Destination": TOPIC}, "OnFailure": {}}


def test_list_and_delete(client: Any, function: str) -> None:
    client.put_function_event_invoke_config(FunctionName=function, Qualifier="$LATEST", MaximumRetryAttempts=1)
    listed = client.list_function_event_invoke_configs(FunctionName=function)["FunctionEventInvokeConfigs"]
    assert [c["FunctionArn"] for c in listed] == [arn(function)]
    response = client.delete_function_event_invoke_config(FunctionName=function)
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert client.list_function_event_invoke_configs(FunctionName=function)["FunctionEventInvokeConfigs"] == []


def test_missing_config_is_404_naming_the_qualified_function(client: Any, function: str) -> None:
    expected = ("ResourceNotFoundException", f"The function {arn(function)} doesn't have an EventInvokeConfig", 404)
    with pytest.raises(ClientError) as caught:
        client.get_function_event_invoke_config(FunctionName=function)
    assert error(caught) == expected
    with pytest.raises(ClientError) as caught:
        client.delete_function_event_invoke_config(FunctionName=function)
    assert error(caught) == expected
    with pytest.raises(ClientError) as caught:
        client.update_function_event_invoke_config(FunctionName=function, MaximumRetryAttempts=1)
    assert error(caught) == expected


def test_nothing_to_set_is_refused(client: Any, function: str) -> None:
    with pytest.raises(ClientError) as caught:
        client.put_function_event_invoke_config(FunctionName=function)
    assert error(caught) == (
        "InvalidParameterValueException",
        "You must specify at least one of error handling or destination setting.",
        400,
    )


def test_out_of_range_settings_are_validation_errors(client: Any, function: str) -> None:
    with pytest.raises(ClientError) as caught:
        client.put_function_event_invoke_config(FunctionName=function, MaximumRetryAttempts=3)
    assert error(caught) == (
        "ValidationException",
        "1 validation error detected: Value '3' at 'maximumRetryAttempts' failed to satisfy constraint: "
        "Member must have value less than or equal to 2",
        400,
    )
    with pytest.raises(ClientError) as caught:
        client.put_function_event_invoke_config(FunctionName=function, MaximumEventAgeInSeconds=21601)
    assert "Member must have value less than or equal to 21600" in error(caught)[1]


def test_destinations_are_checked(client: Any, function: str) -> None:
    # Messages recorded from AWS (LocalStack test_lambda_api.snapshot.json, test_lambda_eventinvokeconfig_exceptions).
    iam = f"arn:aws:iam:us-east-1:000000000000:function:{function}"
    cases = {
        iam: f"The provided destination config DestinationConfig(onSuccess=OnSuccess(destination={iam}), "
        "onFailure=null) is invalid.",
        f"arn:aws:lambda:us-east-1:000000000000:function:{function}": "You can't specify the function as a "
        "destination for itself.",
        "arn:aws:lambda:us-east-1:000000000000:function:no-such-function": "The destination ARN "
        "arn:aws:lambda:us-east-1:000000000000:function:no-such-function is invalid.",
    }
    for destination, message in cases.items():
        with pytest.raises(ClientError) as caught:
            client.put_function_event_invoke_config(
                FunctionName=function, DestinationConfig={"OnSuccess": {"Destination": destination}}
            )
        assert error(caught) == ("InvalidParameterValueException", message, 400)


def test_an_unsupported_service_refuses_both_destinations(client: Any, function: str) -> None:
    table = "arn:aws:dynamodb:us-east-1:123456789012:table/t"
    with pytest.raises(ClientError) as caught:
        client.put_function_event_invoke_config(
            FunctionName=function,
            DestinationConfig={"OnSuccess": {"Destination": QUEUE}, "OnFailure": {"Destination": table}},
        )
    assert error(caught) == (
        "InvalidParameterValueException",
        f"The provided destination config DestinationConfig(onSuccess=OnSuccess(destination={QUEUE}), "
        f"onFailure=OnFailure(destination={table})) is invalid.",
        400,
    )


def test_a_destination_config_without_arns_is_a_setting(client: Any, function: str) -> None:
    empty: list[dict[str, Any]] = [{"OnSuccess": {}}, {"OnFailure": {}}]
    for destinations in empty:
        response = client.put_function_event_invoke_config(FunctionName=function, DestinationConfig=destinations)
        assert response["DestinationConfig"] == {"OnSuccess": {}, "OnFailure": {}}
        assert "MaximumRetryAttempts" not in response and "MaximumEventAgeInSeconds" not in response


def test_missing_function_is_404(client: Any) -> None:
    with pytest.raises(ClientError) as caught:
        client.put_function_event_invoke_config(FunctionName="no-such-function", MaximumRetryAttempts=1)
    assert error(caught) == ("ResourceNotFoundException", "The function doesn't exist.", 404)


MISSING = "arn:aws:lambda:us-east-1:000000000000:function:no-such-function"
NO_FUNCTION = ("ResourceNotFoundException", "The function doesn't exist.", 404)
NO_CONFIG = ("ResourceNotFoundException", f"The function {MISSING}:$LATEST doesn't have an EventInvokeConfig", 404)


# AWS: writes and List say the function doesn't exist; Get and Delete name the config of ...:$LATEST.
@pytest.mark.parametrize(("operation", "arguments", "expected"), [
    ("put_function_event_invoke_config", {"FunctionName": MISSING, "MaximumRetryAttempts": 1}, NO_FUNCTION),
    ("update_function_event_invoke_config", {"FunctionName": "no-such-function", "MaximumRetryAttempts": 0},
     NO_FUNCTION),
    ("list_function_event_invoke_configs", {"FunctionName": "no-such-function"}, NO_FUNCTION),
    ("get_function_event_invoke_config", {"FunctionName": "no-such-function"}, NO_CONFIG),
    ("delete_function_event_invoke_config", {"FunctionName": "no-such-function"}, NO_CONFIG),
])  # fmt: skip
def test_each_operation_on_a_missing_function(
    client: Any, operation: str, arguments: dict[str, Any], expected: tuple[str, str, int]
) -> None:
    with pytest.raises(ClientError) as caught:
        getattr(client, operation)(**arguments)
    assert error(caught) == expected


def test_a_missing_qualifier(client: Any, function: str) -> None:
    with pytest.raises(ClientError) as caught:
        client.put_function_event_invoke_config(FunctionName=function, Qualifier="doesnotexist", MaximumRetryAttempts=1)
    assert error(caught) == ("ResourceNotFoundException", "The function doesn't exist.", 404)
    with pytest.raises(ClientError) as caught:
        client.get_function_event_invoke_config(FunctionName=function, Qualifier="doesnotexist")
    qualified = f"arn:aws:lambda:us-east-1:000000000000:function:{function}:doesnotexist"
    assert error(caught) == ("ResourceNotFoundException", f"The function {qualified} doesn't have an EventInvokeConfig",
                             404)  # fmt: skip


def test_a_qualifier_contradicting_the_name_is_refused(client: Any, function: str) -> None:
    with pytest.raises(ClientError) as caught:
        client.put_function_event_invoke_config(FunctionName=f"{function}:$LATEST", Qualifier="1",
                                                MaximumRetryAttempts=1)  # fmt: skip
    assert error(caught) == (
        "InvalidParameterValueException",
        "The derived qualifier from the function name does not match the specified qualifier.",
        400,
    )
    response = client.put_function_event_invoke_config(FunctionName=f"{function}:$LATEST", Qualifier="$LATEST",
                                                       MaximumRetryAttempts=1)  # fmt: skip
    assert response["FunctionArn"] == arn(function)


def test_aws_cli_shows_aws_messages(server: Server, function: str) -> None:
    iam = f"arn:aws:iam:us-east-1:000000000000:function:{function}"
    result = server.aws("lambda", "put-function-event-invoke-config", "--function-name", function,
                        "--destination-config", json.dumps({"OnSuccess": {"Destination": iam}}))  # fmt: skip
    assert result.returncode != 0
    assert (
        "An error occurred (InvalidParameterValueException) when calling the PutFunctionEventInvokeConfig "
        f"operation: The provided destination config DestinationConfig(onSuccess=OnSuccess(destination={iam}), "
        "onFailure=null) is invalid." in result.stderr
    )
    result = server.aws("lambda", "update-function-event-invoke-config", "--function-name", "no-such-function",
                        "--maximum-retry-attempts", "0")  # fmt: skip
    assert (
        "(ResourceNotFoundException) when calling the UpdateFunctionEventInvokeConfig operation: "
        "The function doesn't exist." in result.stderr
    )
    result = server.aws("lambda", "get-function-event-invoke-config", "--function-name", function)
    assert f"function:{function}:$LATEST doesn't have an EventInvokeConfig" in result.stderr
    result = server.aws("lambda", "put-function-event-invoke-config", "--function-name", function,
                        "--destination-config", json.dumps({"OnFailure": {}}))  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["DestinationConfig"] == {"OnSuccess": {}, "OnFailure": {}}


def test_a_deleted_function_takes_its_config_along(client: Any) -> None:
    name = create_function(client, {"app.py": ECHO_APP})
    client.put_function_event_invoke_config(FunctionName=name, MaximumRetryAttempts=0)
    client.delete_function(FunctionName=name)
    create_function(client, {"app.py": ECHO_APP}, name=name)
    with pytest.raises(ClientError) as caught:
        client.get_function_event_invoke_config(FunctionName=name)
    assert error(caught)[0] == "ResourceNotFoundException"


def test_aws_cli_prints_last_modified_as_epoch_seconds(server: Server, function: str) -> None:
    result = server.aws("lambda", "put-function-event-invoke-config", "--function-name", function,
                        "--maximum-retry-attempts", "1", "--destination-config",
                        json.dumps({"OnFailure": {"Destination": QUEUE}}))  # fmt: skip
    assert result.returncode == 0, result.stderr
    printed = json.loads(result.stdout)
    assert isinstance(printed["LastModified"], float)
    assert printed["DestinationConfig"] == {"OnSuccess": {}, "OnFailure": {"Destination": QUEUE}}
    listed = server.aws("lambda", "list-function-event-invoke-configs", "--function-name", function)
    assert json.loads(listed.stdout)["FunctionEventInvokeConfigs"][0]["MaximumRetryAttempts"] == 1
