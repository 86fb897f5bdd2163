"""The error tree.

    NimbusError
    ├── ServiceError                 user-visible AWS errors: code, HTTP status, message (rendered by api/)
    │   ├── ValidationError          ValidationException, "N validation error(s) detected: ..."
    │   ├── InvalidParameterValue    InvalidParameterValueException
    │   ├── ResourceNotFound         ResourceNotFoundException
    │   ├── ResourceConflict         ResourceConflictException
    │   ├── PreconditionFailed       PreconditionFailedException
    │   ├── TooManyRequests          TooManyRequestsException (+ Reason, Retry-After)
    │   └── ...                      any other code, built with ServiceError(code, status, message)
    └── PlatformFault                a bug or broken host: rendered as ServiceException (500)

Function errors (a handler raised, timed out, ran out of memory) are not exceptions: past the environment boundary
they are data (runtime.results.FunctionError) and travel back as a 200 with X-Amz-Function-Error.
"""

from __future__ import annotations

from collections.abc import Mapping


class NimbusError(Exception):
    """Base of everything nimbus raises on purpose."""


class ServiceError(NimbusError):
    """An error the client sees with an AWS error code, status and message."""

    def __init__(
        self,
        code: str,
        status: int,
        message: str,
        *,
        extra: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.status = status
        self.message = message
        self.extra = dict(extra or {})
        self.headers = dict(headers or {})


class ValidationError(ServiceError):
    def __init__(self, violations: list[str]) -> None:
        count = len(violations)
        noun = "error" if count == 1 else "errors"
        message = f"{count} validation {noun} detected: " + "; ".join(violations)
        super().__init__("ValidationException", 400, message)
        self.violations = violations


class InvalidParameterValue(ServiceError):
    def __init__(self, message: str) -> None:
        super().__init__("InvalidParameterValueException", 400, message)


class ResourceNotFound(ServiceError):
    def __init__(self, message: str) -> None:
        super().__init__("ResourceNotFoundException", 404, message)


class ResourceConflict(ServiceError):
    def __init__(self, message: str) -> None:
        super().__init__("ResourceConflictException", 409, message)


class PreconditionFailed(ServiceError):
    def __init__(self, message: str) -> None:
        super().__init__("PreconditionFailedException", 412, message)


class InvalidRequestContent(ServiceError):
    def __init__(self, message: str) -> None:
        super().__init__("InvalidRequestContentException", 400, message)


class RequestEntityTooLarge(ServiceError):
    def __init__(self, message: str) -> None:
        super().__init__("RequestEntityTooLargeException", 413, message)


class TooManyRequests(ServiceError):
    def __init__(self, reason: str, retry_after: int = 1) -> None:
        super().__init__(
            "TooManyRequestsException",
            429,
            "Rate Exceeded.",
            extra={"Reason": reason},
            headers={"Retry-After": str(retry_after)},
        )


class AuthError(ServiceError):
    def __init__(self, code: str, message: str, status: int = 403) -> None:
        super().__init__(code, status, message)


class PlatformFault(NimbusError):
    """Something broke inside nimbus or the host; clients see ServiceException (500)."""
