"""Publishing: what a version copies, and when nothing changed since the newest version."""

from __future__ import annotations

import pytest

from nimbus.domain.functions import CodeRef, FunctionConfig
from nimbus.domain.states import FunctionState, UpdateStatus
from nimbus.domain.versions import check_code_sha256, snapshot, unchanged_since
from nimbus.errors import InvalidParameterValue

LATEST = FunctionConfig(
    name="fn", runtime="python3.12", role="arn:aws:iam::000000000000:role/r", handler="app.handler",
    code=CodeRef("ab" * 32, "sha-a", 1), revision_id="r1", last_modified="2026-01-01T00:00:00.000+0000",
    description="d", environment={"A": "1"}, passthrough={"Layers": ["arn:l:1"]},
    state=FunctionState.ACTIVE, last_update_status=UpdateStatus.SUCCESSFUL,
)  # fmt: skip


def test_a_version_copies_everything_but_its_identity_and_state() -> None:
    version = snapshot(LATEST.replace(state=FunctionState.PENDING), 4, "r9", None)
    assert (version.version, version.revision_id, version.state) == ("4", "r9", FunctionState.ACTIVE)
    assert version.replace(version="$LATEST", revision_id="r1") == LATEST.replace(
        state_reason=None, state_reason_code=None
    )
    assert version.passthrough == {"Layers": ["arn:l:1"]} and version.environment == {"A": "1"}


def test_a_version_takes_the_description_given_to_publish() -> None:
    assert snapshot(LATEST, 1, "r", "release").description == "release"
    assert snapshot(LATEST, 1, "r", "").description == ""


def test_nothing_changed_until_latest_is_updated() -> None:
    version = snapshot(LATEST, 1, "r", None)
    assert unchanged_since(LATEST.replace(revision_id="r2"), version)
    assert not unchanged_since(LATEST.replace(last_modified="2026-01-02T00:00:00.000+0000"), version)
    assert not unchanged_since(LATEST.replace(code=CodeRef("cd" * 32, "sha-b", 1)), version)


def test_code_sha256_must_match_latest() -> None:
    check_code_sha256(LATEST, None)
    check_code_sha256(LATEST, "sha-a")
    with pytest.raises(InvalidParameterValue) as caught:
        check_code_sha256(LATEST, "sha-x")
    assert caught.value.message == (
        "CodeSHA256 (sha-x) is different from current CodeSHA256 in $LATEST (sha-a). "
        "Please try again with the CodeSHA256 in $LATEST."
    )
