"""SnapStart's pure rules: ApplyOn as configured, OptimizationStatus per version, which versions are snapshotted."""

from __future__ import annotations

from typing import Any

import pytest

from nimbus.domain import snapstart
from nimbus.domain.functions import CodeRef, FunctionConfig


def config(version: str = "1", runtime: str = "python3.12", **passthrough: Any) -> FunctionConfig:
    return FunctionConfig(
        name="fn", runtime=runtime, role="arn:aws:iam::000000000000:role/r", handler="app.handler",
        code=CodeRef("ab" * 32, "sha", 1), revision_id="r", last_modified="2026-01-01T00:00:00.000+0000",
        version=version, passthrough=passthrough,
    )  # fmt: skip


ON = {"ApplyOn": "PublishedVersions"}


def test_apply_on_is_none_unless_configured() -> None:
    assert snapstart.apply_on(config()) == "None"
    assert snapstart.apply_on(config(SnapStart={"ApplyOn": "None"})) == "None"
    assert snapstart.apply_on(config(SnapStart=ON)) == "PublishedVersions"


def test_an_empty_snap_start_member_means_none() -> None:
    assert snapstart.apply_on(config(SnapStart=None)) == "None"
    assert snapstart.apply_on(config(SnapStart={})) == "None"


@pytest.mark.parametrize(
    ("version", "snap", "status"),
    [("1", ON, "On"), ("7", ON, "On"), ("$LATEST", ON, "Off"), ("1", {"ApplyOn": "None"}, "Off"), ("1", None, "Off")],
)
def test_optimization_status_is_on_only_for_published_versions_that_opted_in(
    version: str, snap: dict[str, str] | None, status: str
) -> None:
    assert snapstart.optimization_status(config(version, SnapStart=snap)) == status


@pytest.mark.parametrize("runtime", ["python3.9", "python3.11", "python3.12", "python3.13"])
def test_python_versions_that_opted_in_are_snapshotted(runtime: str) -> None:
    assert snapstart.snapshots(config(runtime=runtime, SnapStart=ON))


@pytest.mark.parametrize("runtime", ["provided.al2023", "provided.al2", "nodejs20.x"])
def test_other_runtimes_are_not_snapshotted_though_their_status_says_on(runtime: str) -> None:
    """A custom runtime's bootstrap is a program nimbus cannot fork mid-flight: it initialises as usual."""
    version = config(runtime=runtime, SnapStart=ON)
    assert snapstart.optimization_status(version) == "On"
    assert not snapstart.snapshots(version)


def test_latest_and_versions_without_snap_start_are_not_snapshotted() -> None:
    assert not snapstart.snapshots(config("$LATEST", SnapStart=ON))
    assert not snapstart.snapshots(config("3"))
