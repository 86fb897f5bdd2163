"""SnapStart (https://docs.aws.amazon.com/lambda/latest/dg/snapstart.html): which versions start from a snapshot."""

from __future__ import annotations

from nimbus.domain.arns import LATEST
from nimbus.domain.functions import FunctionConfig

PUBLISHED_VERSIONS = "PublishedVersions"
# Runtimes nimbus snapshots: its own Python runtime (a custom runtime's bootstrap is a program it cannot fork).
_SNAPSHOT_RUNTIMES = ("python",)


def apply_on(config: FunctionConfig) -> str:
    """SnapStart.ApplyOn as configured: "PublishedVersions" or "None"."""
    snap = config.passthrough.get("SnapStart") or {}
    return str(snap.get("ApplyOn", "None"))


def optimization_status(config: FunctionConfig) -> str:
    """AWS's OptimizationStatus: "On" for a published version of a function with ApplyOn PublishedVersions; $LATEST
    is never started from a snapshot, so it says "Off" even then."""
    return "On" if apply_on(config) == PUBLISHED_VERSIONS and config.version != LATEST else "Off"


def snapshots(config: FunctionConfig) -> bool:
    """Whether this version's environments are restored from a snapshot made when it was published."""
    return optimization_status(config) == "On" and config.runtime.startswith(_SNAPSHOT_RUNTIMES)
