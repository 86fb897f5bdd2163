"""sandbox_child.enter_restored: a process in a snapshot's sandbox (the sandbox user, no PID namespace) gets a user
namespace of its own and in it its own /tmp (a copy of the snapshot's, limited in size), /proc and PID namespace."""

from __future__ import annotations

import ctypes
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from nimbus.runtime import isolation, sandbox_child


@pytest.fixture(scope="module")
def data_dir() -> Iterator[Path]:
    # Not under /tmp: the sandbox covers /tmp with a tmpfs.
    path = Path(tempfile.mkdtemp(prefix="nimbus-restored-", dir="/var/tmp" if os.path.isdir("/var/tmp") else None))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="module")
def snapshot_plan(data_dir: Path) -> dict[str, Any]:
    support = isolation.probe(data_dir)
    if not support.namespaces or support.user_namespace:
        pytest.skip("needs a root server on a host with namespaces")
    reason = isolation.probe_restored(data_dir, user_namespace=False)
    if reason:
        pytest.skip(f"no unprivileged user namespaces here: {reason}")
    task_root = Path(tempfile.mkdtemp(dir=data_dir))
    task_root.chmod(0o755)
    return isolation.plan_for(
        isolation._probe_spec(task_root), isolation.Level.NAMESPACES, data_dir=data_dir, ephemeral_storage_mb=1,
        pid_namespace=False, reveal=isolation.python_reveals(),
    )  # fmt: skip


def in_restored(plan: dict[str, Any], check: Any) -> str:
    """Enter `plan` as a snapshot does, write a file to its /tmp, then enter a restored environment and `check`."""

    def restored(plan: dict[str, Any]) -> str:
        Path("/tmp/from-the-snapshot").write_text("snapshot")
        sandbox_child.enter_restored(plan)
        return str(check(plan))

    return isolation.run_in_sandbox(plan, restored)


def test_the_probe_succeeds_where_user_namespaces_work(snapshot_plan: dict[str, Any], data_dir: Path) -> None:
    assert isolation.probe_restored(data_dir, user_namespace=False) == ""


def test_only_its_own_processes_are_visible(snapshot_plan: dict[str, Any]) -> None:
    def check(plan: dict[str, Any]) -> str:
        pids = sorted(int(name) for name in os.listdir("/proc") if name.isdigit())
        return "" if pids == [1, 2] and os.getpid() == 2 and os.getuid() == 993 else f"pids {pids}, uid {os.getuid()}"

    assert in_restored(snapshot_plan, check) == ""


def test_tmp_is_a_size_limited_copy_of_the_snapshots(snapshot_plan: dict[str, Any]) -> None:
    def check(plan: dict[str, Any]) -> str:
        if Path("/tmp/from-the-snapshot").read_text() != "snapshot":
            return "the snapshot's file is missing"
        try:
            Path("/tmp/big").write_bytes(b"x" * (2 << 20))  # the plan allows 1 MB
        except OSError as exc:
            return "" if exc.strerror == os.strerror(28) else str(exc)
        return "wrote 2 MB into a 1 MB /tmp"

    assert in_restored(snapshot_plan, check) == ""


def test_what_hides_the_data_dir_cannot_be_unmounted(snapshot_plan: dict[str, Any], data_dir: Path) -> None:
    def check(plan: dict[str, Any]) -> str:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.umount2(str(data_dir).encode(), 2) == 0:  # MNT_DETACH
            return "unmounted"
        return "" if os.listdir(data_dir) == [] else "the data dir is visible"

    assert in_restored(snapshot_plan, check) == ""
