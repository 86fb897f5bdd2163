"""Rules AWS applies to function configuration beyond the service model's constraints, with AWS's messages."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import orjson

from nimbus.errors import InvalidParameterValue

RESERVED_VARIABLES = frozenset(
    {
        "_HANDLER", "_X_AMZN_TRACE_ID", "AWS_DEFAULT_REGION", "AWS_REGION", "AWS_EXECUTION_ENV",
        "AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "AWS_LAMBDA_FUNCTION_VERSION",
        "AWS_LAMBDA_INITIALIZATION_TYPE", "AWS_LAMBDA_LOG_GROUP_NAME", "AWS_LAMBDA_LOG_STREAM_NAME",
        "AWS_ACCESS_KEY", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
        "AWS_LAMBDA_RUNTIME_API", "LAMBDA_TASK_ROOT", "LAMBDA_RUNTIME_DIR", "TZ",
    }
)  # fmt: skip

MAX_ENVIRONMENT_BYTES = 4096
# The model allows 140 characters (room for an ARN); the name itself is at most 64.
MAX_FUNCTION_NAME = 64

# Runtimes AWS has blocked for create and update: they get the "no longer supported" message.
BLOCKED_RUNTIMES = frozenset(
    {
        "nodejs", "nodejs4.3", "nodejs6.10", "nodejs8.10", "nodejs10.x", "nodejs12.x", "nodejs14.x", "nodejs4.3-edge",
        "java8", "python2.7", "python3.6", "python3.7", "dotnetcore1.0", "dotnetcore2.0", "dotnetcore2.1",
        "dotnetcore3.1", "go1.x", "ruby2.5", "ruby2.7", "provided",
    }
)  # fmt: skip

_ENV_PREFIX = (
    "Lambda was unable to configure your environment variables because the environment variables you have provided"
)


def check_function_name(name: str) -> None:
    # AWS words this as a validation error but sends it as InvalidParameterValueException.
    if len(name) > MAX_FUNCTION_NAME:
        raise InvalidParameterValue(
            f"1 validation error detected: Value '{name}' at 'functionName' failed to satisfy constraint: "
            f"Member must have length less than or equal to {MAX_FUNCTION_NAME}"
        )


def check_environment(variables: Mapping[str, str]) -> None:
    reserved = [key for key in variables if key in RESERVED_VARIABLES]
    if reserved:
        raise InvalidParameterValue(
            f"{_ENV_PREFIX} contains reserved keys that are currently not supported for modification. "
            f"Reserved keys used in this request: {', '.join(reserved)}"
        )
    measured = orjson.dumps(dict(variables)).decode()
    if len(measured.encode()) > MAX_ENVIRONMENT_BYTES:
        raise InvalidParameterValue(f"{_ENV_PREFIX} exceeded the 4KB limit. String measured: {measured}")


def check_runtime(runtime: str, supported: Iterable[str]) -> None:
    supported = list(supported)
    if runtime in supported:
        return
    if runtime in BLOCKED_RUNTIMES:
        raise InvalidParameterValue(
            f"The runtime parameter of {runtime} is no longer supported for creating or updating AWS Lambda "
            "functions. We recommend you use a supported runtime while creating or updating functions."
        )
    raise InvalidParameterValue(
        f"Value {runtime} at 'runtime' failed to satisfy constraint: Member must satisfy enum value set: "
        f"[{', '.join(supported)}] or be a valid ARN"
    )


def check_handler_present(runtime: str | None, handler: str | None) -> None:
    if not runtime or not handler:
        raise InvalidParameterValue(
            "Runtime and Handler are mandatory parameters for functions created with deployment packages."
        )
