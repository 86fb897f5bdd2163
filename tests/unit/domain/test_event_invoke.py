"""Destination ARNs of event invoke configs: what nimbus delivers to, and AWS's refusals."""

from __future__ import annotations

import pytest

from nimbus.domain.arns import Identity
from nimbus.domain.event_invoke import (
    FIFO_TOPIC,
    SELF_DESTINATION,
    EventInvokeConfig,
    Target,
    TargetKind,
    check_destination,
    check_destinations,
    parse_target,
)
from nimbus.domain.retries import RetryPolicy
from nimbus.errors import InvalidParameterValue

IDENTITY = Identity("us-east-1", "000000000000")


@pytest.mark.parametrize(
    ("arn", "target"),
    [
        ("arn:aws:sqs:us-east-1:123456789012:q1", Target("arn:aws:sqs:us-east-1:123456789012:q1", TargetKind.SQS,
                                                         "us-east-1", "123456789012", "q1")),
        ("arn:aws:sns:eu-west-1:123456789012:t-1", Target("arn:aws:sns:eu-west-1:123456789012:t-1", TargetKind.SNS,
                                                          "eu-west-1", "123456789012", "t-1")),
        ("arn:aws:events:us-east-1:123456789012:event-bus/default",
         Target("arn:aws:events:us-east-1:123456789012:event-bus/default", TargetKind.EVENTS, "us-east-1",
                "123456789012", "default")),
        ("arn:aws:lambda:us-east-1:000000000000:function:other:$LATEST",
         Target("arn:aws:lambda:us-east-1:000000000000:function:other:$LATEST", TargetKind.LAMBDA, "us-east-1",
                "000000000000", "other", "$LATEST")),
    ],
)  # fmt: skip
def test_destination_arns_name_their_target(arn: str, target: Target) -> None:
    assert parse_target(arn) == target


@pytest.mark.parametrize(
    "arn",
    [
        "arn:aws:sqs:us-east-1:123:q1",  # account not 12 digits
        "arn:aws:sqs::123456789012:q1",  # no region
        "arn:aws:dynamodb:us-east-1:123456789012:table/t",
        "arn:aws:events:us-east-1:123456789012:rule/r",
        "arn:aws:lambda:us-east-1:000000000000:layer:l:1",
        "not-an-arn",
    ],
)
def test_other_arns_are_not_destinations(arn: str) -> None:
    assert parse_target(arn) is None


def test_invalid_destination_is_refused_with_the_arn() -> None:
    arn = "arn:aws:events:us-east-1:123456789012:rule/r"
    with pytest.raises(InvalidParameterValue, match=r"^The destination ARN arn:aws:events:\S+ is invalid\.$"):
        check_destination(arn, "fn", IDENTITY)


def test_a_service_that_is_no_destination_refuses_the_whole_config() -> None:
    # Recorded from AWS (LocalStack test_lambda_api.snapshot.json, put_destination_invalid_service_arn).
    arn = "arn:aws:iam:us-east-1:000000000000:function:fn"
    with pytest.raises(InvalidParameterValue) as caught:
        check_destinations(arn, None, "fn", IDENTITY)
    assert caught.value.message == (
        "The provided destination config DestinationConfig(onSuccess=OnSuccess(destination="
        "arn:aws:iam:us-east-1:000000000000:function:fn), onFailure=null) is invalid."
    )


def test_the_refused_config_names_both_destinations() -> None:
    queue = "arn:aws:sqs:us-east-1:123456789012:q"
    table = "arn:aws:dynamodb:us-east-1:123456789012:table/t"
    with pytest.raises(InvalidParameterValue) as caught:
        check_destinations(queue, table, "fn", IDENTITY)
    assert caught.value.message == (
        f"The provided destination config DestinationConfig(onSuccess=OnSuccess(destination={queue}), "
        f"onFailure=OnFailure(destination={table})) is invalid."
    )


def test_destinations_that_are_set_are_checked_one_by_one() -> None:
    queue = "arn:aws:sqs:us-east-1:123456789012:q"
    assert [t.kind for t in check_destinations(queue, "", "fn", IDENTITY)] == [TargetKind.SQS]
    assert check_destinations(None, None, "fn", IDENTITY) == []
    with pytest.raises(InvalidParameterValue) as caught:
        check_destinations(None, "arn:aws:lambda:us-east-1:000000000000:function:fn", "fn", IDENTITY)
    assert caught.value.message == SELF_DESTINATION


def test_a_function_cannot_be_its_own_destination() -> None:
    with pytest.raises(InvalidParameterValue) as caught:
        check_destination("arn:aws:lambda:us-east-1:000000000000:function:fn", "fn", IDENTITY)
    assert caught.value.message == SELF_DESTINATION


def test_fifo_topics_are_refused() -> None:
    with pytest.raises(InvalidParameterValue) as caught:
        check_destination("arn:aws:sns:us-east-1:123456789012:t.fifo", "fn", IDENTITY)
    assert caught.value.message == FIFO_TOPIC


def test_functions_of_another_account_are_refused() -> None:
    with pytest.raises(InvalidParameterValue, match="is invalid"):
        check_destination("arn:aws:lambda:us-east-1:111111111111:function:other", "fn", IDENTITY)


def test_s3_destinations_are_refused_as_unsupported() -> None:
    with pytest.raises(InvalidParameterValue, match="Amazon S3"):
        check_destination("arn:aws:s3:::bucket", "fn", IDENTITY)


def test_unset_settings_take_aws_defaults() -> None:
    assert EventInvokeConfig("fn", "$LATEST").policy(1.0) == RetryPolicy(max_retries=2, max_age=21_600)
    config = EventInvokeConfig("fn", "$LATEST", maximum_retry_attempts=0, maximum_event_age=60)
    assert config.policy(0.5) == RetryPolicy(max_retries=0, max_age=60, scale=0.5)
