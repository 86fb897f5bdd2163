"""OnSuccess / OnFailure destinations and dead-letter queues, delivered to moto's SQS, SNS and EventBridge.

moto runs as a server on a free port; nimbus reaches it through AWS_ENDPOINT_URL_<SERVICE> as it would reach AWS.
Records are read back with boto3 and compared with AWS's formats (reference/lambda-data-plane.md §6).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any, Literal

import boto3
import pytest
from moto.server import ThreadedMotoServer

from tests.support import ACCESS_KEY, SECRET_KEY, Server, create_function, free_port, unique, wait_until

REGION = "us-east-1"
MOTO_KEYS = {"AWS_ACCESS_KEY_ID": "moto", "AWS_SECRET_ACCESS_KEY": "moto", "AWS_DEFAULT_REGION": REGION}
APP = """
import json

def handler(event, context):
    print("event", json.dumps(event))
    if isinstance(event, dict) and event.get("fail"):
        raise ValueError("failed on purpose")
    return {"handled": event}
"""
ISO_MILLIS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    port = free_port()
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    moto.start()
    yield f"http://127.0.0.1:{port}"
    moto.stop()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, moto_url: str) -> Iterator[Server]:
    """A nimbus server pointed at moto for SQS, SNS and EventBridge, with quick async retries."""
    endpoints = {f"AWS_ENDPOINT_URL_{service}": moto_url for service in ("SQS", "SNS", "EVENTBRIDGE")}
    # The AWS_* pair is moto's; `nimbus` client commands sign with the NIMBUS_* pair, which wins (the server's own).
    nimbus_keys = {"NIMBUS_ACCESS_KEY_ID": ACCESS_KEY, "NIMBUS_SECRET_ACCESS_KEY": SECRET_KEY}
    env = {**endpoints, **MOTO_KEYS, **nimbus_keys, "NIMBUS_ASYNC_RETRY_SCALE": "0.01"}
    running = Server(data_dir=tmp_path_factory.mktemp("destinations") / "data", extra_env=env).start()
    yield running
    running.stop()


def aws(service: Literal["sqs", "sns", "events"], moto_url: str) -> Any:
    return boto3.client(service, endpoint_url=moto_url, region_name=REGION, aws_access_key_id="moto",
                        aws_secret_access_key="moto")  # fmt: skip


def new_queue(moto_url: str) -> tuple[str, str]:
    sqs = aws("sqs", moto_url)
    url = sqs.create_queue(QueueName=unique("q"))["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return url, arn


def receive(moto_url: str, url: str, count: int = 1) -> list[dict[str, Any]]:
    sqs = aws("sqs", moto_url)
    messages: list[dict[str, Any]] = []

    def arrived() -> bool:
        answer = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"],
                                     WaitTimeSeconds=1)  # fmt: skip
        messages.extend(answer.get("Messages", []))
        return len(messages) >= count

    wait_until(arrived, timeout=60)
    return messages


def invoke_event(client: Any, name: str, payload: dict[str, Any]) -> str:
    response = client.invoke(FunctionName=name, InvocationType="Event", Payload=json.dumps(payload))
    assert response["StatusCode"] == 202
    return str(response["ResponseMetadata"]["RequestId"])


def fn_arn(name: str) -> str:
    return f"arn:aws:lambda:us-east-1:000000000000:function:{name}:$LATEST"


def test_on_success_sqs_gets_the_success_record(server: Server, moto_url: str) -> None:
    url, queue_arn = new_queue(moto_url)
    client = server.lambda_client()
    name = create_function(client, {"app.py": APP})
    client.put_function_event_invoke_config(FunctionName=name,
                                            DestinationConfig={"OnSuccess": {"Destination": queue_arn}})  # fmt: skip
    request_id = invoke_event(client, name, {"order": 1})
    (message,) = receive(moto_url, url)
    record = json.loads(message["Body"])
    assert ISO_MILLIS.match(record.pop("timestamp"))
    assert record == {
        "version": "1.0",
        "requestContext": {"requestId": request_id, "functionArn": fn_arn(name), "condition": "Success",
                           "approximateInvokeCount": 1},
        "requestPayload": {"order": 1},
        "responseContext": {"statusCode": 200, "executedVersion": "$LATEST"},
        "responsePayload": {"handled": {"order": 1}},
    }  # fmt: skip
    assert list(json.loads(message["Body"])) == ["version", "timestamp", "requestContext", "requestPayload",
                                                 "responseContext", "responsePayload"]  # fmt: skip


def test_on_failure_sns_gets_the_record_after_retries_are_exhausted(server: Server, moto_url: str) -> None:
    url, queue_arn = new_queue(moto_url)
    topic = aws("sns", moto_url).create_topic(Name=unique("t"))["TopicArn"]
    aws("sns", moto_url).subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
    client = server.lambda_client()
    name = create_function(client, {"app.py": APP})
    client.put_function_event_invoke_config(FunctionName=name, MaximumRetryAttempts=1,
                                            DestinationConfig={"OnFailure": {"Destination": topic}})  # fmt: skip
    request_id = invoke_event(client, name, {"fail": True})
    (message,) = receive(moto_url, url)
    record = json.loads(json.loads(message["Body"])["Message"])  # SNS's envelope around the record
    assert record["requestContext"] == {"requestId": request_id, "functionArn": fn_arn(name),
                                        "condition": "RetriesExhausted", "approximateInvokeCount": 2}  # fmt: skip
    assert record["requestPayload"] == {"fail": True}
    assert record["responseContext"] == {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"}
    assert record["responsePayload"]["errorType"] == "ValueError"
    assert record["responsePayload"]["errorMessage"] == "failed on purpose"


def test_event_age_exceeded_is_reported_when_a_retry_would_start_too_late(server: Server, moto_url: str) -> None:
    url, queue_arn = new_queue(moto_url)
    client = server.lambda_client()
    name = create_function(client, {"app.py": APP})
    # 60 s is the lowest age; the first retry would come 60 s after the attempt, past the age.
    client.put_function_event_invoke_config(FunctionName=name, MaximumEventAgeInSeconds=60,
                                            DestinationConfig={"OnFailure": {"Destination": queue_arn}})  # fmt: skip
    invoke_event(client, name, {"fail": True})
    (message,) = receive(moto_url, url)
    context = json.loads(message["Body"])["requestContext"]
    assert (context["condition"], context["approximateInvokeCount"]) == ("EventAgeExceeded", 1)


def test_event_bridge_bus_gets_a_lambda_invocation_result(server: Server, moto_url: str) -> None:
    url, queue_arn = new_queue(moto_url)
    events = aws("events", moto_url)
    bus = unique("bus")
    bus_arn = events.create_event_bus(Name=bus)["EventBusArn"]
    events.put_rule(Name=unique("r"), EventBusName=bus, EventPattern=json.dumps({"source": ["lambda"]}))
    rule = events.list_rules(EventBusName=bus)["Rules"][0]["Name"]
    events.put_targets(Rule=rule, EventBusName=bus, Targets=[{"Id": "q", "Arn": queue_arn}])
    client = server.lambda_client()
    name = create_function(client, {"app.py": APP})
    client.put_function_event_invoke_config(FunctionName=name,
                                            DestinationConfig={"OnSuccess": {"Destination": bus_arn}})  # fmt: skip
    request_id = invoke_event(client, name, {"order": 2})
    (message,) = receive(moto_url, url)
    event = json.loads(message["Body"])
    assert (event["source"], event["detail-type"]) == ("lambda", "Lambda Function Invocation Result - Success")
    assert event["resources"] == [fn_arn(name)]
    assert event["detail"]["requestContext"]["requestId"] == request_id
    assert event["detail"]["responsePayload"] == {"handled": {"order": 2}}


def test_lambda_destination_is_invoked_with_the_record(server: Server) -> None:
    client = server.lambda_client()
    target = create_function(client, {"app.py": APP})
    name = create_function(client, {"app.py": APP})
    client.put_function_event_invoke_config(
        FunctionName=name, DestinationConfig={"OnSuccess": {"Destination": fn_arn(target)}}
    )
    request_id = invoke_event(client, name, {"order": 3})

    def received() -> list[dict[str, Any]]:
        result = server.nimbus("logs", target, "--raw")
        return [json.loads(line[len("event ") :]) for line in result.stdout.splitlines() if line.startswith("event ")]

    (record,) = wait_until(received, timeout=60)
    assert record["requestContext"]["requestId"] == request_id
    assert record["requestContext"]["condition"] == "Success"
    assert record["requestPayload"] == {"order": 3}


def test_dead_letter_queue_gets_the_event_with_error_attributes(server: Server, moto_url: str) -> None:
    url, queue_arn = new_queue(moto_url)
    client = server.lambda_client()
    name = create_function(client, {"app.py": APP}, DeadLetterConfig={"TargetArn": queue_arn})
    client.put_function_event_invoke_config(FunctionName=name, MaximumRetryAttempts=0)
    request_id = invoke_event(client, name, {"fail": True, "n": 4})
    (message,) = receive(moto_url, url)
    assert json.loads(message["Body"]) == {"fail": True, "n": 4}
    assert message["MessageAttributes"] == {
        "RequestID": {"StringValue": request_id, "DataType": "String"},
        "ErrorCode": {"StringValue": "200", "DataType": "Number"},
        "ErrorMessage": {"StringValue": "failed on purpose", "DataType": "String"},
    }
