"""Event invoke configuration (retries, event age, destinations) and the destination ARNs nimbus can deliver to.

Validation messages follow what AWS answers (reference/lambda-control-plane.md §1 "Event invoke config", and the
AWS recordings in LocalStack's tests/aws/services/lambda_/test_lambda_api.snapshot.json,
TestLambdaEventInvokeConfig::test_lambda_eventinvokeconfig_exceptions); range checks (MaximumRetryAttempts 0-2,
MaximumEventAgeInSeconds 60-21600) and the ARN pattern come from the model, in api/validation.py.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

from nimbus.domain.arns import Identity
from nimbus.domain.retries import DEFAULT_MAX_EVENT_AGE, DEFAULT_MAX_RETRIES, RetryPolicy
from nimbus.errors import InvalidParameterValue

NOTHING_TO_SET = "You must specify at least one of error handling or destination setting."
SELF_DESTINATION = "You can't specify the function as a destination for itself."
FIFO_TOPIC = "FIFO-type Amazon SNS topics aren't supported as a destination."
S3_UNSUPPORTED = "nimbus does not deliver invocation records to Amazon S3 yet; use SQS, SNS, EventBridge or Lambda."

_ARN = re.compile(r"^arn:(?P<partition>aws[a-zA-Z0-9-]*):(?P<service>[a-zA-Z0-9-]+):(?P<region>[^:]*):"
                  r"(?P<account>[^:]*):(?P<resource>.+)$")  # fmt: skip
_NAME = re.compile(r"^[a-zA-Z0-9_.-]+$")
_FUNCTION = re.compile(r"^function:(?P<name>[a-zA-Z0-9_-]+)(?::(?P<qualifier>\$LATEST|[a-zA-Z0-9_-]+))?$")
_ACCOUNT = re.compile(r"^\d{12}$")
# Services AWS takes as asynchronous destinations (S3 for on-failure only). An ARN of any other service makes AWS
# refuse the whole DestinationConfig, spelled out as in its Java toString (recorded: an iam ARN as OnSuccess).
DESTINATION_SERVICES = frozenset({"sqs", "sns", "events", "lambda", "s3"})


class TargetKind(enum.StrEnum):
    SQS = "sqs"
    SNS = "sns"
    EVENTS = "events"
    LAMBDA = "lambda"


@dataclass(frozen=True)
class Target:
    """A destination: an SQS queue, an SNS topic, an EventBridge bus or a Lambda function, by ARN."""

    arn: str
    kind: TargetKind
    region: str
    account: str
    name: str  # queue, topic, bus or function name
    qualifier: str | None = None  # a Lambda target's version or alias


@dataclass(frozen=True)
class EventInvokeConfig:
    """One qualifier's settings. None means "not set": AWS echoes only what was set, and the defaults apply."""

    function_name: str
    qualifier: str
    maximum_retry_attempts: int | None = None
    maximum_event_age: int | None = None
    on_success: str | None = None
    on_failure: str | None = None
    last_modified: float = 0.0  # epoch seconds

    def policy(self, scale: float) -> RetryPolicy:
        retries = DEFAULT_MAX_RETRIES if self.maximum_retry_attempts is None else self.maximum_retry_attempts
        age = DEFAULT_MAX_EVENT_AGE if self.maximum_event_age is None else self.maximum_event_age
        return RetryPolicy(max_retries=retries, max_age=age, scale=scale)


def parse_target(arn: str) -> Target | None:
    """The destination an ARN names, or None when it is not one nimbus delivers to."""
    match = _ARN.match(arn)
    if match is None or not _ACCOUNT.match(match["account"]) or not match["region"]:
        return None
    service, resource = match["service"], match["resource"]
    if service in ("sqs", "sns") and _NAME.match(resource):
        return Target(arn, TargetKind(service), match["region"], match["account"], resource)
    if service == "events" and resource.startswith("event-bus/") and _NAME.match(resource[len("event-bus/") :]):
        return Target(arn, TargetKind.EVENTS, match["region"], match["account"], resource[len("event-bus/") :])
    function = _FUNCTION.match(resource) if service == "lambda" else None
    if function is not None:
        return Target(arn, TargetKind.LAMBDA, match["region"], match["account"], function["name"],
                      function["qualifier"])  # fmt: skip
    return None


def check_destinations(on_success: str | None, on_failure: str | None, function_name: str,
                       identity: Identity) -> list[Target]:  # fmt: skip
    """The destinations of a Put or Update (None or "": not set), refused as AWS refuses them."""
    given = [arn for arn in (on_success, on_failure) if arn]
    if any(_service(arn) not in DESTINATION_SERVICES for arn in given):
        raise InvalidParameterValue(unsupported_config_message(on_success, on_failure))
    return [check_destination(arn, function_name, identity) for arn in given]


def unsupported_config_message(on_success: str | None, on_failure: str | None) -> str:
    success = f"OnSuccess(destination={on_success})" if on_success else "null"
    failure = f"OnFailure(destination={on_failure})" if on_failure else "null"
    return f"The provided destination config DestinationConfig(onSuccess={success}, onFailure={failure}) is invalid."


def _service(arn: str) -> str:
    parts = arn.split(":", 3)
    return parts[2] if len(parts) > 2 and parts[0] == "arn" else ""


def check_destination(arn: str, function_name: str, identity: Identity) -> Target:
    """A destination of `function_name`'s event invoke config, refused as AWS refuses it."""
    if arn.startswith("arn:aws:s3:::"):
        raise InvalidParameterValue(S3_UNSUPPORTED)
    target = parse_target(arn)
    if target is None:
        raise InvalidParameterValue(f"The destination ARN {arn} is invalid.")
    if target.kind is TargetKind.SNS and target.name.endswith(".fifo"):
        raise InvalidParameterValue(FIFO_TOPIC)
    if target.kind is TargetKind.SQS and target.name.endswith(".fifo"):
        raise InvalidParameterValue(f"The destination ARN {arn} is invalid.")
    if target.kind is TargetKind.LAMBDA:
        if (target.region, target.account) != (identity.region, identity.account_id):
            # Only functions of this server can be invoked.
            raise InvalidParameterValue(f"The destination ARN {arn} is invalid.")
        if target.name == function_name:
            raise InvalidParameterValue(SELF_DESTINATION)
    return target
