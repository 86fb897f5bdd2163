"""The machine the benchmark runs on, and how busy other work keeps it (these machines are shared and noisy)."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

# Above this many cores busy with other work, results are flagged as unreliable.
BUSY_CORES = 0.25


def machine() -> dict[str, Any]:
    return {
        "nproc": os.cpu_count(),
        "cpu": _cpu_model(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
    }


def source_revision() -> dict[str, Any]:
    """The commit measured, and whether the working tree differed from it (read-only git)."""
    repo = Path(__file__).resolve().parent.parent

    def git(*args: str) -> str:
        try:
            done = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, timeout=10, check=True)
        except (OSError, subprocess.SubprocessError):
            return ""
        return done.stdout.strip()

    return {"commit": git("rev-parse", "--short", "HEAD") or None, "modified": bool(git("status", "--porcelain"))}


def background_cores(seconds: float = 1.0) -> float:
    """Cores kept busy by everything on the machine over `seconds` (call while the benchmark itself is idle)."""
    before = _busy_and_total()
    time.sleep(seconds)
    after = _busy_and_total()
    busy, total = after[0] - before[0], after[1] - before[1]
    return (os.cpu_count() or 1) * busy / total if total else 0.0


class OtherWork:
    """Cores kept busy during a stretch of time by work outside this process tree (other users of the machine).

    The machine's busy time (/proc/stat) minus this process's CPU and that of its reaped descendants (servers,
    client processes and, through the servers, execution environments). Kernel time spent outside any process
    (interrupts) counts as other work, so a quiet machine reads a few hundredths of a core, not zero.
    """

    def __init__(self) -> None:
        self._wall = time.monotonic()
        self._busy = _busy_seconds()
        self._ours = _own_cpu_seconds()

    def cores(self) -> float:
        wall = time.monotonic() - self._wall
        other = (_busy_seconds() - self._busy) - (_own_cpu_seconds() - self._ours)
        return max(0.0, other / wall) if wall > 0 else 0.0


def wait_quiet(timeout: float) -> float:
    """Wait up to `timeout` seconds for the machine to go quiet; returns the last background load measured."""
    deadline = time.monotonic() + timeout
    load = background_cores()
    while load > BUSY_CORES and time.monotonic() < deadline:
        load = background_cores()
    return load


def _busy_seconds() -> float:
    return _busy_and_total()[0] / os.sysconf("SC_CLK_TCK")


def _own_cpu_seconds() -> float:
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


def _busy_and_total() -> tuple[int, int]:
    # /proc/stat "cpu" line: user nice system idle iowait irq softirq steal ...; idle and iowait are not busy.
    fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + fields[4]
    return sum(fields) - idle, sum(fields)


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"
