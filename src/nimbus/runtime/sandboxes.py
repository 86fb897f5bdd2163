"""Each execution environment's sandbox: made from the isolation in force (runtime/isolation.py) when the environment
starts, released when it stops.

Two ways in, one result:

    forked    a zygote's blank child joined its memory, pids and cpu cgroups when it was forked, before anyone knew
              which function it would become (joining costs 15-20 ms on a busy host, off the cold-start path), and
              at level namespaces it is born as pid 2 of a PID namespace of its own (`blank_plan`; entering one at
              become would cost a second fork, ~8 ms for a zygote with boto3 here). When it becomes one, its cpu
              cgroup gets the function's share and it enters a plan without cgroups (mounts, user: ~1 ms).
    spawned   an interpreter of its own, or a custom runtime's bootstrap: the sandbox launcher (sandbox_child.py run
              as a program) joins the cgroups, enters the plan and execs the program, so nothing the program does
              happens outside its sandbox.

Either way the environment holds a `Sandbox` and releases it once its processes are dead: every process left in its
pids cgroup (one that left the environment's session) is killed, the cgroups removed, its tmp directory deleted.
"""

from __future__ import annotations

import dataclasses
import fcntl
import os
import shutil
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import orjson

from nimbus.runtime.cgroups import Cgroup, MemoryCgroup
from nimbus.runtime.isolation import Isolation, Level, pid_init
from nimbus.runtime.spec import EnvironmentSpec

SANDBOX_CHILD = Path(__file__).with_name("sandbox_child.py")
# Linux's default pipe buffer: a launch document this small is written before the launcher reads it.
_PIPE_CAPACITY = 65536


class LimitGroup(Protocol):
    """A pids or cpu cgroup an environment is in (runtime.cgroups.Cgroup; a blank's, see zygote.LimitCgroup)."""

    @property
    def procs(self) -> Path: ...

    def remove(self) -> None: ...


@dataclass
class Sandbox:
    """What one environment holds on the host besides its memory cgroup (which the environment itself owns)."""

    plan: dict[str, Any]
    limits: Sequence[LimitGroup] = ()
    tmp_dir: Path | None = None
    released: bool = field(default=False, init=False)

    @property
    def task_root(self) -> Path:
        """Where the function sees its code: /var/task in namespaces, its directory in the data dir otherwise."""
        return Path(self.plan["task_root_inside"])

    def visible_spec(self, spec: EnvironmentSpec) -> EnvironmentSpec:
        """The spec as the function sees it (LAMBDA_TASK_ROOT, LD_LIBRARY_PATH name the code where it is seen)."""
        if spec.task_root == self.task_root:
            return spec
        return dataclasses.replace(spec, task_root=self.task_root)

    def inside(self, path: Path, spec: EnvironmentSpec) -> Path:
        """A path under the function's code, as the function sees it."""
        return self.task_root / path.relative_to(spec.task_root)

    def release(self) -> None:
        """Once the environment's process is gone: end whatever of it is left, free its cgroups and /tmp. Idempotent."""
        if self.released:
            return
        self.released = True
        for group in self.limits:
            if isinstance(group, Cgroup):
                group.kill()
            group.remove()
        if self.tmp_dir is not None:
            shutil.rmtree(self.tmp_dir, ignore_errors=True)


class Sandboxes:
    """Makes sandboxes at the level in force; one per server (app.build), shared by every environment."""

    def __init__(self, isolation: Isolation) -> None:
        self.isolation = isolation

    @property
    def level(self) -> Level:
        return self.isolation.level

    def blank_limits(self, name: str) -> list[Cgroup]:
        """The pids and cpu cgroups a zygote's blank child joins when it is forked (zygote.LimitsFactory)."""
        return self.isolation.limits(name)

    def blank_plan(self) -> dict[str, Any] | None:
        """What a zygote's blank can be given when it is forked, before its function is known: a PID namespace of
        its own, where the zygote may make one (root, no user namespace), so that becoming a function costs no second
        fork (sandbox_child.fork); None where it may not, and enter() forks at become instead."""
        support = self.isolation.support
        if self.level is not Level.NAMESPACES or not support.pid_namespace or support.user_namespace:
            return None
        return {"level": Level.NAMESPACES.value, "pid_namespace": True, "pid_init": pid_init()}

    def throttle(self, sandbox: Sandbox, memory_mb: int) -> None:
        """Give an initialised environment its CPU in proportion to memory. Init runs before this with the CPU burst
        AWS gives it ("up to 10 seconds for function initialization with burst CPU"); a 128 MB function's quota is
        7% of a core, which would stretch a 5 ms init over several 100 ms CFS periods."""
        self.isolation.set_cpu_share([group for group in sandbox.limits if isinstance(group, Cgroup)], memory_mb)

    def for_blank(
        self, spec: EnvironmentSpec, env_id: str, limits: Sequence[LimitGroup], interpreter: str | None = None
    ) -> Sandbox:
        """The sandbox of a blank that becomes `spec`'s environment (its zygote runs on `interpreter`, which stays
        readable, when it is not the server's own): its cgroups are joined already."""
        tmp_dir = self.isolation.tmp_dir(env_id)
        plan = self.isolation.plan(
            spec, tmp_dir=tmp_dir, ephemeral_storage_mb=spec.ephemeral_storage, layers=layers_of(spec),
            interpreter=interpreter,
        )  # fmt: skip
        return Sandbox(plan, list(limits), tmp_dir)

    def for_spawn(
        self, spec: EnvironmentSpec, env_id: str, memory: MemoryCgroup | None, interpreter: str | None = None
    ) -> Sandbox:
        """The sandbox of a program started for `spec` (`interpreter` when it is not the server's own Python): the
        launcher joins `memory` and the pids and cpu cgroups made here before it execs the program."""
        limits = self.isolation.limits(env_id)  # no CPU quota yet: see throttle()
        tmp_dir = self.isolation.tmp_dir(env_id)
        procs = [memory.path / "cgroup.procs"] if memory is not None else []
        procs += [group.procs for group in limits]
        plan = self.isolation.plan(
            spec, tmp_dir=tmp_dir, ephemeral_storage_mb=spec.ephemeral_storage, layers=layers_of(spec),
            cgroup_procs=procs, interpreter=interpreter,
        )  # fmt: skip
        return Sandbox(plan, limits, tmp_dir)


@dataclass(frozen=True)
class Launch:
    """How to start a program in its sandbox: `argv` with `pass_fds`, no environment of its own; close `fd` once
    the program is started (or failed to)."""

    argv: list[str]
    fd: int

    @property
    def pass_fds(self) -> tuple[int, ...]:
        return (self.fd,)


def launch(sandbox: Sandbox, argv: Sequence[str], env: Mapping[str, str]) -> Launch:
    """Run `argv` with `env` in `sandbox`: sandbox_child.py as a program, on the server's interpreter, isolated from
    PYTHON* variables (-I) and without site packages (-S: it needs only the stdlib). The plan, the program and its
    environment travel in a pipe, read before the program runs: on the command line the variables (secrets, say)
    would show in ps, and in the launcher's environment LD_PRELOAD and friends would act before the sandbox does."""
    document = orjson.dumps({"plan": sandbox.plan, "argv": list(argv), "env": dict(env)})
    read_end, write_end = os.pipe()
    try:
        if len(document) > _PIPE_CAPACITY:
            fcntl.fcntl(write_end, fcntl.F_SETPIPE_SZ, len(document))
        os.write(write_end, document)
    except BaseException:
        os.close(read_end)
        raise
    finally:
        os.close(write_end)
    return Launch([sys.executable, "-I", "-S", str(SANDBOX_CHILD), str(read_end)], read_end)


def layers_of(spec: EnvironmentSpec) -> Sequence[Path]:
    """The function's layers' extracted trees, in function order (the last wins at /opt)."""
    return spec.layers


def opt_mounted(sandbox: Sandbox | None) -> bool:
    """Whether the function's layers are mounted at /opt in this sandbox (level namespaces): spec.opt_roots' answer."""
    return sandbox is not None and "opt_inside" in sandbox.plan
