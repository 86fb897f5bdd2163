"""Model-driven validation: AWS's constraint wording, value rendering and joining of several violations."""

from __future__ import annotations

from typing import Any

import pytest

from nimbus.api.model import operation
from nimbus.api.validation import member_path, render, validate
from nimbus.errors import ValidationError

ROLE = "arn:aws:iam::000000000000:role/r"


def _create(**members: Any) -> dict[str, Any]:
    return {"FunctionName": "f", "Role": ROLE, "Code": {"ZipFile": b"zip"}, **members}


def _message(params: dict[str, Any], op: str = "CreateFunction") -> str:
    with pytest.raises(ValidationError) as caught:
        validate(operation(op).input_shape, params)
    assert caught.value.code == "ValidationException"
    assert caught.value.status == 400
    return caught.value.message


def test_valid_input_passes() -> None:
    validate(operation("CreateFunction").input_shape, _create(Runtime="python3.12", Handler="app.handler"))


def test_missing_required_members_are_null_violations_in_model_order() -> None:
    assert _message({}) == (
        "3 validation errors detected: "
        "Value null at 'functionName' failed to satisfy constraint: Member must not be null; "
        "Value null at 'role' failed to satisfy constraint: Member must not be null; "
        "Value null at 'code' failed to satisfy constraint: Member must not be null"
    )


def test_timeout_above_900_names_the_aws_limit() -> None:
    assert _message(_create(Timeout=3000)) == (
        "1 validation error detected: Value '3000' at 'timeout' failed to satisfy constraint: "
        "Member must have value less than or equal to 900"
    )


@pytest.mark.parametrize(
    ("size", "constraint"),
    [(64, "greater than or equal to 128"), (10241, "less than or equal to 10240")],
)
def test_memory_size_range(size: int, constraint: str) -> None:
    assert _message(_create(MemorySize=size)).endswith(f"Member must have value {constraint}")


def test_role_pattern_is_quoted_verbatim() -> None:
    assert _message(_create(Role="r1")) == (
        "1 validation error detected: Value 'r1' at 'role' failed to satisfy constraint: Member must satisfy "
        "regular expression pattern: arn:(aws[a-zA-Z-]*)?:iam::\\d{12}:role/?[a-zA-Z_0-9+=,.@\\-_/]+"
    )


def test_handler_with_whitespace_fails_its_pattern() -> None:
    assert "at 'handler' failed to satisfy constraint: Member must satisfy regular expression pattern: [^\\s]+" in (
        _message(_create(Handler="app handler"))
    )


def test_function_name_pattern() -> None:
    message = _message(_create(FunctionName="bad name!"))
    assert message.startswith("1 validation error detected: Value 'bad name!' at 'functionName' failed to satisfy")


def test_list_values_render_as_java_lists() -> None:
    assert _message(_create(Architectures=["x86_64", "arm64"])) == (
        "1 validation error detected: Value '[x86_64, arm64]' at 'architectures' failed to satisfy constraint: "
        "Member must have length less than or equal to 1"
    )


def test_list_elements_are_reported_as_a_member_constraint() -> None:
    assert _message(_create(Architectures=["sparc"])) == (
        "1 validation error detected: Value '[sparc]' at 'architectures' failed to satisfy constraint: "
        "Member must satisfy constraint: [Member must satisfy enum value set: [x86_64, arm64]]"
    )


def test_sensitive_environment_variables_are_never_echoed() -> None:
    message = _message(_create(Environment={"Variables": {"1BAD": "secret"}}))
    assert message == (
        "1 validation error detected: Value at 'environment.variables' failed to satisfy constraint: "
        "Map keys must satisfy constraint: [Member must satisfy regular expression pattern: [a-zA-Z]([a-zA-Z0-9_])+]"
    )
    assert "secret" not in message


def test_nested_structure_members_use_dotted_paths() -> None:
    assert _message(_create(EphemeralStorage={"Size": 100})) == (
        "1 validation error detected: Value '100' at 'ephemeralStorage.size' failed to satisfy constraint: "
        "Member must have value greater than or equal to 512"
    )


def test_several_violations_are_counted_and_joined_with_semicolons() -> None:
    message = _message(_create(Timeout=0, MemorySize=20000))
    assert message.startswith("2 validation errors detected: ")
    assert message.count("; ") == 1
    assert "Value '0' at 'timeout'" in message
    assert "Value '20000' at 'memorySize'" in message


def test_runtime_enum_is_left_to_the_service_rules() -> None:
    # AWS answers a bad runtime with InvalidParameterValueException, not ValidationException.
    validate(operation("CreateFunction").input_shape, _create(Runtime="PYTHON3.9"))


def test_query_members_are_validated() -> None:
    assert _message({"MaxItems": 0}, "ListFunctions") == (
        "1 validation error detected: Value '0' at 'maxItems' failed to satisfy constraint: "
        "Member must have value greater than or equal to 1"
    )


@pytest.mark.parametrize(
    ("value", "rendered"),
    [
        ("r1", "r1"),
        (3000, "3000"),
        (True, "true"),
        (None, "null"),
        (["x86_64", "arm64"], "[x86_64, arm64]"),
        ({"2": 2.0}, "{2=2.0}"),
    ],
)
def test_render_follows_java_to_string(value: Any, rendered: str) -> None:
    assert render(value) == rendered


@pytest.mark.parametrize(
    ("prefix", "name", "path"),
    [
        ("", "FunctionName", "functionName"),
        ("", "KMSKeyArn", "kMSKeyArn"),
        ("vpcConfig", "SubnetIds", "vpcConfig.subnetIds"),
    ],
)
def test_member_path_lowers_only_the_first_letter(prefix: str, name: str, path: str) -> None:
    assert member_path(prefix, name) == path
