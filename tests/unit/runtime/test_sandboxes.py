"""Each environment's sandbox on the host: what a forked and a spawned environment get, what the function sees of its
code, what release() frees, and the launcher that starts a program in its sandbox."""

from __future__ import annotations

import os
import signal
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from nimbus.runtime import cgroups, isolation
from nimbus.runtime.isolation import HostSupport, Isolation, Level
from nimbus.runtime.sandboxes import Sandbox, Sandboxes, launch
from nimbus.runtime.spec import process_environment
from tests.unit.runtime.test_sandbox_child import make_spec

FULL = HostSupport(namespaces=True, pid_namespace=True)
NOT_PROBED = HostSupport(namespaces=False, pid_namespace=False)


@pytest.fixture
def namespace() -> str:
    return f"nimbus-test-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def code(tmp_path: Path) -> Path:
    root = tmp_path / "data" / "code" / "abc"
    root.mkdir(parents=True)
    (root / "bootstrap").write_text("#!/bin/sh\n")
    return root


def run_launched(sandbox: Sandbox, argv: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    command = launch(sandbox, argv, env)
    try:
        return subprocess.run(
            command.argv,
            env={},
            cwd=cwd,
            pass_fds=command.pass_fds,
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    finally:
        os.close(command.fd)


# -- what the function sees of its code ----------------------------------------------------------------------------
def test_in_namespaces_the_function_sees_its_code_at_var_task(tmp_path: Path, code: Path) -> None:
    spec = make_spec(code)
    sandbox = Sandboxes(Isolation(Level.NAMESPACES, FULL, tmp_path / "data")).for_blank(spec, "env-1", ())
    seen = sandbox.visible_spec(spec)
    assert seen.task_root == sandbox.task_root == Path("/var/task")
    assert process_environment(seen, "stream")["LAMBDA_TASK_ROOT"] == "/var/task"
    assert sandbox.inside(code / "bootstrap", spec) == Path("/var/task/bootstrap")
    assert sandbox.plan["cgroups"] == []  # a blank joined its cgroups when it was forked
    assert sandbox.plan["tmp_size_mb"] == spec.ephemeral_storage


def test_at_level_process_the_code_is_where_it_lies_and_tmp_is_its_own(tmp_path: Path, code: Path) -> None:
    spec = make_spec(code)
    sandbox = Sandboxes(Isolation(Level.PROCESS, NOT_PROBED, tmp_path / "data")).for_blank(spec, "env-1", ())
    assert sandbox.visible_spec(spec) is spec
    assert sandbox.tmp_dir == tmp_path / "data" / "tmp" / "env-1"
    assert sandbox.plan["environment"] == {"TMPDIR": str(sandbox.tmp_dir)}
    assert sandbox.tmp_dir.is_dir()
    sandbox.release()
    assert not sandbox.tmp_dir.exists()
    sandbox.release()  # idempotent


# -- cgroups ---------------------------------------------------------------------------------------------------------
def test_an_environment_gets_its_cpu_share_once_init_is_done(tmp_path: Path, namespace: str) -> None:
    found = Isolation(Level.NONE, NOT_PROBED, tmp_path, cpu=cgroups.detect_limit("cpu", namespace))
    if found.cpu is None:
        pytest.skip("needs a writable cpu cgroup")
    sandboxes = Sandboxes(found)
    try:
        (cpu,) = sandboxes.blank_limits("blank-1")
        sandbox = sandboxes.for_blank(make_spec(tmp_path, memory_size=3538), "env-1", [cpu])
        quota = "cpu.cfs_quota_us" if cpu.version == 1 else "cpu.max"
        assert (cpu.path / quota).read_text().split()[0] in ("-1", "max")  # init runs with burst CPU, as on AWS
        sandboxes.throttle(sandbox, 3538)
        assert (cpu.path / quota).read_text().split()[0] == "200000"  # two vCPUs' worth, as AWS gives 3,538 MB
        sandbox.release()
        assert not cpu.path.exists()
    finally:
        found.close()


def test_release_kills_what_is_left_in_the_environments_pids_cgroup(tmp_path: Path, namespace: str) -> None:
    found = Isolation(Level.NONE, NOT_PROBED, tmp_path, pids=cgroups.detect_limit("pids", namespace))
    if found.pids is None:
        pytest.skip("needs a writable pids cgroup")
    sandboxes = Sandboxes(found)
    try:
        sandbox = sandboxes.for_spawn(make_spec(tmp_path), "env-1", None)
        (pids,) = sandbox.limits
        # A process that left the environment's session, which a kill of the session would miss.
        straggler = subprocess.Popen(["sleep", "60"], start_new_session=True)
        (pids.procs).write_text(str(straggler.pid))
        sandbox.release()
        assert straggler.wait(timeout=10) == -signal.SIGKILL
    finally:
        found.close()


# -- the launcher of spawned environments ---------------------------------------------------------------------------
def test_the_launcher_enters_the_plan_and_execs_the_program_with_its_environment(tmp_path: Path, code: Path) -> None:
    sandbox = Sandboxes(Isolation(Level.PROCESS, NOT_PROBED, tmp_path / "data")).for_spawn(make_spec(code), "e", None)
    script = 'echo "$GREETING|$TMPDIR|$(pwd)"'
    done = run_launched(sandbox, ["/bin/sh", "-c", script], {"GREETING": "hello", "PATH": "/usr/bin:/bin"}, tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"hello|{sandbox.tmp_dir}|{code}\n"


def test_the_launcher_itself_ignores_what_the_function_sets_for_programs(tmp_path: Path, code: Path) -> None:
    # LD_PRELOAD and PYTHON* variables act on the program it execs, never on the launcher, which runs before the
    # sandbox: a library that does not exist would stop the launcher's own interpreter otherwise.
    sandbox = Sandboxes(Isolation(Level.NONE, NOT_PROBED, tmp_path / "data")).for_spawn(make_spec(code), "e", None)
    env = {"LD_PRELOAD": str(tmp_path / "missing.so"), "PYTHONSTARTUP": "/nonexistent", "PATH": "/usr/bin:/bin"}
    done = run_launched(sandbox, ["/bin/sh", "-c", "echo $PYTHONSTARTUP"], env, tmp_path)
    assert done.stdout.endswith("/nonexistent\n")


def test_a_program_the_launcher_cannot_exec_exits_127_saying_why(tmp_path: Path, code: Path) -> None:
    sandbox = Sandboxes(Isolation(Level.NONE, NOT_PROBED, tmp_path / "data")).for_spawn(make_spec(code), "e", None)
    done = run_launched(sandbox, [str(code / "missing")], {}, tmp_path)
    assert done.returncode == 127
    assert done.stderr.startswith("nimbus sandbox: [Errno 2] No such file or directory")


def test_an_environment_larger_than_a_pipe_reaches_the_program(tmp_path: Path, code: Path) -> None:
    sandbox = Sandboxes(Isolation(Level.NONE, NOT_PROBED, tmp_path / "data")).for_spawn(make_spec(code), "e", None)
    big = "x" * 100_000
    done = run_launched(sandbox, ["/bin/sh", "-c", 'printf %s "$BIG" | wc -c'], {"BIG": big}, tmp_path)
    assert done.stdout.strip() == "100000"


@pytest.fixture
def namespaces_allowed() -> Iterator[None]:
    with tempfile.TemporaryDirectory() as probe_dir:
        support = isolation.probe(Path(probe_dir))
    if not support.namespaces or not support.pid_namespace:
        pytest.skip(f"this host does not allow namespaces: {support.reason}")
    yield


@pytest.mark.usefixtures("namespaces_allowed")
def test_a_launched_program_runs_in_the_namespaces_sandbox(code: Path) -> None:
    # Children this worker already had (servers or zygotes of earlier tests) are not this test's business.
    earlier = {child.pid for child in psutil.Process().children()}
    with tempfile.TemporaryDirectory() as data:  # under /tmp: the sandbox's own /tmp covers it
        found = isolation.detect("namespaces", Path(data), None, namespace=f"nimbus-test-{uuid.uuid4().hex[:8]}")
        try:
            sandbox = Sandboxes(found).for_spawn(make_spec(code), "env-1", None)
            script = "echo $$ $(pwd) $(id -u); ls /proc | grep -c '^[0-9]'"
            done = run_launched(sandbox, ["/bin/sh", "-c", script], {"PATH": "/usr/bin:/bin"}, code)
            sandbox.release()  # its init may outlive the launcher for a moment
        finally:
            found.close()
    assert done.returncode == 0, done.stderr
    first, processes = done.stdout.splitlines()
    uid = str(isolation.SANDBOX_UID) if os.geteuid() == 0 else str(os.geteuid())
    assert first == f"2 /var/task {uid}"  # pid 2: after the namespace's init
    assert int(processes) <= 4  # init, the shell and what it runs: nothing of the host's
    assert not [child for child in psutil.Process().children() if child.pid not in earlier]
