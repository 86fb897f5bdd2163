"""Reserved and provisioned concurrency: the rules a setting must satisfy, with AWS's messages.

Messages are AWS's, as recorded by LocalStack's parity tests against AWS (tests/aws/services/lambda_/
test_lambda_api.snapshot.json) and as AWS users quote them. AWS keeps at least 100 concurrent executions
unreserved for the functions without a reservation; an account whose limit is below 100 keeps all of it
(users of 10-execution accounts quote "... below its minimum value of [10].").
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass

from nimbus.errors import InvalidParameterValue

MIN_UNRESERVED = 100

PROVISIONED_ON_LATEST = "Provisioned Concurrency Configs cannot be applied to unpublished function versions."
NOT_ALIAS_OR_VERSION = "The function resource provided must be an alias or a published version."
NO_PROVISIONED_CONFIG = "No Provisioned Concurrency Config found for this function"
OVER_RESERVED = (
    "Requested Provisioned Concurrency should not be greater than the reservedConcurrentExecution for function"
)
ALIAS_ON_PROVISIONED_VERSION = (
    "Alias can't be used for Provisioned Concurrency configuration on an already Provisioned version"
)
VERSION_UNDER_PROVISIONED_ALIAS = "Version is pointed by a Provisioned Concurrency alias"


class ProvisionedStatus(enum.StrEnum):
    IN_PROGRESS = "IN_PROGRESS"
    READY = "READY"
    FAILED = "FAILED"


@dataclass(frozen=True)
class ProvisionedConfig:
    """A PutProvisionedConcurrencyConfig as stored: per function and qualifier (an alias or a version)."""

    function_name: str
    qualifier: str
    requested: int
    last_modified: str


@dataclass(frozen=True)
class ProvisionedState:
    """How far provisioning has got (in memory: environments are started again after a restart)."""

    status: ProvisionedStatus = ProvisionedStatus.IN_PROGRESS
    allocated: int = 0
    available: int = 0
    reason: str | None = None


def minimum_unreserved(account_limit: int) -> int:
    return min(MIN_UNRESERVED, account_limit)


def check_reservation(account_limit: int, other_reservations: Mapping[str, int], requested: int) -> None:
    """PutFunctionConcurrency: what is left unreserved must not drop below the minimum."""
    minimum = minimum_unreserved(account_limit)
    if account_limit - sum(other_reservations.values()) - requested < minimum:
        raise InvalidParameterValue(
            "Specified ReservedConcurrentExecutions for function decreases account's "
            f"UnreservedConcurrentExecution below its minimum value of [{minimum}]."
        )


def check_provisioned(requested_total: int, reserved: int | None, unreserved_left: int, account_limit: int) -> None:
    """PutProvisionedConcurrencyConfig: the function's provisioned total (this config plus its others) comes out
    of its reservation when it has one, else out of the unreserved pool (`unreserved_left`: that pool without this
    function's provisioned concurrency)."""
    if reserved is not None:
        if requested_total > reserved:
            raise InvalidParameterValue(OVER_RESERVED)
        return
    minimum = minimum_unreserved(account_limit)
    if unreserved_left - requested_total < minimum:
        raise InvalidParameterValue(
            "Specified ConcurrentExecutions for function decreases account's "
            f"UnreservedConcurrentExecution below its minimum value of [{minimum}]."
        )
