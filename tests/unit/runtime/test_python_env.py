"""Which functions may be forked from a zygote, and which need an interpreter started for them."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from nimbus.runtime.python_env import forkable
from nimbus.runtime.spec import Credentials, EnvironmentSpec

SPEC = EnvironmentSpec(
    function_name="fn",
    version="$LATEST",
    runtime="python3.11",
    handler="app.handler",
    memory_size=128,
    timeout=3,
    task_root=Path("/var/task"),
    function_arn="arn:aws:lambda:us-east-1:000000000000:function:fn",
    log_group="/aws/lambda/fn",
    variables={},
    region="us-east-1",
    credentials=Credentials("test", "test"),
    init_timeout=10.0,
)


def with_variables(**variables: str) -> EnvironmentSpec:
    return dataclasses.replace(SPEC, variables=variables)


@pytest.mark.parametrize(
    "variables",
    [{}, {"GREETING": "hello"}, {"PYTHONPATH": "/opt/python"}, {"LANG": "en_US.UTF-8"}, {"MY_PYTHON": "3"}],
)
def test_functions_whose_variables_an_interpreter_ignores_at_start_are_forked(variables: dict[str, str]) -> None:
    assert forkable(with_variables(**variables))


@pytest.mark.parametrize(
    "variables",
    [
        {"PYTHONDONTWRITEBYTECODE": "1"},
        {"PYTHONHASHSEED": "0"},
        {"PYTHONWARNINGS": "error"},
        {"LD_PRELOAD": "/opt/lib/libx.so"},
        {"LD_LIBRARY_PATH": "/opt/lib"},
        {"LANG": "C.UTF-8"},
        {"LC_ALL": "C"},
    ],
)
def test_functions_setting_what_an_interpreter_reads_at_start_get_their_own(variables: dict[str, str]) -> None:
    assert not forkable(with_variables(**variables))
