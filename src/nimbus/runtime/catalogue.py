"""Which runtimes nimbus runs, and with what: the best local interpreter for each python3.X.

A python3.X function runs on python3.X when the host has it, otherwise on the nearest version it has (newer
first); the choice is logged once. `provided.al2` and `provided.al2023` run the package's own `bootstrap`.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import sys
from dataclasses import dataclass
from functools import cache

log = logging.getLogger(__name__)

PYTHON_RUNTIMES = ("python3.9", "python3.10", "python3.11", "python3.12", "python3.13", "python3.14")
CUSTOM_RUNTIMES = ("provided.al2", "provided.al2023")
SUPPORTED_RUNTIMES = PYTHON_RUNTIMES + CUSTOM_RUNTIMES


@dataclass(frozen=True)
class Interpreter:
    executable: str
    version: tuple[int, int]


def python_version(runtime: str) -> tuple[int, int]:
    major, minor = runtime.removeprefix("python").split(".")
    return int(major), int(minor)


@cache
def _discover(version: tuple[int, int]) -> Interpreter | None:
    if sys.version_info[:2] == version:
        return Interpreter(sys.executable, version)
    found = shutil.which(f"python{version[0]}.{version[1]}")
    if found is None:
        return None
    # Shims (pyenv, asdf) cost tens of milliseconds a start: resolve to the real binary once.
    try:
        real = subprocess.run(
            [found, "-c", "import sys; print(sys.executable)"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return Interpreter(real or found, version) if real else None


@cache
def interpreter_for(runtime: str) -> Interpreter:
    """The interpreter a python runtime runs on; never fails (the server's own is the last resort)."""
    wanted = python_version(runtime)
    candidates = sorted(
        (python_version(name) for name in PYTHON_RUNTIMES),
        key=lambda v: (abs(v[1] - wanted[1]), -v[1]),
    )
    for version in candidates:
        interpreter = _discover(version)
        if interpreter is not None:
            _report(runtime, interpreter)
            return interpreter
    fallback = Interpreter(sys.executable, (sys.version_info[0], sys.version_info[1]))
    _report(runtime, fallback)
    return fallback


def _report(runtime: str, interpreter: Interpreter) -> None:
    actual = f"python{interpreter.version[0]}.{interpreter.version[1]}"
    if actual == runtime:
        log.info("runtime %s runs on %s", runtime, interpreter.executable)
    else:
        log.warning("runtime %s is not installed here; it runs on %s (%s)", runtime, actual, interpreter.executable)
