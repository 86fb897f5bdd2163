"""What an environment makes of a function's layers: /opt roots, PATH and LD_LIBRARY_PATH, Python's sys.path
entries and where a custom runtime's bootstrap is looked for."""

from __future__ import annotations

import dataclasses
import os
import sys
from pathlib import Path

import pytest

from nimbus.runtime import python_bootstrap
from nimbus.runtime.runtime_api import bootstrap_candidates
from nimbus.runtime.spec import OPT_ROOTS_VARIABLE, Credentials, EnvironmentSpec, opt_roots, process_environment

TASK = Path("/code/task")
FIRST, SECOND = Path("/code/first"), Path("/code/second")


def spec(runtime: str = "python3.12", layers: tuple[Path, ...] = (FIRST, SECOND)) -> EnvironmentSpec:
    return EnvironmentSpec(
        function_name="fn", version="$LATEST", runtime=runtime, handler="app.handler", memory_size=128, timeout=3,
        task_root=TASK, function_arn="arn:aws:lambda:us-east-1:000000000000:function:fn", log_group="/aws/lambda/fn",
        variables={}, region="us-east-1", credentials=Credentials("k", "s"), init_timeout=10, layers=layers,
    )  # fmt: skip


def test_opt_is_each_layers_tree_last_first_or_the_real_opt_in_a_sandbox() -> None:
    assert opt_roots(spec(), inside_sandbox=False) == [str(SECOND), str(FIRST)]
    assert opt_roots(spec(), inside_sandbox=True) == ["/opt"]
    assert opt_roots(spec(layers=()), inside_sandbox=False) == []


def test_path_and_library_path_end_with_the_layers() -> None:
    env = process_environment(spec(), "stream")
    assert env["PATH"] == f"/var/lang/bin:/usr/local/bin:/usr/bin/:/bin:{SECOND}/bin:{FIRST}/bin"
    assert env["LD_LIBRARY_PATH"].endswith(f"{TASK}/lib:{SECOND}/lib:{FIRST}/lib")
    assert env[OPT_ROOTS_VARIABLE] == f"{SECOND}:{FIRST}"
    inside = process_environment(spec(), "stream", inside_sandbox=True)
    assert inside["PATH"] == "/var/lang/bin:/usr/local/bin:/usr/bin/:/bin:/opt/bin"
    assert inside["LD_LIBRARY_PATH"].endswith(":/opt/lib")


def test_only_python_gets_the_opt_roots_and_users_cannot_set_them() -> None:
    assert OPT_ROOTS_VARIABLE not in process_environment(spec(runtime="provided.al2023"), "stream")
    assert OPT_ROOTS_VARIABLE not in process_environment(spec(layers=()), "stream")
    forged = dataclasses.replace(spec(layers=()), variables={OPT_ROOTS_VARIABLE: "/evil"})
    assert OPT_ROOTS_VARIABLE not in process_environment(forged, "stream")


def test_layers_change_the_fingerprint() -> None:
    assert spec().fingerprint != spec(layers=(SECOND, FIRST)).fingerprint


def test_python_paths_put_site_packages_before_python_dirs() -> None:
    assert python_bootstrap.layer_paths("/b:/a", "python3.12") == [
        "/b/python/lib/python3.12/site-packages", "/a/python/lib/python3.12/site-packages", "/b/python", "/a/python",
    ]  # fmt: skip


def test_a_bootstrap_is_looked_for_in_the_code_then_the_last_layer_first() -> None:
    assert bootstrap_candidates(spec(runtime="provided.al2023")) == [
        TASK / "bootstrap", SECOND / "bootstrap", FIRST / "bootstrap",
    ]  # fmt: skip


def test_the_bootstrap_adds_layer_paths_after_the_task_root(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(sys, "path", ["/task", "/stdlib"])
    monkeypatch.setenv(OPT_ROOTS_VARIABLE, str(tmp_path))
    monkeypatch.setenv("AWS_EXECUTION_ENV", "AWS_Lambda_python3.12")
    monkeypatch.delenv("PYTHONPATH", raising=False)
    python_bootstrap.add_layer_paths()
    assert sys.path == ["/task", f"{tmp_path}/python/lib/python3.12/site-packages", f"{tmp_path}/python", "/stdlib"]
    assert OPT_ROOTS_VARIABLE not in os.environ


def test_the_bootstrap_skips_layer_paths_when_pythonpath_is_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "path", ["/task"])
    monkeypatch.setenv(OPT_ROOTS_VARIABLE, "/opt")
    monkeypatch.setenv("PYTHONPATH", "/mine")
    python_bootstrap.add_layer_paths()
    assert sys.path == ["/task"]
    assert OPT_ROOTS_VARIABLE not in os.environ
