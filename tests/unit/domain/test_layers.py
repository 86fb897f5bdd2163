"""Layer ARNs, a function's layer list and layer version policies: pure rules with AWS's messages."""

from __future__ import annotations

import pytest

from nimbus.domain.arns import Identity
from nimbus.domain.functions import CodeRef
from nimbus.domain.layers import (
    LayerPolicy,
    LayerVersion,
    LayerVersionId,
    check_function_layers,
    check_revision,
    check_version_number,
    combined_size_error,
    layer_name_of,
    layer_statement,
    parse_layer_version_arn,
    policy_document,
    with_statement,
    without_statement,
)
from nimbus.errors import InvalidParameterValue, PreconditionFailed, ResourceConflict, ResourceNotFound

IDENTITY = Identity("us-east-1", "000000000000")
BASE = "arn:aws:lambda:us-east-1:000000000000:layer"


def test_parse_layer_version_arn() -> None:
    assert parse_layer_version_arn(f"{BASE}:my-layer:3") == LayerVersionId("us-east-1", "000000000000", "my-layer", 3)
    assert parse_layer_version_arn(f"{BASE}:my-layer") is None
    assert parse_layer_version_arn("my-layer") is None


def test_layer_name_of_names_and_arns() -> None:
    assert layer_name_of("plain", IDENTITY) == "plain"
    assert layer_name_of(f"{BASE}:from-arn", IDENTITY) == "from-arn"
    assert layer_name_of("arn:aws:lambda:eu-west-1:000000000000:layer:x", IDENTITY) is None
    assert layer_name_of("arn:aws:lambda:us-east-1:111111111111:layer:x", IDENTITY) is None


@pytest.mark.parametrize("version", [0, -1])
def test_versions_below_one_are_refused(version: int) -> None:
    with pytest.raises(InvalidParameterValue, match=r"^Layer Version Cannot be less than 1$"):
        check_version_number(version)


def test_at_most_five_layers() -> None:
    arns = [f"{BASE}:l{i}:1" for i in range(6)]
    with pytest.raises(InvalidParameterValue, match=r"^Cannot reference more than 5 layers\.$"):
        check_function_layers(arns, IDENTITY)
    assert len(check_function_layers(arns[:5], IDENTITY)) == 5


def test_layers_of_another_region_are_refused() -> None:
    with pytest.raises(InvalidParameterValue) as caught:
        check_function_layers(["arn:aws:lambda:eu-west-1:000000000000:layer:l:1"], IDENTITY)
    assert caught.value.message == (
        "Layers are not in the same region as the function. Layers are expected to be in region us-east-1."
    )


def test_one_version_per_layer() -> None:
    with pytest.raises(InvalidParameterValue) as caught:
        check_function_layers([f"{BASE}:a:1", f"{BASE}:b:1", f"{BASE}:a:2"], IDENTITY)
    assert caught.value.message == (
        "Two different versions of the same layer are not allowed to be referenced in the same function. "
        f"{BASE}:a:1 and {BASE}:a:2 are versions of the same layer."
    )


def test_combined_size() -> None:
    assert combined_size_error(100, 100) is None
    error = combined_size_error(101, 100)
    assert error is not None and error.message == (
        "Function code combined with layers exceeds the maximum allowed size of 100 bytes. "
        "The actual size is 101 bytes."
    )


def test_filters_select_versions() -> None:
    layer = LayerVersion("l", 1, CodeRef("ab" * 32, "x", 1), "d", compatible_runtimes=("python3.12",))
    assert layer.matches(None, None)
    assert layer.matches("python3.12", None)
    assert not layer.matches("python3.11", None)
    assert not layer.matches(None, "arm64")


def test_statements_as_aws_writes_them() -> None:
    resource = f"{BASE}:l:1"
    assert layer_statement("s", "lambda:GetLayerVersion", "*", resource, None) == {
        "Sid": "s", "Effect": "Allow", "Principal": "*", "Action": "lambda:GetLayerVersion", "Resource": resource,
    }  # fmt: skip
    account = layer_statement("s", "lambda:GetLayerVersion", "123456789012", resource, None)
    assert account["Principal"] == {"AWS": "arn:aws:iam::123456789012:root"}
    org = layer_statement("s", "lambda:GetLayerVersion", "*", resource, "o-1234567890")
    assert org["Condition"] == {"StringEquals": {"aws:PrincipalOrgID": "o-1234567890"}}


def test_policy_statements_add_and_remove() -> None:
    first = with_statement(None, {"Sid": "a"})
    policy = LayerPolicy(first, "r1")
    with pytest.raises(ResourceConflict, match=r"The statement id \(a\) provided already exists"):
        with_statement(policy, {"Sid": "a"})
    assert with_statement(policy, {"Sid": "b"}) == ({"Sid": "a"}, {"Sid": "b"})
    assert without_statement(policy, "a") == ()
    with pytest.raises(ResourceNotFound, match=r"^Statement b is not found in resource policy\.$"):
        without_statement(policy, "b")
    with pytest.raises(ResourceNotFound, match=r"^No policy is associated with the given resource\.$"):
        without_statement(None, "a")
    assert policy_document(policy) == {"Version": "2012-10-17", "Id": "default", "Statement": [{"Sid": "a"}]}


def test_revision_ids_must_match() -> None:
    check_revision(None, None)
    check_revision(LayerPolicy((), "r1"), "r1")
    with pytest.raises(PreconditionFailed, match="Call the GetLayerPolicy API"):
        check_revision(LayerPolicy((), "r1"), "r2")
    with pytest.raises(PreconditionFailed):
        check_revision(None, "r1")
