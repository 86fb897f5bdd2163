"""Isolation of execution environments, server side: what the host allows, the level in force, each sandbox's plan.

Levels (setting `isolation`, NIMBUS_ISOLATION, `nimbus serve --isolation`; "auto" takes the best the host allows):

    namespaces  mount, IPC, UTS and PID namespaces: the code read-only at /var/task, layers at /opt, a private /tmp
                tmpfs of EphemeralStorage MB (ENOSPC past it), the data dir (every function's code and tmp) hidden,
                a /proc showing only the environment's own processes; the function runs as an unprivileged user.
    process     plain processes: a per-environment TMPDIR under the data dir (its size is not enforced), rlimits;
                the code at its path in the data dir. Environments run as the server's user and can see each other.
    none        no sandbox beyond what every level has.

Every level: a memory cgroup limited to MemorySize, a pids cgroup of AWS's 1,024 processes and threads, a CPU share in
proportion to memory (runtime/cgroups.py), death with the server (PR_SET_PDEATHSIG) and no privilege gained through
exec (PR_SET_NO_NEW_PRIVS).

The server builds a JSON-able plan per environment here (runtime/sandboxes.py asks for it and holds what each
environment's sandbox holds on the host); the environment process carries it out with `sandbox_child.enter(plan)`.
`detect()` proves at start that the host can do it, by entering a probe plan in a throwaway child, and degrades with
a warning instead of failing.
"""

from __future__ import annotations

import contextlib
import enum
import functools
import logging
import os
import select
import shutil
import stat
import sys
import tempfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nimbus.runtime import cgroups, sandbox_child
from nimbus.runtime.cgroups import Cgroup, LimitController, MemoryController
from nimbus.runtime.spec import EnvironmentSpec
from nimbus.settings import ISOLATION_CHOICES

log = logging.getLogger(__name__)


class Level(enum.Enum):
    NONE = "none"
    PROCESS = "process"
    NAMESPACES = "namespaces"


AUTO = "auto"
CHOICES = ISOLATION_CHOICES
TASK_ROOT = "/var/task"
OPT = "/opt"
# AWS runs functions as sbx_user1051: uid 993, gid 990.
SANDBOX_UID = 993
SANDBOX_GID = 990
# AWS quotas: 1,024 file descriptors per environment; /tmp between 512 MB (the default) and 10,240 MB.
MAX_FILE_DESCRIPTORS = 1024
DEFAULT_EPHEMERAL_MB = 512
# Seconds the start-up probe may take before the host is taken not to support namespaces.
PROBE_TIMEOUT = 10.0


@dataclass(frozen=True)
class HostSupport:
    """What detect() found the host allows."""

    namespaces: bool
    pid_namespace: bool
    # Why namespaces (or the PID namespace) are not available; "" when everything is.
    reason: str = ""
    # A server that is not root creates a user namespace first, as its own user inside.
    user_namespace: bool = False


def choose(requested: str, support: HostSupport) -> tuple[Level, str]:
    """The level in force for a requested one, and a warning when it is less than what was asked for."""
    if requested not in CHOICES:
        raise ValueError(f"isolation must be one of {', '.join(CHOICES)}, got {requested!r}")
    if requested == AUTO:
        return (Level.NAMESPACES, "") if support.namespaces else (Level.PROCESS, "")
    level = Level(requested)
    if level is Level.NAMESPACES and not support.namespaces:
        return Level.PROCESS, f"isolation=namespaces is not possible here ({support.reason}): using process"
    return level, ""


@dataclass(frozen=True)
class Reveal:
    """A directory a sandboxed function must read although an ancestor is closed to the sandbox user."""

    cover: str
    keep: tuple[str, ...]


def plan_for(
    spec: EnvironmentSpec,
    level: Level,
    *,
    data_dir: Path,
    tmp_dir: Path | None = None,
    ephemeral_storage_mb: int = DEFAULT_EPHEMERAL_MB,
    layers: Sequence[Path] = (),
    cgroup_procs: Sequence[Path] = (),
    pid_namespace: bool = True,
    user_namespace: bool = False,
    reveal: Sequence[Reveal] = (),
    keep_in_tmp: Sequence[str] = (),
    sandbox_user: tuple[int, int] | None = (SANDBOX_UID, SANDBOX_GID),
    rlimits: dict[str, tuple[int, int]] | None = None,
) -> dict[str, Any]:
    """The plan sandbox_child.enter() carries out for one environment (JSON-able). Pure: creates nothing.

    `tmp_dir` is the per-environment directory at level process; `cgroup_procs` the cgroup.procs files the process
    joins; `reveal` what the interpreter needs (python_reveals); `sandbox_user` the (uid, gid) functions run as at
    level namespaces, None to keep the server's (with `user_namespace`, for a server that is not root).
    """
    plan: dict[str, Any] = {
        "level": level.value,
        "cgroups": [str(path) for path in cgroup_procs],
        "task_root": str(spec.task_root),
        "task_root_inside": str(spec.task_root),
        "environment": {},
    }
    if level is Level.NONE:
        return plan
    limits = {"NOFILE": (MAX_FILE_DESCRIPTORS, MAX_FILE_DESCRIPTORS), "CORE": (0, 0), **(rlimits or {})}
    plan["rlimits"] = {name: list(pair) for name, pair in limits.items()}
    if level is Level.PROCESS:
        if tmp_dir is not None:
            plan["environment"] = {"TMPDIR": str(tmp_dir)}
        return plan
    plan.update(
        task_root_inside=TASK_ROOT,
        layers=[str(layer) for layer in layers],
        opt_inside=OPT,
        reveal=[{"cover": item.cover, "keep": list(item.keep)} for item in reveal],
        hide=[str(data_dir)],
        tmp_dir="/tmp",
        tmp_keep=list(keep_in_tmp),
        tmp_size_mb=ephemeral_storage_mb,
        # POSIX shared memory (multiprocessing's locks): private, and bounded by the memory limit in any case.
        shm_size_mb=spec.memory_size,
        pid_namespace=pid_namespace,
        pid_init=pid_init(),
        user_namespace=user_namespace,
    )
    if sandbox_user is not None and not user_namespace:
        plan["uid"], plan["gid"] = sandbox_user
    return plan


@functools.cache
def pid_init() -> str:
    """The PID namespace's init: a program that waits for the end of its input (sandbox_child step 4)."""
    return shutil.which("cat") or "/bin/cat"


@functools.cache
def python_paths(extra: Path | None = None) -> frozenset[Path]:
    """What a sandboxed Python must reach: this interpreter's prefixes and import path, nimbus's own source, and
    `extra` (another runtime's prefix)."""
    wanted = {Path(sys.prefix), Path(sys.base_prefix), Path(sys.exec_prefix), Path(sys.base_exec_prefix)}
    wanted.update(Path(entry) for entry in sys.path if entry and os.path.isdir(entry))
    wanted.add(Path(sandbox_child.__file__).parents[2])
    if extra is not None:
        wanted.add(extra)
    return frozenset(wanted)


@functools.cache
def python_reveals(extra: Path | None = None) -> list[Reveal]:
    """python_paths() wherever they lie under a directory the sandbox user may not enter (a pyenv under /root)."""
    return reveals_for(python_paths(extra))


def kept_in_tmp(paths: Iterable[Path], tmp: str = "/tmp") -> tuple[str, ...]:
    """Of `paths`, those under `tmp` (nimbus installed in a checkout under /tmp, say): the private /tmp would cover
    them, so they are bound back into it read-only."""
    under: set[str] = set()
    for path in paths:
        for candidate in {str(path), os.path.realpath(path)}:
            if candidate.startswith(tmp.rstrip("/") + "/"):
                under.add(candidate)
    return _outermost(under)


def interpreter_prefix(executable: str) -> Path:
    """The installation an interpreter belongs to: <prefix>/bin/python3.X, symbolic links (a venv's) followed."""
    return Path(os.path.realpath(executable)).parent.parent


def reveals_for(paths: Iterable[Path]) -> list[Reveal]:
    covers: dict[str, set[str]] = {}
    for path in {Path(os.path.realpath(p)) for p in paths}:
        cover = _closed_ancestor(path)
        if cover is not None:
            covers.setdefault(str(cover), set()).add(str(path))
    return [Reveal(cover, _outermost(keep)) for cover, keep in sorted(covers.items())]


def _closed_ancestor(path: Path) -> Path | None:
    """The outermost proper ancestor of `path` that others may not traverse, if any."""
    for ancestor in reversed(path.parents):
        try:
            mode = ancestor.stat().st_mode
        except OSError:
            return None
        if not mode & stat.S_IXOTH:
            return ancestor
    return None


def _outermost(paths: set[str]) -> tuple[str, ...]:
    ordered = sorted(paths)
    kept: list[str] = []
    for path in ordered:
        if not any(path.startswith(parent.rstrip("/") + "/") for parent in kept):
            kept.append(path)
    return tuple(kept)


@dataclass
class Isolation:
    """The level in force and the host's controllers; makes each environment's sandbox."""

    level: Level
    support: HostSupport
    data_dir: Path
    memory: MemoryController | None = None
    pids: LimitController | None = None
    cpu: LimitController | None = None
    reveal: Sequence[Reveal] = ()
    sandbox_user: tuple[int, int] | None = None
    rlimits: dict[str, tuple[int, int]] = field(default_factory=dict)
    _restore_probe: str | None = field(default=None, init=False, repr=False)

    @property
    def tmp_root(self) -> Path:
        return self.data_dir / "tmp"

    def limits(self, name: str, memory_mb: int | None = None) -> list[Cgroup]:
        """An environment's pids and cpu cgroups (its memory cgroup is the MemoryController's). An environment whose
        function is not known yet (a zygote's blank child) gets its CPU share later, from set_cpu_share()."""
        groups = [
            self.pids.create_pids(name) if self.pids is not None else None,
            self.cpu.create_cpu(name, memory_mb) if self.cpu is not None else None,
        ]
        return [group for group in groups if group is not None]

    def set_cpu_share(self, groups: Sequence[Cgroup], memory_mb: int) -> None:
        for group in groups:
            if self.cpu is not None and group.path.parent == self.cpu.parent:
                cgroups.set_cpu_share(group, memory_mb)

    def tmp_dir(self, env_id: str) -> Path | None:
        """At level process, the environment's own TMPDIR, created; elsewhere None."""
        if self.level is not Level.PROCESS:
            return None
        path = self.tmp_root / env_id
        path.mkdir(parents=True, mode=0o700, exist_ok=True)
        return path

    def plan(
        self, spec: EnvironmentSpec, *, tmp_dir: Path | None = None, ephemeral_storage_mb: int = DEFAULT_EPHEMERAL_MB,
        layers: Sequence[Path] = (), cgroup_procs: Sequence[Path] = (), interpreter: str | None = None,
    ) -> dict[str, Any]:  # fmt: skip
        """The plan for an environment of `spec` at the level in force. `cgroup_procs` are the cgroups enter() joins:
        leave out those the process joined already (each join may wait for an RCU grace period). `interpreter` is
        the executable the environment runs on, when it is not the server's: its installation stays readable."""
        for tree in (spec.task_root, *layers):  # layers are extracted the same way as function code
            _open_to_sandbox(tree)
        reveal = self.reveal
        prefix = interpreter_prefix(interpreter) if interpreter is not None else None
        if prefix is not None and self.sandbox_user is not None:
            reveal = python_reveals(prefix)
        return plan_for(
            spec, self.level, data_dir=self.data_dir, tmp_dir=tmp_dir, ephemeral_storage_mb=ephemeral_storage_mb,
            layers=layers, cgroup_procs=cgroup_procs, pid_namespace=self.support.pid_namespace,
            user_namespace=self.support.user_namespace, reveal=reveal, keep_in_tmp=kept_in_tmp(python_paths(prefix)),
            sandbox_user=self.sandbox_user, rlimits=self.rlimits,
        )  # fmt: skip

    def restored_isolation(self) -> str:
        """Whether environments restored from a SnapStart snapshot can get namespaces of their own
        (sandbox_child.enter_restored): "" when they can, else why not. Probed once, when the first snapshot is
        made (a server without SnapStart versions never pays for it); blocking: call it off the event loop."""
        if self._restore_probe is None:
            if self.level is not Level.NAMESPACES:
                self._restore_probe = f"isolation is {self.level.value}"
            else:
                self._restore_probe = probe_restored(self.data_dir, self.support.user_namespace)
        return self._restore_probe

    def close(self) -> None:
        """At shutdown, after every environment is gone: remove nimbus's cgroups and the tmp directories."""
        for controller in (self.memory, self.pids, self.cpu):
            if controller is not None:
                cgroups.remove_tree(controller)
        shutil.rmtree(self.tmp_root, ignore_errors=True)


def _open_to_sandbox(task_root: Path) -> None:
    # The code store extracts through a private staging directory (mode 0700): the sandbox user must enter it.
    with contextlib.suppress(OSError):
        mode = task_root.stat().st_mode
        if mode & 0o005 != 0o005:
            task_root.chmod(mode | 0o055)


def detect(requested: str, data_dir: Path, memory: MemoryController | None, namespace: str = "nimbus") -> Isolation:
    """Probe the host, choose the level for `requested` and log it; never fails for what the host lacks."""
    support = probe(data_dir) if requested in (AUTO, Level.NAMESPACES.value) else HostSupport(False, False, "")
    level, warning = choose(requested, support)
    if warning:
        log.warning("%s", warning)
    isolation = Isolation(
        level, support, data_dir, memory=memory,
        pids=cgroups.detect_limit("pids", namespace), cpu=cgroups.detect_limit("cpu", namespace),
    )  # fmt: skip
    if level is Level.NAMESPACES and not support.user_namespace:
        isolation.reveal = python_reveals()
        isolation.sandbox_user = (SANDBOX_UID, SANDBOX_GID)
    if isolation.pids is None and level is not Level.NONE and os.geteuid() != 0:
        isolation.rlimits = {"NPROC": _process_limit()}
    log.info("isolation: %s (%s)", level.value, describe(isolation))
    return isolation


def describe(isolation: Isolation) -> str:
    parts = []
    if isolation.level is Level.NAMESPACES:
        spaces = "mount, PID, IPC, UTS" if isolation.support.pid_namespace else "mount, IPC, UTS"
        parts.append(f"{spaces} namespaces" + (" in a user namespace" if isolation.support.user_namespace else ""))
        if not isolation.support.pid_namespace:
            parts.append(f"no PID namespace: {isolation.support.reason}")
        if isolation.sandbox_user is not None:
            parts.append(f"functions run as uid {isolation.sandbox_user[0]}")
    elif isolation.support.reason:
        parts.append(f"no namespaces: {isolation.support.reason}")
    controllers = [name for name in ("memory", "pids", "cpu") if getattr(isolation, name) is not None]
    parts.append(f"cgroups: {', '.join(controllers) or 'none'}")
    return "; ".join(parts)


def _process_limit() -> tuple[int, int]:
    # RLIMIT_NPROC counts every process of the user, the server's own included: allow AWS's 1,024 on top of those.
    uid = os.getuid()
    running = sum(1 for entry in Path("/proc").iterdir() if entry.name.isdigit() and _owner(entry) == uid)
    limit = cgroups.MAX_PROCESSES + running
    return limit, limit


def _owner(path: Path) -> int:
    try:
        return path.stat().st_uid
    except OSError:
        return -1


# -- the start-up probe ------------------------------------------------------------------------------------------
def probe(data_dir: Path) -> HostSupport:
    """Enter a probe sandbox in a throwaway child: with a PID namespace, then without one."""
    if sys.platform != "linux":
        return HostSupport(False, False, "not Linux")
    data_dir.mkdir(parents=True, exist_ok=True)
    user_namespace = os.geteuid() != 0
    reason = _try_probe(data_dir, pid_namespace=True, user_namespace=user_namespace)
    if not reason:
        return HostSupport(True, True, user_namespace=user_namespace)
    without_pid = _try_probe(data_dir, pid_namespace=False, user_namespace=user_namespace)
    if not without_pid:
        return HostSupport(True, False, reason, user_namespace)
    return HostSupport(False, False, without_pid, user_namespace)


def _try_probe(data_dir: Path, pid_namespace: bool, user_namespace: bool) -> str:
    """Run a probe plan; "" when it worked, else why not."""
    with tempfile.TemporaryDirectory(dir=data_dir, prefix=".probe-") as scratch:
        task_root = Path(scratch)
        task_root.chmod(0o755)
        (task_root / "probe").write_text("ok")
        spec = _probe_spec(task_root)
        plan = plan_for(
            spec, Level.NAMESPACES, data_dir=data_dir, ephemeral_storage_mb=1, pid_namespace=pid_namespace,
            user_namespace=user_namespace, reveal=() if user_namespace else python_reveals(),
        )  # fmt: skip
        return run_in_sandbox(plan, _probe_checks)


def _probe_checks(plan: dict[str, Any]) -> str:
    if not os.path.isfile(os.path.join(plan["task_root_inside"], "probe")):
        return "the code is not visible at /var/task"
    if plan["pid_namespace"] and os.getpid() != 2:
        return "not the first process after init in a PID namespace"
    return ""


def probe_restored(data_dir: Path, user_namespace: bool) -> str:
    """Enter a snapshot's sandbox (no PID namespace, the sandbox user) and then a restored environment's
    (sandbox_child.enter_restored) in a throwaway child: "" when it worked, else why not."""
    with tempfile.TemporaryDirectory(dir=data_dir, prefix=".probe-") as scratch:
        task_root = Path(scratch)
        task_root.chmod(0o755)
        (task_root / "probe").write_text("ok")
        plan = plan_for(
            _probe_spec(task_root), Level.NAMESPACES, data_dir=data_dir, ephemeral_storage_mb=1, pid_namespace=False,
            user_namespace=user_namespace, reveal=() if user_namespace else python_reveals(),
        )  # fmt: skip
        return run_in_sandbox(plan, _restored_checks)


def _restored_checks(plan: dict[str, Any]) -> str:
    with open(os.path.join(plan["tmp_dir"], "from-the-snapshot"), "w") as handle:
        handle.write("ok")
    sandbox_child.enter_restored(plan)  # returns in the new PID namespace's second process
    if os.getpid() != 2:
        return "not the first process after init in a PID namespace"
    if not os.path.isfile(os.path.join(plan["tmp_dir"], "from-the-snapshot")):
        return "the snapshot's /tmp was not copied"
    return ""


def run_in_sandbox(plan: dict[str, Any], check: Callable[[dict[str, Any]], str], timeout: float = PROBE_TIMEOUT) -> str:
    """Fork, enter `plan` and run `check(plan)` in the sandbox: "" when the check passed, else what went wrong."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child reports through the pipe
        os.close(read_end)
        try:
            sandbox_child.enter(plan)
            failure = check(plan)
            answer = f"failed: {failure}" if failure else "ok"
        except BaseException as exc:
            answer = f"failed: {type(exc).__name__}: {exc}"
        os.write(write_end, answer.encode()[:4096])
        os._exit(0)
    os.close(write_end)
    try:
        answer = _read_answer(read_end, timeout)
    finally:
        os.close(read_end)
        _reap(pid)
    if answer == "ok":
        return ""
    return answer.removeprefix("failed: ") or "the probe process died without an answer"


def _read_answer(fd: int, timeout: float) -> str:
    chunks: list[bytes] = []
    while select.select([fd], [], [], timeout)[0]:
        chunk = os.read(fd, 4096)
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks).decode(errors="replace") if chunks else ""


def _reap(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, 9)
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, 0)


def _probe_spec(task_root: Path) -> EnvironmentSpec:
    from nimbus.runtime.spec import Credentials

    return EnvironmentSpec(
        function_name="nimbus-isolation-probe", version="$LATEST", runtime="python3.11", handler="probe.handler",
        memory_size=128, timeout=3, task_root=task_root, function_arn="", log_group="", variables={}, region="",
        credentials=Credentials("", ""), init_timeout=3,
    )  # fmt: skip
