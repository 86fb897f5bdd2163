"""Function state and last-update status transitions."""

from __future__ import annotations

import pytest

from nimbus.domain.states import FunctionState, IllegalTransition, UpdateStatus, check_state_move, check_update_move


def test_pending_becomes_active_or_failed() -> None:
    assert check_state_move(FunctionState.PENDING, FunctionState.ACTIVE) is FunctionState.ACTIVE
    assert check_state_move(FunctionState.PENDING, FunctionState.FAILED) is FunctionState.FAILED


def test_active_never_goes_back_to_pending() -> None:
    with pytest.raises(IllegalTransition):
        check_state_move(FunctionState.ACTIVE, FunctionState.PENDING)


def test_an_update_goes_in_progress_then_successful() -> None:
    status = check_update_move(None, UpdateStatus.SUCCESSFUL)
    status = check_update_move(status, UpdateStatus.IN_PROGRESS)
    assert check_update_move(status, UpdateStatus.SUCCESSFUL) is UpdateStatus.SUCCESSFUL


def test_an_update_cannot_start_while_one_is_in_progress() -> None:
    with pytest.raises(IllegalTransition):
        check_update_move(UpdateStatus.IN_PROGRESS, UpdateStatus.IN_PROGRESS)
