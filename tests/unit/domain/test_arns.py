"""Function names, partial and full ARNs, and qualifiers."""

from __future__ import annotations

import pytest

from nimbus.domain.arns import FunctionRef, Identity, parse_function_ref, resolve_qualifier
from nimbus.errors import InvalidParameterValue


@pytest.mark.parametrize(
    ("value", "ref"),
    [
        ("f1", FunctionRef("f1", None)),
        ("f1:prod", FunctionRef("f1", "prod")),
        ("f1:$LATEST", FunctionRef("f1", "$LATEST")),
        ("000000000000:function:f1", FunctionRef("f1", None)),
        ("arn:aws:lambda:us-east-1:000000000000:function:f1", FunctionRef("f1", None)),
        ("arn:aws:lambda:us-east-1:000000000000:function:f1:7", FunctionRef("f1", "7")),
        ("arn:aws-us-gov:lambda:us-gov-west-1:000000000000:function:f-1_x", FunctionRef("f-1_x", None)),
    ],
)
def test_parse_function_ref(value: str, ref: FunctionRef) -> None:
    assert parse_function_ref(value) == ref


def test_identity_builds_aws_arns() -> None:
    identity = Identity("eu-west-1", "123456789012")
    assert identity.function_arn("f") == "arn:aws:lambda:eu-west-1:123456789012:function:f"
    assert identity.function_arn("f", "$LATEST") == "arn:aws:lambda:eu-west-1:123456789012:function:f:$LATEST"


def test_qualifier_from_arn_and_parameter_merge() -> None:
    assert resolve_qualifier(FunctionRef("f", "1"), None) == "1"
    assert resolve_qualifier(FunctionRef("f", None), "2") == "2"
    assert resolve_qualifier(FunctionRef("f", "3"), "3") == "3"


def test_contradicting_qualifiers_are_refused() -> None:
    with pytest.raises(InvalidParameterValue) as caught:
        resolve_qualifier(FunctionRef("f", "1"), "2")
    assert (
        caught.value.message == "The derived qualifier from the function name does not match the specified qualifier."
    )
