"""Finding an environment's process on the host. In a PID namespace a function sees itself as pid 2, so functions
report their pid *and* their PID namespace (`IDENTITY`), and the host looks for the process that is that pid in that
namespace among the server's descendants."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil

from tests.support import Server, wait_until

# Handler code for what the host needs to find the process: `where()` goes into the function's answer.
IDENTITY = """
import os, uuid
# One per init: tells environments apart even where they share a pid (each is pid 2 in its own PID namespace).
ENVIRONMENT = uuid.uuid4().hex

def where():
    return {"pid": os.getpid(), "pidns": os.readlink("/proc/self/ns/pid"), "environment": ENVIRONMENT}
"""


def host_pid(server: Server, where: dict[str, Any]) -> int:
    """The host's pid of the environment process that answered `where` (IDENTITY's where())."""
    found: int = wait_until(lambda: in_namespace(server, where["pidns"], where["pid"]), timeout=5)
    return found


def in_namespace(server: Server, pidns: str, pid: int) -> int | None:
    """The host's pid of the server's descendant that is `pid` in PID namespace `pidns` (1: the namespace's init)."""
    assert server.process is not None
    for process in psutil.Process(server.process.pid).children(recursive=True):
        try:
            if _pid_namespace(process.pid) == pidns and _innermost_pid(process.pid) == pid:
                return process.pid
        except (OSError, psutil.NoSuchProcess):
            continue
    return None


def creator_of(pid: int) -> int:
    """The process that forked or started the environment: its parent, past the sandbox's relay where there is one
    (the process outside the PID namespace that passes signals on and exits as the function does: it leads the
    environment's session, which its creator never does)."""
    parent = psutil.Process(pid).parent()
    assert parent is not None
    if os.getsid(parent.pid) == os.getsid(pid):
        parent = parent.parent()
        assert parent is not None
    return parent.pid


def _pid_namespace(pid: int) -> str:
    return os.readlink(f"/proc/{pid}/ns/pid")


def _innermost_pid(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("NSpid:"):
                return int(line.split()[-1])
    return pid


@contextlib.contextmanager
def shared_directory() -> Iterator[Path]:
    """A directory environments can meet in: /tmp is each one's own and the code read-only, so one of the host's
    that the sandbox neither covers nor closes to its user."""
    with tempfile.TemporaryDirectory(dir="/var/tmp", prefix="nimbus-test-") as name:
        os.chmod(name, 0o1777)
        yield Path(name)
