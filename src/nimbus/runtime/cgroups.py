"""Per-environment cgroups: memory limit and peak accounting, a process-count limit, a CPU share.

An environment's process tree goes into its own memory cgroup, limited to MemorySize (swap included where the
host accounts it). When the function exceeds it the kernel kills it, which is how AWS ends such an
environment; the cgroup's peak usage is the REPORT line's Max Memory Used, and it covers every process the function
forks (children inherit their parent's cgroups). Where no writable memory controller exists the environment runs
without a limit and a warning says so once.

The pids controller caps an environment's processes and threads at AWS's 1,024, so a fork bomb exhausts only its own
environment; the cpu controller gives it CPU in proportion to its memory, as AWS does (1,769 MB is one vCPU): a
weight under contention and a hard quota. Each is used where the host has it writable (cgroup v1 hierarchies or the
v2 unified one) and skipped with a warning where it does not.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

_V1_ROOT = Path("/sys/fs/cgroup/memory")
_V2_ROOT = Path("/sys/fs/cgroup")
# AWS: 1,024 processes and threads per execution environment (Lambda quotas page).
MAX_PROCESSES = 1024
# AWS: "at 1,769 MB, a function has the equivalent of one vCPU" (configuration-memory docs).
MB_PER_VCPU = 1769
# The kernel's default CFS period. Quota left unused may be spent in a burst of up to one more period's worth, so a
# short invoke after an idle spell is not cut into 100 ms slices while a busy loop still averages its share.
CFS_PERIOD_US = 100_000


@dataclass(frozen=True)
class MemoryController:
    """A place where nimbus may create memory cgroups, and which cgroup version it speaks."""

    parent: Path
    version: int

    def create(self, name: str, limit_mb: int) -> MemoryCgroup | None:
        path = self.parent / name
        try:
            path.mkdir(exist_ok=True)
            group = MemoryCgroup(path, self.version)
            group.set_limit(limit_mb * 1024 * 1024)
        except OSError as exc:
            log.warning("could not create memory cgroup %s: %s", path, exc)
            return None
        return group


class MemoryCgroup:
    def __init__(self, path: Path, version: int) -> None:
        self.path = path
        self.version = version
        # Peak usage is read after every invoke: a kept descriptor and pread cost ~2 us, opening the file ~40 us.
        self._peak_fd: int | None = None

    def set_limit(self, limit: int) -> None:
        if self.version == 1:
            # Charge what the process allocated before it joined (the interpreter) to this group too.
            _write_quietly(self.path / "memory.move_charge_at_immigrate", "3")
            (self.path / "memory.limit_in_bytes").write_text(str(limit))
            swap = self.path / "memory.memsw.limit_in_bytes"
            if swap.exists():
                _write_quietly(swap, str(limit))
        else:
            (self.path / "memory.max").write_text(str(limit))
            _write_quietly(self.path / "memory.swap.max", "0")

    def add(self, pid: int) -> None:
        (self.path / "cgroup.procs").write_text(str(pid))

    def peak_bytes(self) -> int:
        try:
            if self._peak_fd is None:
                name = "memory.max_usage_in_bytes" if self.version == 1 else "memory.peak"
                self._peak_fd = os.open(self.path / name, os.O_RDONLY | os.O_CLOEXEC)
            text = os.pread(self._peak_fd, 32, 0).strip()
        except OSError:
            return 0
        return int(text) if text.isdigit() else 0

    def oom_killed(self) -> bool:
        name = "memory.oom_control" if self.version == 1 else "memory.events"
        text = _read_text(self.path / name)
        counts = dict(fields for fields in (line.split() for line in text.splitlines()) if len(fields) == 2)
        if "oom_kill" in counts:
            return int(counts["oom_kill"]) > 0
        # Kernels before 4.13 (v1) have no oom_kill counter: having hit the limit is the best evidence left.
        return self.version == 1 and _read_int(self.path / "memory.failcnt") > 0

    def remove(self) -> None:
        if self._peak_fd is not None:
            os.close(self._peak_fd)
            self._peak_fd = None
        # Still has a process in it for a moment after a kill; remove_tree sweeps it at shutdown.
        with contextlib.suppress(OSError):
            self.path.rmdir()


def detect(namespace: str = "nimbus") -> MemoryController | None:
    """Find a writable memory controller and make nimbus's parent cgroup in it."""
    for root, version in ((_V1_ROOT, 1), (_V2_ROOT / _own_v2_path(), 2)):
        marker = "memory.limit_in_bytes" if version == 1 else "cgroup.subtree_control"
        if not (root / marker).exists():
            continue
        sweep_stale(root, namespace)
        parent = root / f"{namespace}-{os.getpid()}"
        try:
            parent.mkdir(exist_ok=True)
            if version == 2:
                _write_quietly(root / "cgroup.subtree_control", "+memory")
                (parent / "cgroup.subtree_control").write_text("+memory")
        except OSError:
            continue
        return MemoryController(parent, version)
    log.warning("no writable memory cgroup: MemorySize is not enforced and Max Memory Used is the handler's peak")
    return None


def sweep_stale(root: Path, namespace: str) -> None:
    """Remove what a server that could not clean up (kill -9) left under `root`: its cgroups, once empty."""
    for parent in root.glob(f"{namespace}-*"):
        owner = parent.name.removeprefix(f"{namespace}-")
        if owner.isdigit() and not Path("/proc", owner).exists():
            try:
                children = list(parent.iterdir())
            except FileNotFoundError:
                continue  # another server starting at the same time swept it first
            for child in children:
                if child.is_dir():
                    _remove_dir(child)
            _remove_dir(parent)


def remove_tree(controller: MemoryController | LimitController) -> None:
    for child in controller.parent.glob("*"):
        if child.is_dir():
            _remove_dir(child)
    _remove_dir(controller.parent)


@dataclass(frozen=True)
class LimitController:
    """A place where nimbus may create cgroups of one controller that only sets limits: pids or cpu."""

    kind: str
    parent: Path
    version: int

    def create(self, name: str, limits: dict[str, str]) -> Cgroup | None:
        path = self.parent / name
        try:
            path.mkdir(exist_ok=True)
            for file, value in limits.items():
                (path / file).write_text(value)
        except OSError as exc:
            log.warning("could not create %s cgroup %s: %s", self.kind, path, exc)
            if self.version == 1:  # in v2 the directory is shared with the memory controller's
                _remove_dir(path)
            return None
        return Cgroup(path, self.version)

    def create_pids(self, name: str, max_processes: int = MAX_PROCESSES) -> Cgroup | None:
        return self.create(name, {"pids.max": str(max_processes)})

    def create_cpu(self, name: str, memory_mb: int | None) -> Cgroup | None:
        """A cpu cgroup with the share of `memory_mb`, or unlimited until set_cpu_share() (a blank environment)."""
        group = self.create(name, {})
        if group is not None and memory_mb is not None and not set_cpu_share(group, memory_mb):
            group.remove()
            return None
        return group


@dataclass(frozen=True)
class Cgroup:
    path: Path
    version: int

    @property
    def procs(self) -> Path:
        """The file a process writes its pid to, to join."""
        return self.path / "cgroup.procs"

    def pids(self) -> list[int]:
        return [int(line) for line in _read_text(self.procs).split()]

    def remove(self) -> None:
        """Remove the cgroup once no process is left in it (a no-op while one is)."""
        _remove_dir(self.path)

    def kill(self) -> bool:
        """SIGKILL every process in the cgroup, those that left the environment's session included; True once it
        is empty. A fork racing the kill is caught by the next round; the pids limit bounds how many there are."""
        return kill_all(self.path)


def kill_all(path: Path, rounds: int = 100) -> bool:
    if (path / "cgroup.kill").exists():  # cgroup v2, Linux 5.14+: one write, no race
        _write_quietly(path / "cgroup.kill", "1")
    for _ in range(rounds):
        pids = [int(line) for line in _read_text(path / "cgroup.procs").split()]
        if not pids:
            return True
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
    return not _read_text(path / "cgroup.procs").split()


def cpu_limits(memory_mb: int, version: int) -> dict[str, str]:
    """The CPU share of MemorySize as cgroup files: a weight relative to the default, and a quota per period."""
    vcpus = memory_mb / MB_PER_VCPU
    quota = cpu_quota_us(memory_mb)
    if version == 1:
        return {
            "cpu.shares": str(max(2, round(1024 * vcpus))),
            "cpu.cfs_period_us": str(CFS_PERIOD_US),
            "cpu.cfs_quota_us": str(quota),
        }
    return {"cpu.weight": str(min(10000, max(1, round(100 * vcpus)))), "cpu.max": f"{quota} {CFS_PERIOD_US}"}


def set_cpu_share(group: Cgroup, memory_mb: int) -> bool:
    """Give a cpu cgroup the share of `memory_mb` (writing limits is cheap: no process moves)."""
    try:
        for file, value in cpu_limits(memory_mb, group.version).items():
            (group.path / file).write_text(value)
    except OSError as exc:
        log.warning("could not set the CPU share of %s: %s", group.path, exc)
        return False
    # Quota left unused while idle may be spent later in one burst (Linux 5.14+; older kernels lack it).
    burst = "cpu.cfs_burst_us" if group.version == 1 else "cpu.max.burst"
    _write_quietly(group.path / burst, str(cpu_quota_us(memory_mb)))
    return True


def cpu_quota_us(memory_mb: int) -> int:
    # The kernel refuses quotas under 1 ms.
    return max(1000, round(CFS_PERIOD_US * memory_mb / MB_PER_VCPU))


def detect_limit(kind: str, namespace: str = "nimbus") -> LimitController | None:
    """Find a writable `kind` controller ("pids" or "cpu") and make nimbus's parent cgroup in it."""
    v1 = Path("/sys/fs/cgroup") / kind
    if (v1 / "cgroup.procs").exists() and not (v1 / "cgroup.controllers").exists():
        sweep_stale(v1, namespace)
        parent = v1 / f"{namespace}-{os.getpid()}"
        if _make_dir(parent):
            return LimitController(kind, parent, 1)
    root = _V2_ROOT / _own_v2_path()
    if kind in _read_text(root / "cgroup.controllers").split():
        sweep_stale(root, namespace)
        parent = root / f"{namespace}-{os.getpid()}"
        if _make_dir(parent):
            _write_quietly(root / "cgroup.subtree_control", f"+{kind}")
            _write_quietly(parent / "cgroup.subtree_control", f"+{kind}")
            if kind in _read_text(parent / "cgroup.controllers").split():
                return LimitController(kind, parent, 2)
    log.warning("no writable %s cgroup: %s", kind, _UNLIMITED[kind])
    return None


_UNLIMITED = {
    "pids": "an environment's processes are not limited, so a fork bomb reaches the whole host",
    "cpu": "environments share the CPU equally instead of in proportion to their memory",
}


def _make_dir(path: Path) -> bool:
    try:
        path.mkdir(exist_ok=True)
    except OSError:
        return False
    return True


def _remove_dir(path: Path) -> None:
    # Fails while a process is still in it (a moment after a kill); remove_tree sweeps what is left at shutdown.
    with contextlib.suppress(OSError):
        path.rmdir()


def _own_v2_path() -> str:
    try:
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            if line.startswith("0::"):
                return line[3:].lstrip("/")
    except OSError:
        pass
    return ""


def _read_text(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


def _read_int(path: Path) -> int:
    text = _read_text(path).strip()
    return int(text) if text.isdigit() else 0


def _write_quietly(path: Path, value: str) -> None:
    with contextlib.suppress(OSError):
        path.write_text(value)
