"""A SnapStart snapshot: a process that ran a published version's init once and forks restored environments from it.

Runs on the function's interpreter, stdlib only (zygote_main.py loads it in a blank child that was told to become a
snapshot). nimbus's snapshot is the initialised process itself, kept stopped at its serve loop: a restore is a fork,
so every restored environment starts with init's memory (copy-on-write), as one restored from AWS's Firecracker
snapshot does.

Protocol on the snapshot's control socket (frames as in runtime/frames.py), after zygote_main's `become`:

    server -> snapshot  {"t": "hello", ...}                      as python_bootstrap's
    snapshot -> server  {"t": "snapshotted", "peak_kb": n}       init and the before-snapshot hooks ran
                     or {"t": "init_error", ...} + error document, and the snapshot exits
    server -> snapshot  {"t": "fork", "id": n, "isolate": plan | null}  with two descriptors: the restored
                        environment's control socket and the write end of its output pipe (one sendmsg; the
                        descriptors ride on its first byte); `isolate`, when given, is the sandbox plan the
                        environment enters namespaces of its own with (sandbox_child.enter_restored)
    snapshot -> server  {"t": "forked", "id": n, "pid": n}  or  {"t": "fork_failed", "id": n, "error": text}
    snapshot -> server  {"t": "exit", "pid": n, "code": n}      a restored environment ended

A restored environment waits on its own control socket for `restore` (the server has moved it into cgroups of its
own meanwhile), enters its namespaces (so that everything it forks, its PID namespace's init first, is in its
cgroups), runs the after-restore hooks and says

    {"t": "restored", "peak_kb": n, "hooks_ms": x}   then serves invokes as python_bootstrap does, or
    {"t": "restore_error", "hooks_ms": x} + error document, and exits.

Before the hooks it makes sure nothing of init's is shared by two environments: every inherited socket (a database
or HTTP connection opened during init) is replaced by an unconnected one of the same kind (dup2), so using it fails
as a connection broken by a restore does on AWS and an after-restore hook can reconnect; `random` is reseeded by
os.fork itself, and what caches randomness beyond it is reset here.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import socket
import stat
import sys
import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from types import ModuleType
    from typing import Any

    Document = dict[str, Any]


def serve(
    sock: socket.socket,
    bootstrap: ModuleType,
    die_with_parent: Callable[[], None],
    kept: list[int],
    sandbox: ModuleType | None = None,
) -> int:
    """The snapshot's life: init, before-snapshot hooks, then forking restored environments until the server goes.
    `sandbox` is sandbox_child (loaded by the zygote), which restored environments enter their namespaces with."""
    hello, _ = bootstrap.recv(sock)
    peak = bootstrap.PeakMemory()
    handler = bootstrap.initialise(sock, peak)  # exits after reporting a failed init
    # AWS runs before-snapshot hooks in the reverse order of their registration (snapshot-restore-py's runner).
    error = bootstrap.run_hooks(list(reversed(bootstrap.before_snapshot_hooks)))
    bootstrap.flush_output()
    if error is not None:
        bootstrap.send(sock, {"t": "init_error", "peak_kb": peak.kb()}, bootstrap.json.dumps(error).encode())
        return 1
    bootstrap.send(sock, {"t": "snapshotted", "peak_kb": peak.kb()})
    return Snapshot(sock, bootstrap, handler, hello, die_with_parent, kept, sandbox).run()


class Snapshot:
    def __init__(
        self,
        sock: socket.socket,
        bootstrap: ModuleType,
        handler: Callable[..., Any],
        hello: Document,
        die_with_parent: Callable[[], None],
        kept: list[int],
        sandbox: ModuleType | None = None,
    ) -> None:
        self.sock = sock
        self.sandbox = sandbox
        self.bootstrap = bootstrap
        self.handler = handler
        self.hello = hello
        self.die_with_parent = die_with_parent
        self.kept = kept
        self.pid = os.getpid()
        self.wakeup_read, self.wakeup_write = os.pipe()

    def run(self) -> int:
        os.set_blocking(self.wakeup_read, False)
        os.set_blocking(self.wakeup_write, False)
        signal.signal(signal.SIGCHLD, lambda signum, frame: None)
        signal.set_wakeup_fd(self.wakeup_write)
        poller = select.poll()
        poller.register(self.sock.fileno(), select.POLLIN)
        poller.register(self.wakeup_read, select.POLLIN)
        while True:
            for fd, _ in poller.poll():
                if fd == self.wakeup_read:
                    with contextlib.suppress(BlockingIOError):
                        while os.read(self.wakeup_read, 4096):
                            pass
                    self.reap()
                elif not self.handle_request():
                    return 0  # the server is gone: restored environments die with us

    def handle_request(self) -> bool:
        prelude_size = self.bootstrap.PRELUDE.size
        try:
            prelude, fds, _, _ = socket.recv_fds(self.sock, prelude_size, 2)
        except ConnectionError:
            return False
        if len(prelude) < prelude_size:
            if prelude:
                prelude += self.bootstrap.recv_exact(self.sock, prelude_size - len(prelude))
            else:
                return False
        head_len, body_len = self.bootstrap.PRELUDE.unpack(prelude)
        request = self.bootstrap.json.loads(self.bootstrap.recv_exact(self.sock, head_len))
        if body_len:
            self.bootstrap.recv_exact(self.sock, body_len)
        if request.get("t") != "fork" or len(fds) != 2:
            for fd in fds:
                os.close(fd)
            self.reply({"t": "fork_failed", "id": request.get("id"), "error": "malformed fork request"})
            return True
        try:
            pid = os.fork()
        except OSError as exc:
            for fd in fds:
                os.close(fd)
            self.reply({"t": "fork_failed", "id": request["id"], "error": str(exc)})
            return True
        if pid == 0:
            self.restore(fds[0], fds[1], request.get("isolate"))  # never returns
        for fd in fds:
            os.close(fd)
        self.reply({"t": "forked", "id": request["id"], "pid": pid})
        return True

    def reply(self, header: Document) -> None:
        self.bootstrap.send(self.sock, header)

    def reap(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            with contextlib.suppress(OSError):
                self.reply({"t": "exit", "pid": pid, "code": os.waitstatus_to_exitcode(status)})

    # -- in a restored environment -------------------------------------------------------------------------------
    def restore(self, control_fd: int, output_fd: int, isolate: Document | None) -> None:
        code = 0
        try:
            self.die_with_parent()
            if os.getppid() != self.pid:
                os._exit(1)
            signal.set_wakeup_fd(-1)
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            os.close(self.wakeup_read)
            os.close(self.wakeup_write)
            self.sock.close()
            os.dup2(output_fd, 1)
            os.dup2(output_fd, 2)
            os.close(output_fd)
            replace_inherited_sockets(keep={0, 1, 2, control_fd, *self.kept})
            os.set_inheritable(control_fd, False)
            reseed()
            code = self.serve_restored(socket.socket(fileno=control_fd), isolate)
        except SystemExit as exit_:
            code = exit_.code if isinstance(exit_.code, int) else 1
        except BaseException:
            import traceback

            traceback.print_exc()  # nimbus's own fault: into the environment's log
            code = 1
        finally:
            self.bootstrap.flush_output()
            os._exit(code)  # never back into the snapshot's loop (nor its atexit handlers)

    def serve_restored(self, sock: socket.socket, isolate: Document | None) -> int:
        bootstrap = self.bootstrap
        bootstrap.recv(sock)  # `restore`: the server has moved this process into its own cgroups
        started = time.perf_counter()
        if isolate is not None and self.sandbox is not None:
            # Returns in the environment's PID namespace; this process stays outside, relaying its exit.
            self.sandbox.enter_restored(isolate)
        peak = bootstrap.PeakMemory()  # this process's own /proc/self, not the snapshot's (nor the relay's)
        error = bootstrap.run_hooks(list(bootstrap.after_restore_hooks))
        hooks_ms = (time.perf_counter() - started) * 1000
        bootstrap.flush_output()
        if error is not None:
            bootstrap.send(sock, {"t": "restore_error", "hooks_ms": hooks_ms}, bootstrap.json.dumps(error).encode())
            return 1
        bootstrap.send(sock, {"t": "restored", "peak_kb": peak.kb(), "hooks_ms": hooks_ms})
        try:
            bootstrap.serve_invokes(sock, self.handler, self.hello, peak)
        except EOFError:
            return 0
        return 0


def replace_inherited_sockets(keep: set[int]) -> None:
    """Every socket init left open becomes an unconnected socket of its kind, in this environment only: one TCP
    connection used by two environments would interleave their bytes. The snapshot keeps the original."""
    try:
        fds = [int(name) for name in os.listdir("/proc/self/fd")]
    except OSError:
        return
    for fd in fds:
        if fd in keep:
            continue
        try:
            if not stat.S_ISSOCK(os.fstat(fd).st_mode):
                continue
            inherited = socket.socket(fileno=os.dup(fd))
        except OSError:
            continue
        try:
            fresh = socket.socket(inherited.family, inherited.type, inherited.proto)
        except OSError:
            fresh = None
        try:
            if fresh is not None:
                os.dup2(fresh.fileno(), fd, inheritable=os.get_inheritable(fd))
            else:
                os.close(fd)
        finally:
            inherited.close()
            if fresh is not None:
                fresh.close()


def reseed() -> None:
    """What caches randomness beyond os.fork's own reseeding of `random` (see zygote_main.reseed)."""
    tempfile = sys.modules.get("tempfile")
    if tempfile is not None:
        tempfile.__dict__["_name_sequence"] = None
    numpy_random = sys.modules.get("numpy.random")
    if numpy_random is not None:
        numpy_random.seed()
