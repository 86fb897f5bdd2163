"""sandbox_child.enter() in a process forked from the test: what a function inside sees and what it cannot reach.

Each test forks, enters a plan in the child, runs a check there and reports the result over a pipe (the child always
leaves through os._exit). Tests that need namespaces or cgroups skip where the host does not allow them; every
cgroup has a unique name and is removed, and every mount lives and dies with the child's mount namespace.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import select
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NoReturn

import pytest

from nimbus.runtime import cgroups, isolation, sandbox_child
from nimbus.runtime.cgroups import LimitController, MemoryController
from nimbus.runtime.isolation import Level
from nimbus.runtime.spec import Credentials, EnvironmentSpec
from tests.support import wait_until

DEADLINE = 60.0
LIBC = ctypes.CDLL(None, use_errno=True)


# -- helpers: run a check inside a sandbox -------------------------------------------------------------------------
def in_sandbox(plan: dict[str, Any], body: Callable[[], Any], *, fast_fork: bool = False) -> Any:
    """Fork, enter `plan`, return what body() returned in there (JSON); raise if entering or body failed."""
    outcome, _ = run_sandboxed(plan, body, fast_fork=fast_fork)
    if "error" in outcome:
        raise AssertionError(f"in the sandbox: {outcome['error']}")
    return outcome["result"]


def run_sandboxed(
    plan: dict[str, Any], body: Callable[[], Any], *, fast_fork: bool = False, as_user: int | None = None
) -> tuple[Any, int]:
    """Like in_sandbox, but also returns the environment process's exit code (negative: the signal). `as_user`
    drops root before entering, as a server that is not root would run."""
    read_end, write_end = os.pipe()
    pid, init = sandbox_child.fork(plan) if fast_fork else (os.fork(), None)
    if pid == 0:  # pragma: no cover - the child reports through the pipe
        _child(plan, body, write_end, as_user)
    os.close(write_end)
    try:
        data = _read_until_eof(read_end, pid)
    finally:
        os.close(read_end)
    code = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
    if init is not None:
        os.waitpid(init, 0)  # exits once the environment's processes are gone
    return (json.loads(data) if data else {"error": f"no answer; exit {code}"}), code


def _child(plan: dict[str, Any], body: Callable[[], Any], write_end: int, as_user: int | None) -> NoReturn:
    try:  # whatever happens, this process must never return into pytest
        if as_user is not None:
            os.setgid(as_user)
            os.setuid(as_user)
        try:
            sandbox_child.enter(plan)
            message = {"result": body()}
        except BaseException as exc:
            message = {"error": f"{type(exc).__name__}: {exc}"}
        _write_all(write_end, json.dumps(message).encode())
    finally:
        os._exit(0)


def _write_all(fd: int, data: bytes) -> None:
    while data:
        data = data[os.write(fd, data) :]


def _read_until_eof(fd: int, pid: int) -> bytes:
    chunks: list[bytes] = []
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        if select.select([fd], [], [], 1)[0]:
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)
    os.kill(pid, signal.SIGKILL)
    raise AssertionError(f"the sandboxed child did not answer within {DEADLINE} s")


def allocate_in_child(mb: int) -> int:
    """Fork a child that touches `mb` MB and exits; return its exit code. For Max Memory Used: the peak of the
    whole process tree must include it."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover - exits at once
        block = bytearray(mb << 20)
        for offset in range(0, len(block), 4096):
            block[offset] = 1
        os._exit(0)
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])


def _processes() -> list[str]:
    return sorted(name for name in os.listdir("/proc") if name.isdigit())


def make_spec(task_root: Path, memory_size: int = 128) -> EnvironmentSpec:
    return EnvironmentSpec(
        function_name="fn", version="$LATEST", runtime="python3.11", handler="app.handler",
        memory_size=memory_size, timeout=3, task_root=task_root, function_arn="", log_group="", variables={},
        region="us-east-1", credentials=Credentials("", ""), init_timeout=3,
    )  # fmt: skip


# -- fixtures ------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def support(tmp_path_factory: pytest.TempPathFactory) -> isolation.HostSupport:
    return isolation.probe(tmp_path_factory.mktemp("probe"))


@pytest.fixture
def needs_namespaces(support: isolation.HostSupport) -> None:
    if not support.namespaces or not support.pid_namespace:
        pytest.skip(f"this host does not allow namespaces: {support.reason}")


@pytest.fixture
def data_dir() -> Iterator[Path]:
    """A data dir as nimbus lays it out, with another function's code and another environment's tmp in it. Not
    under /tmp (which the sandbox replaces anyway), and open to everyone, so only the sandbox hides it."""
    root = Path(tempfile.mkdtemp(prefix="nimbus-test-data-", dir="/var/tmp"))
    root.chmod(0o755)
    (root / "code" / "other").mkdir(parents=True)
    (root / "code" / "other" / "secret.py").write_text("KEY = 'other function'\n")
    (root / "tmp" / "other-env").mkdir(parents=True)
    (root / "tmp" / "other-env" / "secret").write_text("other environment's tmp\n")
    yield root
    shutil.rmtree(root)


@pytest.fixture
def task_root(data_dir: Path) -> Path:
    root = data_dir / "code" / "mine"
    root.mkdir(mode=0o755)
    (root / "app.py").write_text("def handler(event, context):\n    return 1\n")
    return root


def namespaces_plan(task_root: Path, data_dir: Path, **changes: Any) -> dict[str, Any]:
    """A plan as the server builds it at level namespaces (run as uid 993 when the test runs as root)."""
    options: dict[str, Any] = {
        "data_dir": data_dir,
        "ephemeral_storage_mb": 1,
        "reveal": isolation.python_reveals(),
        "sandbox_user": (isolation.SANDBOX_UID, isolation.SANDBOX_GID) if os.geteuid() == 0 else None,
        "user_namespace": os.geteuid() != 0,
    }
    memory_size = changes.pop("memory_size", 128)
    options.update(changes)
    return isolation.plan_for(make_spec(task_root, memory_size), Level.NAMESPACES, **options)


@pytest.fixture
def pids() -> Iterator[LimitController]:
    controller = cgroups.detect_limit("pids", namespace=f"nimbus-test-{uuid.uuid4().hex[:8]}")
    if controller is None:
        pytest.skip("no writable pids cgroup here")
    yield controller
    _empty_and_remove(controller.parent)


@pytest.fixture
def memory() -> Iterator[MemoryController]:
    controller = cgroups.detect(namespace=f"nimbus-test-{uuid.uuid4().hex[:8]}")
    if controller is None:
        pytest.skip("no writable memory cgroup here")
    yield controller
    _empty_and_remove(controller.parent)


def _empty_and_remove(parent: Path) -> None:
    for group in [*(child for child in parent.iterdir() if child.is_dir()), parent]:
        if group.exists():
            deadline = time.monotonic() + DEADLINE
            while not cgroups.kill_all(group) and time.monotonic() < deadline:
                time.sleep(0.01)
            with contextlib.suppress(OSError):
                group.rmdir()
    assert not parent.exists(), f"cgroup {parent} left behind"


# -- the code, layers, /tmp and the data dir ---------------------------------------------------------------------
@pytest.mark.usefixtures("needs_namespaces")
def test_code_is_read_only_at_var_task(task_root: Path, data_dir: Path) -> None:
    def body() -> Any:
        try:
            open("/var/task/new.py", "w").close()
        except OSError as exc:
            write_error = exc.errno
        return {"cwd": os.getcwd(), "code": open("/var/task/app.py").read(), "write": write_error}

    seen = in_sandbox(namespaces_plan(task_root, data_dir), body)
    assert seen == {"cwd": "/var/task", "code": (task_root / "app.py").read_text(), "write": 30}  # EROFS
    assert not (task_root / "new.py").exists()


@pytest.mark.usefixtures("needs_namespaces")
def test_tmp_is_private_and_writes_past_its_size_fail_with_enospc(task_root: Path, data_dir: Path) -> None:
    marker = Path("/tmp") / f"nimbus-host-{uuid.uuid4().hex}"
    marker.write_text("host")

    def body() -> Any:
        written = 0
        try:
            with open("/tmp/fill", "wb") as handle:
                for _ in range(8):
                    written += handle.write(b"x" * (256 << 10))
                    handle.flush()
        except OSError as exc:
            return {"host_file": os.path.exists(str(marker)), "errno": exc.errno, "written": written}
        return {"host_file": os.path.exists(str(marker)), "errno": None, "written": written}

    try:
        seen = in_sandbox(namespaces_plan(task_root, data_dir, ephemeral_storage_mb=1), body)
    finally:
        marker.unlink()
    assert seen["host_file"] is False
    assert seen["errno"] == 28  # ENOSPC, within 1 MB
    assert seen["written"] <= 1 << 20


@pytest.mark.usefixtures("needs_namespaces")
def test_other_functions_code_and_tmp_under_the_data_dir_are_invisible(task_root: Path, data_dir: Path) -> None:
    others = [str(data_dir / "code" / "other" / "secret.py"), str(data_dir / "tmp" / "other-env" / "secret")]

    def body() -> Any:
        found: dict[str, Any] = {}
        for path in others:
            try:
                found[path] = Path(path).read_text()
            except OSError as exc:
                found[path] = exc.errno
        return {"listing": os.listdir(str(data_dir)) if os.path.isdir(str(data_dir)) else None, "found": found}

    seen = in_sandbox(namespaces_plan(task_root, data_dir), body)
    assert seen["listing"] in (None, [])
    assert seen["found"] == dict.fromkeys(others, 2)  # ENOENT


@pytest.mark.usefixtures("needs_namespaces")
def test_layers_are_at_opt_and_later_layers_win(task_root: Path, data_dir: Path, tmp_path: Path) -> None:
    first, second = tmp_path / "layer1", tmp_path / "layer2"
    for layer, text in ((first, "first"), (second, "second")):
        (layer / "python").mkdir(parents=True)
        (layer / "python" / "shared.py").write_text(text)
        (layer / f"only-{layer.name}").write_text(text)
    for layer in (tmp_path, first, second):
        layer.chmod(0o755)

    def body() -> Any:
        return {"listing": sorted(os.listdir("/opt")), "shared": open("/opt/python/shared.py").read()}

    seen = in_sandbox(namespaces_plan(task_root, data_dir, layers=[first, second]), body)
    assert seen == {"listing": ["only-layer1", "only-layer2", "python"], "shared": "second"}


@pytest.mark.usefixtures("needs_namespaces")
def test_opt_is_empty_without_layers(task_root: Path, data_dir: Path) -> None:
    assert in_sandbox(namespaces_plan(task_root, data_dir), lambda: os.listdir("/opt")) == []


# -- processes, environment variables, the user --------------------------------------------------------------------
@pytest.mark.usefixtures("needs_namespaces")
def test_proc_shows_only_the_environments_own_processes(task_root: Path, data_dir: Path) -> None:
    def body() -> Any:
        return {"pid": os.getpid(), "proc": sorted(int(name) for name in os.listdir("/proc") if name.isdigit())}

    seen = in_sandbox(namespaces_plan(task_root, data_dir), body)
    # PID 1 is the namespace's init; the function is not it, so it dies of signals as any process does.
    assert seen == {"pid": 2, "proc": [1, 2]}


@pytest.mark.usefixtures("needs_namespaces")
def test_environment_variables_of_a_sibling_process_are_invisible(task_root: Path, data_dir: Path) -> None:
    token = uuid.uuid4().hex
    sibling = subprocess.Popen(["sleep", "60"], env={"NIMBUS_SIBLING_SECRET": token})

    def body() -> Any:
        found = []
        for name in os.listdir("/proc"):
            with contextlib.suppress(OSError):
                if name.isdigit() and token.encode() in Path(f"/proc/{name}/environ").read_bytes():
                    found.append(name)
        return {"found": found, "sibling_visible": os.path.exists(f"/proc/{sibling.pid}/environ")}

    try:
        # Visible from outside, once the sibling has exec'd.
        wait_until(lambda: token.encode() in Path(f"/proc/{sibling.pid}/environ").read_bytes(), timeout=DEADLINE)
        seen = in_sandbox(namespaces_plan(task_root, data_dir), body)
    finally:
        sibling.kill()
        sibling.wait()
    assert seen["found"] == []


@pytest.mark.usefixtures("needs_namespaces")
def test_functions_run_as_the_sandbox_user_and_can_still_import(task_root: Path, data_dir: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("only a root server changes the user")

    def body() -> Any:
        import colorsys  # not imported yet: read from the interpreter's prefix, which may lie under /root

        with open("/proc/self/status") as status:
            no_new_privs = next(line.split()[1] for line in status if line.startswith("NoNewPrivs:"))
        return {"ids": [os.getuid(), os.getgid(), os.getgroups()], "nnp": no_new_privs, "hls": colorsys.ONE_THIRD}

    seen = in_sandbox(namespaces_plan(task_root, data_dir), body)
    assert seen["ids"] == [isolation.SANDBOX_UID, isolation.SANDBOX_GID, []]
    assert seen["nnp"] == "1"


@pytest.mark.usefixtures("needs_namespaces")
def test_exit_status_and_death_by_signal_reach_the_parent(task_root: Path, data_dir: Path) -> None:
    plan = namespaces_plan(task_root, data_dir)
    assert run_sandboxed(plan, lambda: os._exit(7))[1] == 7
    # Not PID 1, so a function can kill itself as it can on AWS.
    assert run_sandboxed(plan, lambda: os.kill(os.getpid(), signal.SIGKILL))[1] == -signal.SIGKILL


@pytest.mark.usefixtures("needs_namespaces")
def test_sigterm_to_the_environment_reaches_the_function(task_root: Path, data_dir: Path) -> None:
    plan = namespaces_plan(task_root, data_dir)
    for handled, expected in ((True, 42), (False, -signal.SIGTERM)):
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - ends by the signal
            sandbox_child.enter(plan)
            if handled:
                signal.signal(signal.SIGTERM, lambda *_: os._exit(42))
            os.write(write_end, b"ready")
            while True:
                time.sleep(1)
        os.close(write_end)
        assert os.read(read_end, 5) == b"ready"
        os.close(read_end)
        os.kill(pid, signal.SIGTERM)
        assert os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == expected


@pytest.mark.usefixtures("needs_namespaces")
def test_fast_fork_makes_the_child_pid_2_and_keeps_the_callers_namespace(task_root: Path, data_dir: Path) -> None:
    plan = namespaces_plan(task_root, data_dir)
    if plan.get("user_namespace"):
        pytest.skip("a server that is not root forks in enter()")
    seen = in_sandbox(plan, lambda: [os.getpid(), _processes()], fast_fork=True)
    assert seen == [2, ["1", "2"]]
    # The next plain fork is born in the caller's own PID namespace again.
    pid = os.fork()
    if pid == 0:  # pragma: no cover
        os._exit(0 if os.readlink("/proc/self/ns/pid") == os.readlink(f"/proc/{os.getppid()}/ns/pid") else 1)
    assert os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 0


def test_an_environment_dies_with_its_parent(task_root: Path) -> None:
    plan = isolation.plan_for(make_spec(task_root), Level.NONE, data_dir=task_root.parent)
    alive_read, alive_write = os.pipe()
    zygote = os.fork()
    if zygote == 0:  # pragma: no cover - a stand-in zygote, killed by the test
        zygote_pid = os.getpid()
        if os.fork() == 0:
            sandbox_child.enter(plan, parent_pid=zygote_pid)
            os.close(alive_read)
            while True:
                time.sleep(1)
        os.close(alive_write)
        while True:
            time.sleep(1)
    os.close(alive_write)
    os.kill(zygote, signal.SIGKILL)
    os.waitpid(zygote, 0)
    # The environment held the pipe open: it is closed once the environment is gone too.
    assert select.select([alive_read], [], [], DEADLINE)[0]
    assert os.read(alive_read, 1) == b""
    os.close(alive_read)


def test_a_server_that_is_not_root_sandboxes_in_a_user_namespace(support: isolation.HostSupport) -> None:
    """As root, the test plays a server running as nobody: its plan enters a user namespace first."""
    if os.geteuid() != 0:
        pytest.skip("plays an unprivileged server by dropping root")
    with contextlib.ExitStack() as cleanup:
        root = Path(tempfile.mkdtemp(prefix="nimbus-userns-", dir="/var/tmp"))  # reachable by nobody
        cleanup.callback(shutil.rmtree, root)
        root.chmod(0o755)
        task_root, data_dir = root / "code" / "mine", root
        task_root.mkdir(parents=True)
        (task_root / "app.py").write_text("")
        (root / "code" / "secret").write_text("")
        for path in (root, root / "code", task_root, task_root / "app.py", root / "code" / "secret"):
            os.chown(path, 65534, 65534)
        plan = namespaces_plan(task_root, data_dir, sandbox_user=None, user_namespace=True, reveal=[])
        outcome, _ = run_sandboxed(plan, lambda: _unprivileged_view(str(data_dir)), as_user=65534)
    if "error" in outcome and "unshare" in outcome["error"]:
        pytest.skip(f"no unprivileged user namespaces here: {outcome['error']}")
    assert outcome == {"result": {"uid": 65534, "task": ["app.py"], "data": [], "proc": ["1", "2"], "umount": 1}}


def _unprivileged_view(data_dir: str) -> dict[str, Any]:
    result = LIBC.umount2(data_dir.encode(), 0)
    return {
        "uid": os.getuid(), "task": os.listdir("/var/task"), "data": os.listdir(data_dir),
        "proc": sorted(n for n in os.listdir("/proc") if n.isdigit()),
        # Without capabilities the function cannot unmount what hides the data dir: EPERM.
        "umount": ctypes.get_errno() if result else 0,
    }  # fmt: skip


# -- the process level -------------------------------------------------------------------------------------------
def test_process_level_sets_tmpdir_rlimits_and_the_working_directory(task_root: Path, data_dir: Path) -> None:
    tmp = data_dir / "tmp" / "env-1"
    tmp.mkdir()
    plan = isolation.plan_for(make_spec(task_root), Level.PROCESS, data_dir=data_dir, tmp_dir=tmp)

    def body() -> Any:
        import resource
        import tempfile

        return {
            "cwd": os.getcwd(), "tmpdir": os.environ["TMPDIR"], "tempfile": tempfile.mkdtemp(),
            "nofile": list(resource.getrlimit(resource.RLIMIT_NOFILE)),
        }  # fmt: skip

    seen = in_sandbox(plan, body)
    assert seen["cwd"] == str(task_root)
    assert seen["tmpdir"] == str(tmp)
    assert Path(seen["tempfile"]).parent == tmp
    assert seen["nofile"] == [1024, 1024]


# -- cgroups: processes and memory -----------------------------------------------------------------------------------
def test_a_fork_bomb_hits_the_pids_limit_and_harms_only_itself(
    task_root: Path, data_dir: Path, pids: LimitController
) -> None:
    group = pids.create_pids("bomb", max_processes=64)
    assert group is not None
    plan = isolation.plan_for(make_spec(task_root), Level.PROCESS, data_dir=data_dir, cgroup_procs=[group.procs])

    def bomb() -> Any:
        hold_read, hold_write = os.pipe()
        started = failed = 0
        for _ in range(5000):
            try:
                child = os.fork()
            except OSError:
                failed += 1
                if failed >= 100:  # the limit holds; each refused fork copies the whole process first
                    break
                continue
            if child == 0:  # pragma: no cover - waits for the bomb to end
                os.close(hold_write)
                os.read(hold_read, 1)
                os._exit(0)
            started += 1
        os.close(hold_write)
        return {"started": started, "failed": failed}

    seen = in_sandbox(plan, bomb)
    assert seen["failed"] > 0
    assert seen["started"] < 64
    assert subprocess.run(["true"], check=False).returncode == 0  # the test process still forks
    deadline = time.monotonic() + DEADLINE
    while group.pids() and time.monotonic() < deadline:  # its children leave once the bomb ends
        time.sleep(0.01)
    assert group.pids() == []


@pytest.mark.usefixtures("needs_namespaces")
def test_a_fork_bomb_in_a_pid_namespace_is_reaped_with_its_environment(
    task_root: Path, data_dir: Path, pids: LimitController
) -> None:
    group = pids.create_pids("bomb-ns", max_processes=32)
    assert group is not None

    def bomb() -> Any:
        count = 0
        with contextlib.suppress(OSError):
            for _ in range(5000):
                if os.fork() == 0:  # pragma: no cover - lives until the namespace ends
                    while True:
                        time.sleep(1)
                count += 1
        return count

    started = in_sandbox(namespaces_plan(task_root, data_dir, cgroup_procs=[group.procs]), bomb)
    assert 0 < started < 32
    deadline = time.monotonic() + DEADLINE
    while group.pids() and time.monotonic() < deadline:  # the kernel kills the namespace once its init exits
        time.sleep(0.01)
    assert group.pids() == []


def test_max_memory_covers_processes_the_function_forks(
    task_root: Path, data_dir: Path, memory: MemoryController
) -> None:
    group = memory.create("peak", 512)
    assert group is not None
    procs = [group.path / "cgroup.procs"]
    plan = isolation.plan_for(make_spec(task_root), Level.PROCESS, data_dir=data_dir, cgroup_procs=procs)
    assert in_sandbox(plan, lambda: allocate_in_child(100)) == 0
    assert group.peak_bytes() >= 100 << 20


def test_exceeding_the_memory_limit_kills_the_environment(
    task_root: Path, data_dir: Path, memory: MemoryController
) -> None:
    group = memory.create("oom", 64)
    assert group is not None
    plan = isolation.plan_for(
        make_spec(task_root), Level.PROCESS, data_dir=data_dir, cgroup_procs=[group.path / "cgroup.procs"]
    )

    def allocate() -> None:
        block = bytearray(200 << 20)
        for offset in range(0, len(block), 4096):
            block[offset] = 1

    assert run_sandboxed(plan, allocate)[1] == -signal.SIGKILL
    assert group.oom_killed()


@pytest.mark.usefixtures("needs_namespaces")
def test_enter_fails_with_a_sandbox_error_naming_the_step(task_root: Path, data_dir: Path) -> None:
    plan = namespaces_plan(task_root / "missing", data_dir)
    outcome, _ = run_sandboxed(plan, lambda: None)
    assert outcome["error"].startswith("SandboxError: ")
    assert "/var/task" in outcome["error"]
