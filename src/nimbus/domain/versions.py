"""Published versions: immutable snapshots of $LATEST (https://docs.aws.amazon.com/lambda/latest/dg/configuration-versions.html)."""

from __future__ import annotations

from nimbus.domain.functions import FunctionConfig
from nimbus.domain.states import FunctionState, UpdateStatus
from nimbus.errors import InvalidParameterValue


def check_code_sha256(latest: FunctionConfig, expected: str | None) -> None:
    """PublishVersion's CodeSha256 guard: publish only the code the caller has seen."""
    if expected and expected != latest.code.code_sha256:
        raise InvalidParameterValue(
            f"CodeSHA256 ({expected}) is different from current CodeSHA256 in $LATEST "
            f"({latest.code.code_sha256}). Please try again with the CodeSHA256 in $LATEST."
        )


def unchanged_since(latest: FunctionConfig, published: FunctionConfig) -> bool:
    """$LATEST has not been updated since `published` was taken from it (AWS then returns that version again).

    A version keeps the LastModified of the $LATEST it copies, and every update of $LATEST moves LastModified, so
    equal timestamps and equal code mean nothing changed in between.
    """
    return latest.last_modified == published.last_modified and latest.code == published.code


def snapshot(latest: FunctionConfig, number: int, revision_id: str, description: str | None) -> FunctionConfig:
    """Version `number` of the function: the whole configuration of $LATEST, with its own identity and state.

    Everything else (code, layers, environment, passthrough members, whatever FunctionConfig grows) is copied.
    """
    return latest.replace(
        version=str(number),
        revision_id=revision_id,
        description=latest.description if description is None else description,
        state=FunctionState.ACTIVE,
        state_reason=None,
        state_reason_code=None,
        # A version is never updated: it reports the last update of $LATEST it was taken after, which succeeded.
        last_update_status=UpdateStatus.SUCCESSFUL,
        last_update_reason=None,
        last_update_reason_code=None,
    )
