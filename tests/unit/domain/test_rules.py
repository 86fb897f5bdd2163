"""Configuration rules beyond the model, with AWS's exact messages."""

from __future__ import annotations

import pytest

from nimbus.domain.rules import (
    check_environment,
    check_function_name,
    check_handler_present,
    check_runtime,
)
from nimbus.errors import InvalidParameterValue

SUPPORTED = ("python3.12", "provided.al2023")


def _message(error: pytest.ExceptionInfo[InvalidParameterValue]) -> str:
    assert error.value.code == "InvalidParameterValueException"
    assert error.value.status == 400
    return error.value.message


def test_a_64_character_name_is_accepted() -> None:
    check_function_name("a" * 64)


def test_a_65_character_name_is_a_validation_text_in_an_invalid_parameter_value() -> None:
    with pytest.raises(InvalidParameterValue) as caught:
        check_function_name("a" * 65)
    assert _message(caught) == (
        f"1 validation error detected: Value '{'a' * 65}' at 'functionName' failed to satisfy constraint: "
        "Member must have length less than or equal to 64"
    )


def test_supported_runtime_passes() -> None:
    check_runtime("python3.12", SUPPORTED)


def test_unknown_runtime_lists_the_accepted_values_unquoted() -> None:
    with pytest.raises(InvalidParameterValue) as caught:
        check_runtime("PYTHON3.9", SUPPORTED)
    assert _message(caught) == (
        "Value PYTHON3.9 at 'runtime' failed to satisfy constraint: Member must satisfy enum value set: "
        "[python3.12, provided.al2023] or be a valid ARN"
    )


@pytest.mark.parametrize("runtime", ["python3.7", "nodejs12.x", "go1.x", "provided", "java8"])
def test_blocked_runtimes_are_no_longer_supported(runtime: str) -> None:
    with pytest.raises(InvalidParameterValue) as caught:
        check_runtime(runtime, SUPPORTED)
    assert _message(caught) == (
        f"The runtime parameter of {runtime} is no longer supported for creating or updating AWS Lambda functions. "
        "We recommend you use a supported runtime while creating or updating functions."
    )


def test_environment_within_4kb_passes() -> None:
    check_environment({"KEY": "v" * 4000})


def test_environment_over_4kb_quotes_the_measured_json() -> None:
    variables = {"KEY": "v" * 4100}
    with pytest.raises(InvalidParameterValue) as caught:
        check_environment(variables)
    assert _message(caught) == (
        "Lambda was unable to configure your environment variables because the environment variables you have "
        f'provided exceeded the 4KB limit. String measured: {{"KEY":"{"v" * 4100}"}}'
    )


def test_reserved_environment_keys_are_named() -> None:
    with pytest.raises(InvalidParameterValue) as caught:
        check_environment({"AWS_REGION": "x", "OK": "y"})
    assert _message(caught) == (
        "Lambda was unable to configure your environment variables because the environment variables you have "
        "provided contains reserved keys that are currently not supported for modification. "
        "Reserved keys used in this request: AWS_REGION"
    )


@pytest.mark.parametrize(("runtime", "handler"), [(None, "app.handler"), ("python3.12", None)])
def test_zip_functions_need_runtime_and_handler(runtime: str | None, handler: str | None) -> None:
    with pytest.raises(InvalidParameterValue) as caught:
        check_handler_present(runtime, handler)
    assert _message(caught) == (
        "Runtime and Handler are mandatory parameters for functions created with deployment packages."
    )
