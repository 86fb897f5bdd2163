"""The server side of isolation: which level a host gets, what each level's plan holds, the start-up probe, and the
cgroups and tmp directories an environment's sandbox holds on the host."""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from nimbus.runtime import cgroups, isolation
from nimbus.runtime.isolation import HostSupport, Isolation, Level, Reveal
from nimbus.runtime.sandboxes import Sandboxes
from nimbus.settings import SettingsError, load_settings
from tests.unit.runtime.test_sandbox_child import make_spec

FULL = HostSupport(namespaces=True, pid_namespace=True)
NONE_ALLOWED = HostSupport(namespaces=False, pid_namespace=False, reason="unshare: Operation not permitted")


# -- choosing the level ------------------------------------------------------------------------------------------
def test_auto_takes_namespaces_where_the_host_allows_them() -> None:
    assert isolation.choose("auto", FULL) == (Level.NAMESPACES, "")


def test_auto_takes_plain_processes_where_it_does_not() -> None:
    assert isolation.choose("auto", NONE_ALLOWED) == (Level.PROCESS, "")


def test_namespaces_asked_for_but_not_allowed_degrade_to_process_with_the_reason() -> None:
    level, warning = isolation.choose("namespaces", NONE_ALLOWED)
    assert level is Level.PROCESS
    assert "unshare: Operation not permitted" in warning


@pytest.mark.parametrize("asked", ["namespaces", "process", "none"])
def test_a_level_the_host_allows_is_taken_as_asked(asked: str) -> None:
    assert isolation.choose(asked, FULL) == (Level(asked), "")


def test_an_unknown_level_is_refused() -> None:
    with pytest.raises(ValueError, match="isolation must be one of auto, namespaces, process, none"):
        isolation.choose("containers", FULL)


# -- plans -------------------------------------------------------------------------------------------------------
def test_namespaces_plan_mounts_code_and_tmp_and_hides_the_data_dir(tmp_path: Path) -> None:
    spec = make_spec(tmp_path / "data" / "code" / "abc", memory_size=256)
    reveal = [Reveal("/root", ("/root/.pyenv/versions/3.11.7",))]
    procs = [tmp_path / "pids" / "cgroup.procs"]
    plan = isolation.plan_for(
        spec, Level.NAMESPACES, data_dir=tmp_path / "data", ephemeral_storage_mb=1024, layers=[tmp_path / "layer"],
        cgroup_procs=procs, reveal=reveal,
    )  # fmt: skip
    assert plan == {
        "level": "namespaces",
        "cgroups": [str(procs[0])],
        "rlimits": {"NOFILE": [1024, 1024], "CORE": [0, 0]},
        "task_root": str(spec.task_root),
        "task_root_inside": "/var/task",
        "environment": {},
        "layers": [str(tmp_path / "layer")],
        "opt_inside": "/opt",
        "reveal": [{"cover": "/root", "keep": ["/root/.pyenv/versions/3.11.7"]}],
        "hide": [str(tmp_path / "data")],
        "tmp_dir": "/tmp",
        "tmp_keep": [],
        "tmp_size_mb": 1024,
        "shm_size_mb": 256,
        "pid_namespace": True,
        "pid_init": isolation.pid_init(),
        "user_namespace": False,
        "uid": 993,
        "gid": 990,
    }
    assert json.loads(json.dumps(plan)) == plan


def test_a_server_that_is_not_root_keeps_its_user_inside_a_user_namespace(tmp_path: Path) -> None:
    plan = isolation.plan_for(make_spec(tmp_path), Level.NAMESPACES, data_dir=tmp_path, user_namespace=True)
    assert plan["user_namespace"] is True
    assert "uid" not in plan


def test_process_plan_points_tmpdir_at_the_environments_own_directory(tmp_path: Path) -> None:
    spec = make_spec(tmp_path / "code")
    plan = isolation.plan_for(spec, Level.PROCESS, data_dir=tmp_path, tmp_dir=tmp_path / "tmp" / "env")
    assert plan["task_root_inside"] == str(spec.task_root)
    assert plan["environment"] == {"TMPDIR": str(tmp_path / "tmp" / "env")}
    assert plan["rlimits"] == {"NOFILE": [1024, 1024], "CORE": [0, 0]}
    assert "hide" not in plan


def test_none_plan_only_joins_cgroups(tmp_path: Path) -> None:
    plan = isolation.plan_for(make_spec(tmp_path), Level.NONE, data_dir=tmp_path, cgroup_procs=[tmp_path / "x"])
    assert plan == {
        "level": "none",
        "cgroups": [str(tmp_path / "x")],
        "task_root": str(tmp_path),
        "task_root_inside": str(tmp_path),
        "environment": {},
    }


@pytest.fixture
def open_dir() -> Iterator[Path]:
    """A directory everyone may enter (pytest's own tmp_path sits under a 0700 directory)."""
    root = Path(tempfile.mkdtemp(prefix="nimbus-test-", dir="/var/tmp"))
    root.chmod(0o755)
    yield root
    shutil.rmtree(root)


def test_reveals_cover_the_closed_ancestor_and_keep_what_is_needed(open_dir: Path) -> None:
    home = open_dir / "home"
    for path in (home / "pyenv" / "3.11" / "lib", home / "venv", open_dir / "usr"):
        path.mkdir(parents=True)
    home.chmod(0o700)
    needed = [home / "pyenv" / "3.11", home / "pyenv" / "3.11" / "lib", home / "venv", open_dir / "usr"]
    assert isolation.reveals_for(needed) == [Reveal(str(home), (str(home / "pyenv" / "3.11"), str(home / "venv")))]


def test_this_interpreter_is_revealed_where_it_lies_under_a_closed_directory() -> None:
    for reveal in isolation.python_reveals():
        assert any(Path(sys_prefix).is_relative_to(reveal.cover) for sys_prefix in reveal.keep)
        assert not os.stat(reveal.cover).st_mode & 0o001


def test_cpu_share_is_proportional_to_memory_as_on_aws() -> None:
    assert cgroups.cpu_limits(1769, 1) == {"cpu.shares": "1024", "cpu.cfs_period_us": "100000",
                                           "cpu.cfs_quota_us": "100000"}  # fmt: skip
    assert cgroups.cpu_limits(128, 1)["cpu.cfs_quota_us"] == "7236"
    assert cgroups.cpu_limits(10240, 2) == {"cpu.weight": "579", "cpu.max": "578858 100000"}
    assert cgroups.cpu_limits(1, 2) == {"cpu.weight": "1", "cpu.max": "1000 100000"}


# -- detection ---------------------------------------------------------------------------------------------------
@pytest.fixture
def namespace() -> str:
    return f"nimbus-test-{uuid.uuid4().hex[:8]}"


def test_detect_logs_the_level_in_force_and_why(
    tmp_path: Path, namespace: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="nimbus.runtime")
    found = isolation.detect("auto", tmp_path / "data", None, namespace=namespace)
    try:
        line = next(r.getMessage() for r in caplog.records if r.getMessage().startswith("isolation: "))
        assert line.startswith(f"isolation: {found.level.value} (")
        assert found.level is (Level.NAMESPACES if found.support.namespaces else Level.PROCESS)
        if found.level is Level.NAMESPACES and os.geteuid() == 0:
            assert "functions run as uid 993" in line
    finally:
        found.close()
    assert not list(Path("/sys/fs/cgroup").glob(f"*/{namespace}-*"))


def test_namespaces_asked_on_a_host_without_them_degrade_and_warn(
    tmp_path: Path, namespace: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(isolation, "probe", lambda data_dir: NONE_ALLOWED)
    found = isolation.detect("namespaces", tmp_path, None, namespace=namespace)
    found.close()
    assert found.level is Level.PROCESS
    assert any(
        r.levelno == logging.WARNING and "unshare: Operation not permitted" in r.getMessage() for r in caplog.records
    )


def test_process_and_none_are_not_probed(tmp_path: Path, namespace: str, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(data_dir: Path) -> HostSupport:
        raise AssertionError("probed")

    monkeypatch.setattr(isolation, "probe", refuse)
    for asked in ("process", "none"):
        found = isolation.detect(asked, tmp_path, None, namespace=namespace)
        found.close()
        assert found.level is Level(asked)


def test_the_probe_finds_namespaces_on_a_root_host(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("a host where the server is root")
    assert isolation.probe(tmp_path) == FULL
    assert list(tmp_path.iterdir()) == []  # its scratch code directory is gone


def test_a_failing_sandbox_reports_the_step_that_failed(tmp_path: Path) -> None:
    if not isolation.probe(tmp_path).namespaces:
        pytest.skip("this host does not allow namespaces")
    plan = isolation.plan_for(make_spec(tmp_path / "missing"), Level.NAMESPACES, data_dir=tmp_path,
                              user_namespace=os.geteuid() != 0)  # fmt: skip
    reason = isolation.run_in_sandbox(plan, lambda plan: "")
    assert reason.startswith("SandboxError: ")
    assert f"{tmp_path / 'missing'} on /var/task" in reason


# -- an environment's sandbox on the host ------------------------------------------------------------------------
def test_a_sandbox_holds_cgroups_and_a_tmp_dir_until_released(tmp_path: Path, namespace: str) -> None:
    found = Isolation(
        Level.PROCESS, NONE_ALLOWED, tmp_path, memory=cgroups.detect(namespace),
        pids=cgroups.detect_limit("pids", namespace), cpu=cgroups.detect_limit("cpu", namespace),
    )  # fmt: skip
    if found.memory is None or found.pids is None or found.cpu is None:
        found.close()
        pytest.skip("needs writable memory, pids and cpu cgroups")
    try:
        memory = found.memory.create("env-1", 1769)
        assert memory is not None
        spec = dataclasses.replace(make_spec(tmp_path / "code", memory_size=1769), ephemeral_storage=600)
        sandboxes = Sandboxes(found)
        sandbox = sandboxes.for_spawn(spec, "env-1", memory)
        procs = [Path(path) for path in sandbox.plan["cgroups"]]
        assert procs == [memory.path / "cgroup.procs", *(group.procs for group in sandbox.limits)]
        assert all(path.exists() for path in procs)
        pids, cpu = sandbox.limits
        assert isinstance(pids, cgroups.Cgroup) and isinstance(cpu, cgroups.Cgroup)
        assert (pids.path / "pids.max").read_text().strip() == "1024"
        quota = "cpu.cfs_quota_us" if cpu.version == 1 else "cpu.max"
        assert (cpu.path / quota).read_text().split()[0] in ("-1", "max")  # init runs with burst CPU
        sandboxes.throttle(sandbox, 1769)
        assert (cpu.path / quota).read_text().split()[0] == "100000"
        assert sandbox.tmp_dir == tmp_path / "tmp" / "env-1"
        assert sandbox.plan["environment"] == {"TMPDIR": str(sandbox.tmp_dir)}
        assert sandbox.tmp_dir.is_dir()
        sandbox.release()
        memory.remove()  # the environment's own, released by the environment
        assert not any(path.parent.exists() for path in procs)
        assert not sandbox.tmp_dir.exists()
    finally:
        found.close()
    assert not list(Path("/sys/fs/cgroup").glob(f"*/{namespace}-*"))
    assert not (tmp_path / "tmp").exists()


def test_the_code_directory_is_opened_to_the_sandbox_user(tmp_path: Path) -> None:
    code = tmp_path / "code"
    code.mkdir(mode=0o700)
    found = Isolation(Level.NAMESPACES, FULL, tmp_path)
    Sandboxes(found).for_spawn(make_spec(code), "env-1", None)
    assert code.stat().st_mode & 0o777 == 0o755


def test_a_blank_environment_gets_its_cpu_share_when_it_becomes_a_function(tmp_path: Path, namespace: str) -> None:
    found = Isolation(Level.PROCESS, NONE_ALLOWED, tmp_path, cpu=cgroups.detect_limit("cpu", namespace))
    if found.cpu is None:
        pytest.skip("needs a writable cpu cgroup")
    try:
        (cpu,) = found.limits("blank-1")
        quota = "cpu.cfs_quota_us" if cpu.version == 1 else "cpu.max"
        assert (cpu.path / quota).read_text().split()[0] in ("-1", "max")
        found.set_cpu_share([cpu], 3538)
        assert (cpu.path / quota).read_text().split()[0] == "200000"
        cpu.remove()
    finally:
        found.close()


def test_cgroups_a_killed_server_left_are_swept_by_the_next(tmp_path: Path) -> None:
    dead, alive = tmp_path / f"nimbus-{_finished_pid()}", tmp_path / f"nimbus-{os.getpid()}"
    for parent in (dead, alive):
        (parent / "env-1").mkdir(parents=True)
    (tmp_path / "nimbus-test-x").mkdir()
    cgroups.sweep_stale(tmp_path, "nimbus")
    assert sorted(path.name for path in tmp_path.iterdir()) == sorted([alive.name, "nimbus-test-x"])


def _finished_pid() -> int:
    """A pid no process has any more."""
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


# -- the setting -------------------------------------------------------------------------------------------------
def test_isolation_setting_comes_from_nimbus_isolation() -> None:
    assert load_settings(environ={}).isolation == "auto"
    assert load_settings(environ={"NIMBUS_ISOLATION": "process"}).isolation == "process"
    assert load_settings({"isolation": "none"}, environ={"NIMBUS_ISOLATION": "process"}).isolation == "none"


def test_an_unknown_isolation_setting_is_refused() -> None:
    with pytest.raises(SettingsError, match="isolation must be one of auto, namespaces, process, none"):
        load_settings(environ={"NIMBUS_ISOLATION": "docker"})


def test_paths_under_tmp_are_kept_through_the_private_tmp() -> None:
    # A checkout under /tmp (CI clones there): its virtualenv and nimbus's source must stay visible in the sandbox.
    paths = [Path("/tmp/ci/.venv"), Path("/tmp/ci/.venv/lib/python3.11/site-packages"), Path("/tmp/ci/src"),
             Path("/root/.pyenv/versions/3.11.7"), Path("/tmpfoo/x")]  # fmt: skip
    assert isolation.kept_in_tmp(paths) == ("/tmp/ci/.venv", "/tmp/ci/src")
    plan = isolation.plan_for(make_spec(Path("/srv/code")), Level.NAMESPACES, data_dir=Path("/srv/data"),
                              keep_in_tmp=("/tmp/ci/.venv",))  # fmt: skip
    assert plan["tmp_dir"] == "/tmp" and plan["tmp_keep"] == ["/tmp/ci/.venv"]
