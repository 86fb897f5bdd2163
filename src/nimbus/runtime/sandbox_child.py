"""Enter an execution environment's sandbox: runs in the environment process, after the fork, before function code.

Stdlib and ctypes only, and syntax every supported python3 (3.9+) reads: zygotes of every Python runtime import this
module before they fork, and it never imports nimbus. The server builds the plan (runtime/isolation.py); `enter`
carries it out and either returns in a process that is ready to run the function or raises SandboxError.

What `enter(plan)` does, in order (every step is skipped when its plan entry is absent or empty):

1. Dies with its parent (PR_SET_PDEATHSIG=SIGKILL) and never gains privileges through exec (PR_SET_NO_NEW_PRIVS).
2. Joins its cgroups (`cgroups`: cgroup.procs files for pids and cpu, memory again is harmless) and sets `rlimits`.
3. level "namespaces": unshares mount, IPC and UTS namespaces (and PID, see below), stops mount propagation to
   the host, and builds the view a function sees:
     - the code (`task_root`) bind-mounted read-only at `task_root_inside` (/var/task);
     - the layers at `opt_inside` (/opt): an empty read-only tmpfs, one layer bound read-only, or a read-only
       overlay of several where later layers win, as AWS extracts them in order;
     - `reveal`: a directory the function must read (the interpreter) whose ancestor is closed to the sandbox user
       (/root is 0700): the ancestor is covered by a tmpfs holding only that directory;
     - `hide`: directories covered by an empty read-only tmpfs (the data dir: every function's code and tmp);
     - a private /tmp (`tmp_dir`), a tmpfs of `tmp_size_mb` MB: a write past it fails with ENOSPC; and a private
       /dev/shm of `shm_size_mb` MB.
   tmpfs pages are memory: what a function keeps in /tmp counts towards its memory cgroup, as on no AWS host.
4. `pid_namespace`: unshare(CLONE_NEWPID) moves only the caller's future children into a new PID namespace, and
   the first of them is its init, which the kernel protects from every signal it has no handler for. The function
   must not be that process (a function that kills itself, or is sent SIGTERM, would live on), so `enter` starts
   `pid_init` (/bin/cat, reading a pipe only this process holds) as PID 1, then forks the function's process (PID
   2), which mounts a /proc showing only the namespace's processes (and so only its own environment variables) and
   returns. The process `enter` was called in stays outside: it passes the usual termination signals on, waits,
   and exits as the function's process did (same code, same signal), so whoever holds the environment's pid sees
   the function's exit; its exit closes init's pipe, init exits, and the kernel kills whatever is left in the
   namespace, so nothing a function started outlives its environment. The cost: one more fork per environment
   (about 2 ms for a 50 MB process) and a spawn, which a zygote that may create PID namespaces saves by forking
   with `fork(plan)`; orphans stay zombies under the `cat` until the environment ends, bounded by the pids limit.
5. `uid`/`gid`: drops to the unprivileged sandbox user (AWS runs functions as sbx_user1051); root in a mount
   namespace could simply unmount what hides the data dir.
6. Changes directory to `task_root_inside` and exports `environment` (TMPDIR at level "process"); the caller adds
   these variables to the function's own.

Contract: call it once, in a single-threaded process; descriptors the function needs (its channel to the platform,
stdout/stderr) must already be open, since paths under the data dir and /tmp are gone afterwards. With a PID
namespace it returns in a child of the process it was called in, which never returns.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import resource
import select
import signal
import sys

TYPE_CHECKING = False  # the type checker treats this name as true; typing costs milliseconds to import
if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence
    from typing import Any, NoReturn

    Plan = Mapping[str, Any]

CLONE_NEWNS = 0x00020000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWPID = 0x20000000
CLONE_NEWUSER = 0x10000000
MS_RDONLY = 0x1
MS_NOSUID = 0x2
MS_NODEV = 0x4
MS_NOEXEC = 0x8
MS_REMOUNT = 0x20
MS_BIND = 0x1000
MS_REC = 0x4000
MS_SLAVE = 0x80000
PR_SET_PDEATHSIG = 1
PR_SET_DUMPABLE = 4
PR_SET_NO_NEW_PRIVS = 38
_LINUX_CAPABILITY_VERSION_3 = 0x20080522
DEFAULT_PID_INIT = "/bin/cat"
# Signals a platform (or a user at a terminal) sends to end an environment; the process outside passes them on.
FORWARDED_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2)

_libc = ctypes.CDLL(None, use_errno=True)
_libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]
_libc.unshare.argtypes = [ctypes.c_int]
_libc.setns.argtypes = [ctypes.c_int, ctypes.c_int]
_libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]


# A child of fork() is born in its PID namespace, with its init running: enter() has nothing to fork. It holds the
# write end of init's pipe (init exits, and the kernel ends the namespace, once nothing holds it).
_born_in_pid_namespace = False
_init_pipe: int | None = None
_own_pid_namespace_fd: int | None = None


class SandboxError(OSError):
    """A step of the plan failed; the environment must not run the function."""


def enter(plan: Plan, parent_pid: int | None = None) -> None:
    """Carry out `plan` in this process (see the module docstring). `parent_pid`, when given, is the process that
    forked this one: if it is already gone, this process exits at once instead of living on as an orphan."""
    _die_with_parent(parent_pid)
    _prctl(PR_SET_NO_NEW_PRIVS, 1, "PR_SET_NO_NEW_PRIVS")
    for procs in plan.get("cgroups", ()):
        _join_cgroup(procs)
    _set_rlimits(plan.get("rlimits", {}))
    if plan.get("level") == "namespaces":
        _enter_namespaces(plan)
    _drop_privileges(plan)
    _settle(plan)


def fork(plan: Plan) -> tuple[int, int | None]:
    """os.fork() for a zygote, saving `enter` its second fork (about 2 ms here) where the caller may create PID
    namespaces (root): the namespace and its init are made here and the child is born as its PID 2.

    Returns what os.fork() returns, and the pid of the namespace's init, which is a child of the caller too: it
    exits once the environment's processes are gone (they hold its pipe, across exec, without knowing), and the
    caller reaps it as it reaps the environment. Where no namespace is made here, the init is None and `enter`
    forks itself."""
    global _born_in_pid_namespace, _init_pipe
    if plan.get("level") != "namespaces" or not plan.get("pid_namespace") or plan.get("user_namespace"):
        return os.fork(), None
    own = _own_pid_namespace()
    if own < 0 or _libc.unshare(CLONE_NEWPID) != 0:
        return os.fork(), None
    alive_read, alive_write = os.pipe()
    try:
        inherited = [int(name) for name in os.listdir("/proc/self/fd")]
        init = _spawn_init(plan.get("pid_init") or DEFAULT_PID_INIT, alive_read, inherited)
        pid = os.fork()
    except BaseException:
        os.close(alive_read)
        os.close(alive_write)
        _check(_libc.setns(own, CLONE_NEWPID), "setns to the zygote's PID namespace")
        raise
    os.close(alive_read)
    if pid == 0:
        _born_in_pid_namespace = True
        _init_pipe = alive_write
        os.set_inheritable(alive_write, True)
        return 0, None
    os.close(alive_write)
    # Only that child was meant to start a namespace: later ones are born in the zygote's own again.
    _check(_libc.setns(own, CLONE_NEWPID), "setns to the zygote's PID namespace")
    return pid, init


def kept_descriptors() -> list[int]:
    """What a child of fork() must keep open when it closes what it inherited: closing its end of init's pipe would
    end its PID namespace, and it with it."""
    return [_init_pipe] if _init_pipe is not None else []


def _own_pid_namespace() -> int:
    global _own_pid_namespace_fd
    if _own_pid_namespace_fd is None:
        try:
            _own_pid_namespace_fd = os.open("/proc/self/ns/pid", os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            _own_pid_namespace_fd = -1
    return _own_pid_namespace_fd


# -- step 1 and 2: the process itself ----------------------------------------------------------------------------
def _die_with_parent(parent_pid: int | None) -> None:
    _prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), "PR_SET_PDEATHSIG")
    # The parent may have died between the fork and the prctl: then no signal will ever come. (A parent in another
    # PID namespace shows as 0, alive or not.)
    ppid = os.getppid()
    if parent_pid is not None and ppid not in (parent_pid, 0):
        os._exit(128 + signal.SIGKILL)


def _join_cgroup(procs: str) -> None:
    try:
        with open(procs, "w") as handle:
            handle.write(str(os.getpid()))
    except OSError as exc:
        raise SandboxError(exc.errno, f"join cgroup {procs}: {exc.strerror}") from exc


def _set_rlimits(limits: Mapping[str, Sequence[int]]) -> None:
    for name, (soft, hard) in limits.items():
        try:
            resource.setrlimit(getattr(resource, "RLIMIT_" + name), (soft, hard))
        except (OSError, ValueError) as exc:
            raise SandboxError(0, f"setrlimit {name}={soft},{hard}: {exc}") from exc


# -- step 3: namespaces and the filesystem view ------------------------------------------------------------------
def _enter_namespaces(plan: Plan) -> None:
    pid_namespace = bool(plan.get("pid_namespace"))
    user_namespace = bool(plan.get("user_namespace"))
    flags = CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWUTS
    new_pid = pid_namespace and not _born_in_pid_namespace
    flags |= (CLONE_NEWPID if new_pid else 0) | (CLONE_NEWUSER if user_namespace else 0)
    ids = (os.geteuid(), os.getegid())
    _check(_libc.unshare(flags), "unshare")
    if user_namespace:
        _map_identity(*ids)
    # Slave, not shared: nothing mounted here reaches the host, while the host's unmounts still reach here.
    _mount(None, "/", None, MS_REC | MS_SLAVE, None)
    _build_view(plan)
    if new_pid:
        _start_pid_namespace(plan.get("pid_init") or DEFAULT_PID_INIT)
    if pid_namespace:
        _mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, None)
    if user_namespace:
        # Capabilities in its own user namespace would let the function unmount what hides the data dir; a
        # namespace it creates later copies these mounts locked, so they stay.
        _drop_capabilities()


def _map_identity(uid: int, gid: int) -> None:
    """In a new user namespace (a server that is not root), be the same user as outside."""
    # A process that changed its uid is not dumpable, and its /proc/self files then belong to root.
    _prctl(PR_SET_DUMPABLE, 1, "PR_SET_DUMPABLE")
    for name, text in (("uid_map", f"{uid} {uid} 1"), ("setgroups", "deny"), ("gid_map", f"{gid} {gid} 1")):
        try:
            with open(f"/proc/self/{name}", "w") as handle:
                handle.write(text)
        except OSError as exc:
            raise SandboxError(exc.errno, f"write /proc/self/{name}: {exc.strerror}") from exc


def _drop_capabilities() -> None:
    header = (ctypes.c_uint32 * 2)(_LINUX_CAPABILITY_VERSION_3, 0)
    data = (ctypes.c_uint32 * 6)()  # effective, permitted, inheritable for both 32-bit halves: all empty
    _check(_libc.capset(header, data), "capset")


def _build_view(plan: Plan) -> None:
    # Order matters: bind what is needed while its source is reachable, then cover what must not be seen.
    _bind_read_only(plan["task_root"], plan["task_root_inside"])
    if plan.get("opt_inside"):
        _mount_layers(plan.get("layers", ()), plan["opt_inside"])
    for reveal in plan.get("reveal", ()):
        _reveal(reveal["cover"], reveal["keep"])
    for path in plan.get("hide", ()):
        if os.path.isdir(path):
            _tmpfs(path, "mode=0755,size=4k", MS_RDONLY | MS_NOEXEC)
    if plan.get("tmp_dir"):
        _private_tmp(plan)
    if plan.get("shm_size_mb") and os.path.isdir("/dev/shm"):
        _tmpfs("/dev/shm", f"mode=1777,size={int(plan['shm_size_mb'])}m", MS_NOEXEC)


def _private_tmp(plan: Plan, copy_from: str | None = None) -> None:
    """A tmpfs of `tmp_size_mb` MB at `tmp_dir`, holding a copy of `copy_from` (a restored environment's snapshot
    /tmp) and, bound back read-only, the `tmp_keep` directories it covers (nimbus or its Python under /tmp)."""
    keep = [path for path in plan.get("tmp_keep", ()) if os.path.isdir(path)]
    # Descriptors keep the directories reachable once the tmpfs covers them; /proc/self/fd/N names them for mount.
    handles = {path: os.open(path, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC) for path in keep}
    try:
        _tmpfs(plan["tmp_dir"], f"mode=1777,size={int(plan['tmp_size_mb'])}m", 0)
        if copy_from is not None:
            _copy_tree(copy_from, plan["tmp_dir"], skip=keep)
        for path, handle in handles.items():
            os.makedirs(path, exist_ok=True)
            _mount(f"/proc/self/fd/{handle}", path, None, MS_BIND | MS_REC, None)
            _mount(None, path, None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV, None)
    finally:
        for handle in handles.values():
            os.close(handle)


def _bind_read_only(source: str, target: str) -> None:
    _make_mountpoint(target)
    _mount(source, target, None, MS_BIND | MS_REC, None)
    _mount(None, target, None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV, None)


def _mount_layers(layers: Sequence[str], target: str) -> None:
    _make_mountpoint(target)
    if not layers:
        _tmpfs(target, "mode=0755,size=4k", MS_RDONLY)
    elif len(layers) == 1:
        _bind_read_only(layers[0], target)
    else:
        # overlayfs lists the upper-most layer first; AWS applies layers in order, so the last one wins.
        options = "lowerdir=" + ":".join(reversed(list(layers)))
        _mount("overlay", target, "overlay", MS_RDONLY | MS_NOSUID | MS_NODEV, options)


def _reveal(cover: str, keep: Sequence[str]) -> None:
    # Descriptors keep the directories reachable once the tmpfs covers them; /proc/self/fd/N names them for mount.
    handles = {path: os.open(path, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC) for path in keep}
    try:
        _tmpfs(cover, "mode=0755,size=64k", 0)
        for path, handle in handles.items():
            os.makedirs(path, exist_ok=True)
            _mount(f"/proc/self/fd/{handle}", path, None, MS_BIND | MS_REC, None)
    finally:
        for handle in handles.values():
            os.close(handle)
    _mount(None, cover, None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV, None)


def _tmpfs(target: str, options: str, flags: int) -> None:
    _make_mountpoint(target)
    _mount("tmpfs", target, "tmpfs", flags | MS_NOSUID | MS_NODEV, options)


def _make_mountpoint(path: str) -> None:
    # On the host's filesystem (a mount namespace shares it): isolation.detect() creates /var/task and /opt once.
    if not os.path.isdir(path):
        try:
            os.makedirs(path, exist_ok=True)
        except OSError as exc:
            raise SandboxError(exc.errno, f"create mount point {path}: {exc.strerror}") from exc


# -- step 4: the PID namespace -------------------------------------------------------------------------------------
def _start_pid_namespace(init: str) -> None:
    """Start the namespace's init, fork the function's process after it and return in that; never return here."""
    alive_read, alive_write = os.pipe()
    # Listed now: once the namespace's own /proc is mounted, /proc/self means nothing out here.
    inherited = [int(name) for name in os.listdir("/proc/self/fd")]
    _spawn_init(init, alive_read, inherited)
    # Held back until this process passes them on: a SIGTERM right after the fork must reach the function too.
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, FORWARDED_SIGNALS)
    child = os.fork()
    if child == 0:
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        os.close(alive_write)
        _die_with_relay(alive_read)
        return
    # Hold nothing of the environment's (its channel, its output): only the child's exit matters here.
    for fd in inherited:
        if fd > 2 and fd != alive_write:
            _close_quietly(fd)
    _relay_until_exit(child, mask)


def _spawn_init(init: str, stdin: int, inherited: Sequence[int]) -> int:
    actions: list[tuple[Any, ...]] = [
        (os.POSIX_SPAWN_DUP2, stdin, 0),
        (os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0),
        (os.POSIX_SPAWN_DUP2, 1, 2),
    ]
    actions.extend((os.POSIX_SPAWN_CLOSE, fd) for fd in inherited if fd > 2)
    try:
        return os.posix_spawn(init, [init], {}, file_actions=actions)
    except OSError as exc:
        raise SandboxError(exc.errno, f"start {init} as the PID namespace's init: {exc.strerror}") from exc


def _die_with_relay(alive_read: int) -> None:
    _prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), "PR_SET_PDEATHSIG")
    # Our parent is outside the namespace (getppid() is 0 either way); its end of the pipe closes when it dies, and
    # nobody writes to it, so readable means gone. (Not O_NONBLOCK: init reads the same pipe.)
    gone = bool(select.select([alive_read], [], [], 0)[0])
    os.close(alive_read)
    if gone:
        os._exit(128 + signal.SIGKILL)


def _relay_until_exit(child: int, mask: Iterable[int]) -> NoReturn:
    """Pass signals on, wait for the function's process and exit as it did. Never returns, whatever happens.

    The signals stay blocked and are taken with sigtimedwait, not Python handlers: a handler runs only between
    bytecodes, and a relay forked from a busy process (a test runner's, a zygote's) was once seen to catch a SIGTERM
    and never pass it on. SIGCHLD is blocked too, so the child's exit wakes the wait. (`mask` is the caller's
    mask, which the function's process restored; the relay keeps its own.)"""
    code = 1
    try:
        watched = {*FORWARDED_SIGNALS, signal.SIGCHLD}
        signal.pthread_sigmask(signal.SIG_BLOCK, watched)
        while True:
            done, status = os.waitpid(child, os.WNOHANG)
            if done:
                break
            received = signal.sigtimedwait(watched, 1.0)
            if received is not None and received.si_signo != signal.SIGCHLD:
                _forward(child, received.si_signo)
        code = os.waitstatus_to_exitcode(status)
        if code < 0:
            _die_of(-code)
            code = 128 - code  # a signal whose default is to continue (SIGCONT): the shell's convention
    finally:
        os._exit(code)


def _forward(child: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(child, signum)


def _die_of(signum: int) -> None:
    if signum not in (signal.SIGKILL, signal.SIGSTOP):  # these two have no handler to reset
        signal.signal(signum, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, [signum])
    os.kill(os.getpid(), signum)


def _close_quietly(fd: int) -> None:
    with contextlib.suppress(OSError):  # the descriptor of the listing itself, closed when the listing ended
        os.close(fd)


# -- a SnapStart environment: restored from a snapshot that entered the sandbox already -------------------------
RESTORE_FLAGS = CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS


def enter_restored(plan: Plan) -> None:
    """In an environment forked from a SnapStart snapshot, which entered its sandbox at `plan` and runs as the
    sandbox user: make what must be its own. The snapshot's namespaces are shared by every environment it forks, and
    an unprivileged process may only create namespaces inside a user namespace of its own (mapping its own ids), so:
    a user namespace, and in it mount, PID, IPC and UTS namespaces; a fresh /tmp of `tmp_size_mb` MB holding a copy
    of the snapshot's (AWS restores /tmp from the snapshot) and a fresh /dev/shm; then, as step 4, the namespace's
    init and this environment's process (PID 2), which mounts a /proc of its own and returns. Mounts inherited from
    the snapshot (what hides the data dir) are locked to it: the function cannot unmount them, and it keeps no
    capability in its user namespace. Never returns in the process it was called in (see _relay_until_exit)."""
    uid, gid = os.geteuid(), os.getegid()
    tmp_dir = plan.get("tmp_dir")
    snapshot_tmp = os.open(tmp_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC) if tmp_dir else None
    try:
        _check(_libc.unshare(RESTORE_FLAGS), "unshare")
        _map_identity(uid, gid)
        _mount(None, "/", None, MS_REC | MS_SLAVE, None)
        if tmp_dir and snapshot_tmp is not None:
            _private_tmp(plan, copy_from=f"/proc/self/fd/{snapshot_tmp}")
    finally:
        if snapshot_tmp is not None:
            os.close(snapshot_tmp)
    if plan.get("shm_size_mb") and os.path.isdir("/dev/shm"):
        _tmpfs("/dev/shm", f"mode=1777,size={int(plan['shm_size_mb'])}m", MS_NOEXEC)
    _start_pid_namespace(plan.get("pid_init") or DEFAULT_PID_INIT)
    _mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, None)
    _drop_capabilities()


def _copy_tree(source: str, target: str, skip: Sequence[str] = ()) -> None:
    """Copy `source` into `target`, leaving out the `skip` paths (named as they are under `target`)."""
    if not os.listdir(source):
        return  # the common case: init wrote nothing to /tmp
    import shutil  # only when there is something to copy

    def skipped(directory: str, names: list[str]) -> set[str]:
        inside = os.path.join(target, os.path.relpath(directory, source))
        return {name for name in names if os.path.normpath(os.path.join(inside, name)) in skip}

    try:
        shutil.copytree(source, target, symlinks=True, dirs_exist_ok=True, ignore=skipped)
    except (OSError, shutil.Error) as exc:
        raise SandboxError(0, f"copy the snapshot's {target}: {exc}") from exc


# -- steps 5 and 6: who runs the function, and where ------------------------------------------------------------
def _drop_privileges(plan: Plan) -> None:
    uid, gid = plan.get("uid"), plan.get("gid")
    if uid is None or gid is None:
        return
    parent = os.getppid()
    os.setgroups([])
    os.setresgid(gid, gid, gid)
    os.setresuid(uid, uid, uid)
    # A change of credentials clears the parent-death signal: set it again (and catch a parent that died meanwhile).
    _die_with_parent(parent)
    # A uid change makes the process non-dumpable, which hides its own /proc/self files from it. In a PID namespace
    # no other environment can see it, so restore the ordinary state; without one, stay hidden from siblings.
    if plan.get("pid_namespace"):
        _prctl(PR_SET_DUMPABLE, 1, "PR_SET_DUMPABLE")


def _settle(plan: Plan) -> None:
    os.chdir(plan["task_root_inside"])
    for name, value in plan.get("environment", {}).items():
        os.environ[name] = value
    if "tempfile" in sys.modules and "TMPDIR" in plan.get("environment", {}):
        import tempfile  # already imported: free

        tempfile.tempdir = None  # the zygote may have asked already: ask again, with this TMPDIR


# -- system calls ----------------------------------------------------------------------------------------------------
def _mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None) -> None:
    result = _libc.mount(_bytes(source), target.encode(), _bytes(fstype), flags, _bytes(data))
    _check(result, f"mount {fstype or source or '(remount)'} on {target}")


def _prctl(option: int, value: int, what: str) -> None:
    _check(_libc.prctl(option, value, 0, 0, 0), what)


def _check(result: int, what: str) -> None:
    if result != 0:
        code = ctypes.get_errno()
        raise SandboxError(code, f"{what}: {os.strerror(code)}")


def _bytes(value: str | None) -> bytes | None:
    return None if value is None else value.encode()


# -- the launcher of spawned environments ----------------------------------------------------------------------------
def main(argv: Sequence[str]) -> NoReturn:
    """`python -I -S sandbox_child.py <fd>`: read {"plan", "argv", "env"} (JSON) from descriptor `fd`, enter the plan,
    then exec the program with that environment (and what the plan exports). An environment that is not forked from
    a zygote (an interpreter of its own, a custom runtime) starts this way, so its program never runs unsandboxed."""
    import json

    try:
        with os.fdopen(int(argv[1]), "rb") as source:
            launch = json.loads(source.read())
        os.environ.clear()
        os.environ.update(launch["env"])
        enter(launch["plan"])
        program = launch["argv"]
        os.execv(program[0], program)
    except OSError as exc:
        # Reaches the function's log; the platform sees the exit, as for any runtime that cannot start.
        sys.stderr.write(f"nimbus sandbox: {exc}\n")
        os._exit(126 if isinstance(exc, SandboxError) else 127)


if __name__ == "__main__":
    main(sys.argv)
