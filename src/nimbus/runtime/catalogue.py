"""Which runtimes nimbus runs, and with what: the best local interpreter for each python3.X.

A python3.X function runs on python3.X when the host has it (on PATH, or installed by pyenv, asdf or uv),
otherwise on the nearest version it has (newer first); the choice is logged once. `provided.al2` and
`provided.al2023` run the package's own `bootstrap`.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

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
def discover(version: tuple[int, int]) -> Interpreter | None:
    """This host's python{major}.{minor}, or None; never another version."""
    if sys.version_info[:2] == version:
        return Interpreter(sys.executable, version)
    for candidate in _candidates(version):
        interpreter = _probe(candidate, version)
        if interpreter is not None:
            return interpreter
    return None


def _candidates(version: tuple[int, int]) -> Iterator[str]:
    """Where a python3.X may live: PATH first, then version managers' install trees, newest patch first."""
    name = f"python{version[0]}.{version[1]}"
    found = shutil.which(name)
    if found is not None:
        yield found
    home = Path.home()
    roots = [Path(os.environ["PYENV_ROOT"]) / "versions"] if os.environ.get("PYENV_ROOT") else []
    roots += [home / ".pyenv" / "versions", home / ".asdf" / "installs" / "python", home / ".local/share/uv/python"]
    for root in roots:
        prefixes = [*root.glob(f"{version[0]}.{version[1]}.*"), *root.glob(f"cpython-{version[0]}.{version[1]}.*")]
        for prefix in sorted(prefixes, key=_patch_level, reverse=True):
            yield str(prefix / "bin" / name)


def _patch_level(prefix: Path) -> tuple[int, ...]:
    numbers = re.findall(r"\d+", prefix.name.removeprefix("cpython-"))
    return tuple(int(n) for n in numbers[:3])


def _probe(executable: str, version: tuple[int, int]) -> Interpreter | None:
    """Run the candidate once: it must work (a pyenv shim of an inactive version does not) and be that version.
    Shims (pyenv, asdf) also cost tens of milliseconds a start, so the real binary is what gets recorded."""
    if not os.access(executable, os.X_OK):
        return None
    try:
        lines = subprocess.run(
            [executable, "-c", "import sys; print(sys.executable); print('%d.%d' % sys.version_info[:2])"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.splitlines()
    except (OSError, subprocess.SubprocessError):
        return None
    if len(lines) != 2 or lines[1] != f"{version[0]}.{version[1]}":
        return None
    return Interpreter(lines[0] or executable, version)


@cache
def interpreter_for(runtime: str) -> Interpreter:
    """The interpreter a python runtime runs on; never fails (the server's own is the last resort)."""
    wanted = python_version(runtime)
    candidates = sorted(
        (python_version(name) for name in PYTHON_RUNTIMES),
        key=lambda v: (abs(v[1] - wanted[1]), -v[1]),
    )
    for version in candidates:
        interpreter = discover(version)
        if interpreter is not None:
            _report(runtime, interpreter)
            return interpreter
    fallback = own_interpreter()
    _report(runtime, fallback)
    return fallback


def own_interpreter() -> Interpreter:
    """The interpreter nimbus itself runs on (discover() returns the same for its version)."""
    return Interpreter(sys.executable, (sys.version_info[0], sys.version_info[1]))


def _report(runtime: str, interpreter: Interpreter) -> None:
    actual = f"python{interpreter.version[0]}.{interpreter.version[1]}"
    if actual == runtime:
        log.info("runtime %s runs on %s", runtime, interpreter.executable)
    else:
        log.warning("runtime %s is not installed here; it runs on %s (%s)", runtime, actual, interpreter.executable)
