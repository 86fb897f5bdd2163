"""FunctionConfiguration's SnapStart member: ApplyOn as configured, OptimizationStatus On for snapshotted versions."""

from __future__ import annotations

from typing import Any

from nimbus.api.shapes import function_configuration
from nimbus.domain.arns import Identity
from nimbus.domain.functions import CodeRef, FunctionConfig

IDENTITY = Identity("us-east-1", "000000000000")


def rendered(version: str, **passthrough: Any) -> Any:
    config = FunctionConfig(
        name="fn", runtime="python3.12", role="arn:aws:iam::000000000000:role/r", handler="app.handler",
        code=CodeRef("ab" * 32, "sha", 1), revision_id="r", last_modified="2026-01-01T00:00:00.000+0000",
        version=version, passthrough=passthrough,
    )  # fmt: skip
    return function_configuration(config, IDENTITY)["SnapStart"]


def test_default_is_none_and_off() -> None:
    assert rendered("$LATEST") == {"ApplyOn": "None", "OptimizationStatus": "Off"}
    assert rendered("1") == {"ApplyOn": "None", "OptimizationStatus": "Off"}


def test_latest_of_a_snap_start_function_is_off() -> None:
    assert rendered("$LATEST", SnapStart={"ApplyOn": "PublishedVersions"}) == {
        "ApplyOn": "PublishedVersions",
        "OptimizationStatus": "Off",
    }


def test_a_published_version_of_a_snap_start_function_is_on() -> None:
    assert rendered("2", SnapStart={"ApplyOn": "PublishedVersions"}) == {
        "ApplyOn": "PublishedVersions",
        "OptimizationStatus": "On",
    }


def test_listing_renders_snap_start_too() -> None:
    config = FunctionConfig(
        name="fn", runtime="python3.12", role="r", handler="app.handler", code=CodeRef("ab" * 32, "sha", 1),
        revision_id="r", last_modified="x", version="1", passthrough={"SnapStart": {"ApplyOn": "PublishedVersions"}},
    )  # fmt: skip
    assert function_configuration(config, IDENTITY, listing=True)["SnapStart"]["OptimizationStatus"] == "On"
