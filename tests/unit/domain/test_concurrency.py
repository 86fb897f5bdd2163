"""Rules for reserved and provisioned concurrency settings, with AWS's messages."""

from __future__ import annotations

import pytest

from nimbus.domain.concurrency import OVER_RESERVED, check_provisioned, check_reservation, minimum_unreserved
from nimbus.errors import InvalidParameterValue


def test_at_least_100_stay_unreserved_or_the_whole_limit_when_it_is_smaller() -> None:
    assert (minimum_unreserved(1000), minimum_unreserved(10)) == (100, 10)


def test_a_reservation_may_leave_exactly_the_minimum_unreserved() -> None:
    check_reservation(1000, {"other": 400}, 500)


def test_a_reservation_below_the_minimum_unreserved_is_refused_with_aws_message() -> None:
    with pytest.raises(InvalidParameterValue) as caught:
        check_reservation(1000, {"other": 400}, 501)
    assert caught.value.message == (
        "Specified ReservedConcurrentExecutions for function decreases account's UnreservedConcurrentExecution "
        "below its minimum value of [100]."
    )


def test_provisioned_concurrency_may_not_exceed_the_functions_reservation() -> None:
    check_provisioned(2, reserved=2, unreserved_left=0, account_limit=1000)
    with pytest.raises(InvalidParameterValue) as caught:
        check_provisioned(3, reserved=2, unreserved_left=1000, account_limit=1000)
    assert caught.value.message == OVER_RESERVED


def test_provisioned_concurrency_without_reservation_keeps_the_minimum_unreserved() -> None:
    check_provisioned(900, reserved=None, unreserved_left=1000, account_limit=1000)
    with pytest.raises(InvalidParameterValue) as caught:
        check_provisioned(901, reserved=None, unreserved_left=1000, account_limit=1000)
    assert caught.value.message.endswith("UnreservedConcurrentExecution below its minimum value of [100].")
