"""Function lifecycle states with their legal transitions (AWS: Pending -> Active | Failed)."""

from __future__ import annotations

import enum


class IllegalTransition(RuntimeError):
    pass


class FunctionState(enum.StrEnum):
    PENDING = "Pending"
    ACTIVE = "Active"
    FAILED = "Failed"
    INACTIVE = "Inactive"


class UpdateStatus(enum.StrEnum):
    IN_PROGRESS = "InProgress"
    SUCCESSFUL = "Successful"
    FAILED = "Failed"


_STATE_MOVES: dict[FunctionState, frozenset[FunctionState]] = {
    FunctionState.PENDING: frozenset({FunctionState.ACTIVE, FunctionState.FAILED}),
    FunctionState.ACTIVE: frozenset({FunctionState.ACTIVE, FunctionState.INACTIVE, FunctionState.FAILED}),
    FunctionState.INACTIVE: frozenset({FunctionState.PENDING, FunctionState.ACTIVE}),
    FunctionState.FAILED: frozenset({FunctionState.PENDING, FunctionState.ACTIVE, FunctionState.FAILED}),
}

_UPDATE_MOVES: dict[UpdateStatus | None, frozenset[UpdateStatus]] = {
    None: frozenset({UpdateStatus.SUCCESSFUL, UpdateStatus.IN_PROGRESS}),
    UpdateStatus.IN_PROGRESS: frozenset({UpdateStatus.SUCCESSFUL, UpdateStatus.FAILED}),
    UpdateStatus.SUCCESSFUL: frozenset({UpdateStatus.IN_PROGRESS, UpdateStatus.SUCCESSFUL}),
    UpdateStatus.FAILED: frozenset({UpdateStatus.IN_PROGRESS, UpdateStatus.SUCCESSFUL}),
}


def check_state_move(current: FunctionState, target: FunctionState) -> FunctionState:
    if target not in _STATE_MOVES[current]:
        raise IllegalTransition(f"function state {current} cannot become {target}")
    return target


def check_update_move(current: UpdateStatus | None, target: UpdateStatus) -> UpdateStatus:
    if target not in _UPDATE_MOVES[current]:
        raise IllegalTransition(f"update status {current} cannot become {target}")
    return target
