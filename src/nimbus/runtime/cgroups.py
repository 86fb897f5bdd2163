"""Memory limits and peak-memory accounting per execution environment, through cgroups.

An environment's process tree goes into its own memory cgroup, limited to MemorySize (swap included where the
host accounts it). When the function exceeds it the kernel kills it, which is how AWS ends such an
environment; the cgroup's peak usage is the REPORT line's Max Memory Used. Where no writable memory controller
exists the environment runs without a limit and a warning says so once.
"""

from __future__ import annotations

import contextlib
import logging
import os
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

_V1_ROOT = Path("/sys/fs/cgroup/memory")
_V2_ROOT = Path("/sys/fs/cgroup")


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


def remove_tree(controller: MemoryController) -> None:
    for child in controller.parent.glob("*"):
        if child.is_dir():
            MemoryCgroup(child, controller.version).remove()
    MemoryCgroup(controller.parent, controller.version).remove()


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
