"""Error bodies as botocore parses them: status, x-amzn-ErrorType, `message` vs `Message`, and `Type`."""

from __future__ import annotations

import orjson
import pytest

from nimbus.api.wire import error_response
from nimbus.errors import (
    AuthError,
    InvalidParameterValue,
    PreconditionFailed,
    ResourceConflict,
    ResourceNotFound,
    ServiceError,
    TooManyRequests,
    ValidationError,
)


def test_resource_not_found_uses_capital_message_and_type_user() -> None:
    response = error_response(ResourceNotFound("Function not found: arn:aws:lambda:us-east-1:000000000000:function:f"))
    assert response.status == 404
    assert response.headers["x-amzn-ErrorType"] == "ResourceNotFoundException"
    assert orjson.loads(response.body) == {
        "Message": "Function not found: arn:aws:lambda:us-east-1:000000000000:function:f",
        "Type": "User",
    }


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (InvalidParameterValue("bad"), 400),
        (ResourceConflict("bad"), 409),
        (PreconditionFailed("bad"), 412),
    ],
)
def test_lower_case_message_shapes(error: ServiceError, status: int) -> None:
    response = error_response(error)
    assert response.status == status
    assert orjson.loads(response.body) == {"message": "bad", "Type": "User"}


def test_validation_exception_has_no_type() -> None:
    response = error_response(ValidationError(["Value null at 'role' failed to satisfy constraint: x"]))
    assert response.status == 400
    assert response.headers["x-amzn-ErrorType"] == "ValidationException"
    assert orjson.loads(response.body) == {
        "message": "1 validation error detected: Value null at 'role' failed to satisfy constraint: x"
    }


def test_signature_errors_are_framework_errors_without_type() -> None:
    response = error_response(AuthError("InvalidSignatureException", "nope"))
    assert response.status == 403
    assert orjson.loads(response.body) == {"message": "nope"}


def test_service_exception_is_type_service() -> None:
    response = error_response(ServiceError("ServiceException", 500, "An internal error occurred."))
    assert orjson.loads(response.body) == {"Message": "An internal error occurred.", "Type": "Service"}


def test_throttle_carries_reason_and_retry_after() -> None:
    response = error_response(TooManyRequests("ReservedFunctionConcurrentInvocationLimitExceeded"))
    assert response.status == 429
    assert response.headers["Retry-After"] == "1"
    assert orjson.loads(response.body) == {
        "message": "Rate Exceeded.",
        "Type": "User",
        "Reason": "ReservedFunctionConcurrentInvocationLimitExceeded",
    }
