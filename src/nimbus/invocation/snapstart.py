"""SnapStart on the invoke path: AWS's errors, and making a version's snapshot when it is published.

Messages: SnapStartNotReadyException's is AWS's documented text (snapstart-troubleshooting); the others are AWS's
exception descriptions (the service model's documentation), since no recorded response was found.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import orjson

from nimbus.domain.functions import FunctionConfig
from nimbus.errors import ServiceError
from nimbus.runtime.results import InitOutcome
from nimbus.runtime.snapshots import SnapshotError, Snapshots
from nimbus.runtime.spec import EnvironmentSpec

log = logging.getLogger(__name__)

NOT_READY = "Lambda is initializing your function. It will be ready to invoke once your function state becomes ACTIVE."
RESTORE_FAILED = (
    "The afterRestore() runtime hook encountered an error. For more information, check the Amazon CloudWatch logs."
)
RESTORE_TIMED_OUT = "Lambda couldn't restore the snapshot within the timeout limit."
# The version's state when its snapshot could not be made (init or a before-snapshot hook failed).
FAILED_REASON_CODE = "FunctionError"


class SnapStartNotReady(ServiceError):
    def __init__(self) -> None:
        super().__init__("SnapStartNotReadyException", 409, NOT_READY)


class SnapStartFailed(ServiceError):
    """An after-restore hook raised: the invoke fails with this, the environment is discarded."""

    def __init__(self) -> None:
        super().__init__("SnapStartException", 400, RESTORE_FAILED)


class SnapStartTimedOut(ServiceError):
    def __init__(self) -> None:
        super().__init__("SnapStartTimeoutException", 408, RESTORE_TIMED_OUT)


def restore_error(init: InitOutcome) -> ServiceError:
    return SnapStartTimedOut() if init.error_type == "SnapStartTimeoutException" else SnapStartFailed()


def failed_reason(init: InitOutcome) -> str:
    """StateReason of a version whose snapshot failed: the init error, as the function's code raised it."""
    try:
        document = orjson.loads(init.error_payload or b"{}")
    except orjson.JSONDecodeError:
        document = {}
    error_type = document.get("errorType") or init.error_type or "Runtime.Unknown"
    message = document.get("errorMessage") or ""
    return f"Lambda couldn't create a snapshot of the function: {error_type}: {message}".rstrip(": ")


class SnapshotMaker:
    """What PublishVersion calls for a SnapStart version: make its snapshot (init + before-snapshot hooks) now."""

    def __init__(self, snapshots: Snapshots, spec_of: Callable[[FunctionConfig], EnvironmentSpec]) -> None:
        self._snapshots = snapshots
        self._spec_of = spec_of

    async def make(self, config: FunctionConfig) -> InitOutcome:
        spec = self._spec_of(config)
        try:
            snapshot = await self._snapshots.get(spec)
        except SnapshotError as exc:
            log.warning("SnapStart snapshot of %s:%s failed: %s", config.name, config.version, exc)
            payload = orjson.dumps({"errorMessage": str(exc), "errorType": "Runtime.Unknown"})
            return InitOutcome(0.0, payload, "Runtime.Unknown")
        assert snapshot.init is not None
        return snapshot.init

    async def discard(self, config: FunctionConfig) -> None:
        await self._snapshots.close_version(config.name, config.version)
