"""A zygote: one long-lived process per interpreter that forks new execution environments, SOCK/OpenLambda style.

Runs on the function's interpreter (any python3.9+), stdlib only, like python_bootstrap.py; started by
runtime/zygote.py as `python -u zygote_main.py <control fd> <label>`. It imports python_bootstrap's machinery and
the configured packages once, so a cold start pays a fork instead of an interpreter start and those imports.

Protocol with the server, over a SOCK_SEQPACKET Unix socket (one message = one frame as in runtime/frames.py: u32
header length, u32 body length, JSON header; bodies are empty here):

    server -> zygote   {"t": "config", "bootstrap": path, "preload": [...], "sandbox_child": path | null}
    zygote -> server   {"t": "ready", "pid": n, "preloaded": [...], "skipped": {name: reason}, ...}
    server -> zygote   {"t": "fork", "id": n, "cgroups": [cgroup.procs paths], "sandbox": plan | null}  with two
                       descriptors: the child's control socket and the write end of its output pipe; `sandbox`,
                       when given, is the part of every environment's plan that is known ahead (its PID namespace):
                       the child is forked by sandbox_child.fork, born as PID 2 of a namespace of its own
    zygote -> server   {"t": "forked", "id": n, "pid": n}  or  {"t": "fork_failed", "id": n, "error": text}
    zygote -> server   {"t": "exit", "pid": n, "code": n}   (a child ended: subprocess's returncode convention)

A child is forked *blank*: it joins its cgroups, leaves the zygote's session and descriptors behind, and waits on its
control socket for the function it becomes, in one frame before python_bootstrap's `hello`:

    server -> child    {"t": "become", "env": {...}, "cwd": path, "title": [argv...], "sandbox": plan | null,
                        "snapshot": bool}

With "snapshot" the child becomes a SnapStart snapshot instead of an environment (snapshot_child.py).

Joining a cgroup can cost an RCU grace period (~10 ms on a busy host), and a fork ~2 ms: a blank child pays both
before any invoke needs it.

The zygote stays single-threaded (fork copies only the calling thread) and does nothing but fork and reap. It is the
parent of every environment it forks, so it reaps them (SIGCHLD, waitpid) and reports how each ended; an
environment dies with its zygote (PR_SET_PDEATHSIG), since no one else could report its exit status. The zygote
exits when the server closes the socket.
"""

from __future__ import annotations

import contextlib
import gc
import importlib
import importlib.util
import json
import os
import select
import signal
import socket
import struct
import sys
import time

TYPE_CHECKING = False  # the type checker treats this name as true; typing need not be imported here
if TYPE_CHECKING:
    from collections.abc import Callable
    from types import ModuleType
    from typing import Any

    Document = dict[str, Any]

PRELUDE = struct.Struct(">II")
# Requests from the server are a few hundred bytes.
MAX_MESSAGE = 64 * 1024
PR_SET_PDEATHSIG = 1
SNAPSHOT_CHILD = os.path.join(os.path.dirname(os.path.abspath(__file__)), "snapshot_child.py")


def send(sock: socket.socket, header: Document) -> None:
    head = json.dumps(header, separators=(",", ":")).encode()
    sock.send(PRELUDE.pack(len(head), 0) + head)


def decode(message: bytes) -> Document:
    head_len, _ = PRELUDE.unpack_from(message)
    header: Document = json.loads(message[PRELUDE.size : PRELUDE.size + head_len])
    return header


def load_file(name: str, path: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def preload(names: list[str]) -> tuple[list[str], Document]:
    """Import what environments commonly import; skip (and say why) what this interpreter does not have."""
    loaded: list[str] = []
    skipped: Document = {}
    for name in names:
        try:
            importlib.import_module(name)
        except Exception as exc:  # a broken package must not stop the zygote: environments import it themselves
            skipped[name] = f"{type(exc).__name__}: {exc}"
        else:
            loaded.append(name)
    return loaded, skipped


def parent_death_signal() -> Callable[[], None]:
    """prctl(PR_SET_PDEATHSIG, SIGKILL) through ctypes, or a no-op where that is unavailable."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        prctl = libc.prctl
    except (ImportError, OSError, AttributeError):
        return lambda: None
    return lambda: prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


class Zygote:
    def __init__(self, control: socket.socket) -> None:
        self.control = control
        self.pid = os.getpid()
        self.bootstrap: ModuleType | None = None
        self.sandbox_child: ModuleType | None = None
        self.die_with_parent = parent_death_signal()
        self.wakeup_read, self.wakeup_write = os.pipe()

    # -- start -----------------------------------------------------------------------------------------------------
    def configure(self) -> None:
        config = decode(self.control.recv(MAX_MESSAGE))
        started = time.perf_counter()
        # The script's directory (nimbus's runtime package) must never be importable by functions or preloads.
        here = os.path.dirname(os.path.abspath(__file__))
        sys.path[:] = [entry for entry in sys.path if os.path.abspath(entry or ".") != here]
        self.bootstrap = load_file("python_bootstrap", config["bootstrap"])
        loaded, skipped = preload(list(config.get("preload") or []))
        sandbox_error = self.load_sandbox(config.get("sandbox_child"))
        # Objects alive now are never freed: the collector stops visiting them, so children do not copy the pages
        # their headers live on (https://docs.python.org/3/library/gc.html#gc.freeze).
        gc.collect()
        gc.freeze()
        ready: Document = {
            "t": "ready",
            "pid": self.pid,
            "preloaded": loaded,
            "skipped": skipped,
            "sandbox": self.sandbox_child is not None,
            "sandbox_error": sandbox_error,
            "seconds": time.perf_counter() - started,
        }
        send(self.control, ready)

    def load_sandbox(self, path: str | None) -> str | None:
        if not path or not os.path.exists(path):
            return None
        try:
            self.sandbox_child = load_file("nimbus_sandbox_child", path)
        except Exception as exc:
            return f"{type(exc).__name__}: {exc}"
        return None

    # -- loop ------------------------------------------------------------------------------------------------------
    def serve(self) -> None:
        os.set_blocking(self.wakeup_read, False)
        os.set_blocking(self.wakeup_write, False)
        # A handler must be installed for the wakeup descriptor to hear SIGCHLD; the loop does the reaping.
        signal.signal(signal.SIGCHLD, lambda signum, frame: None)
        signal.set_wakeup_fd(self.wakeup_write)
        poller = select.poll()
        poller.register(self.control.fileno(), select.POLLIN)
        poller.register(self.wakeup_read, select.POLLIN)
        while True:
            for fd, _ in poller.poll():
                if fd == self.wakeup_read:
                    self.drain_wakeups()
                    try:
                        self.reap()
                    except OSError:  # the server went away while children were ending: end too
                        return
                elif not self.handle_request():
                    return

    def handle_request(self) -> bool:
        try:
            message, fds, flags, _ = socket.recv_fds(self.control, MAX_MESSAGE, 2)
        except ConnectionError:
            return False
        if not message:
            return False  # the server is gone; our children die with us
        request = decode(message)
        if flags & socket.MSG_TRUNC or len(fds) != 2 or request.get("t") != "fork":
            for fd in fds:
                os.close(fd)
            send(self.control, {"t": "fork_failed", "id": request.get("id"), "error": "malformed fork request"})
            return True
        self.fork(request, fds[0], fds[1])
        return True

    def fork(self, request: Document, control_fd: int, output_fd: int) -> None:
        plan = request.get("sandbox")
        try:
            # The namespace's init, when one is made, is a child of ours too: reaped, and reported, like the others.
            pid = self.sandbox_child.fork(plan)[0] if plan and self.sandbox_child is not None else os.fork()
        except OSError as exc:
            os.close(control_fd)
            os.close(output_fd)
            send(self.control, {"t": "fork_failed", "id": request["id"], "error": str(exc)})
            return
        if pid == 0:
            # Never returns: the environment ends with SystemExit, which unwinds through here to the interpreter's
            # own exit (atexit handlers and stdio flushing run, as in an interpreter started for the function).
            Child(self, request, control_fd, output_fd).run()
        os.close(control_fd)
        os.close(output_fd)
        send(self.control, {"t": "forked", "id": request["id"], "pid": pid})

    def drain_wakeups(self) -> None:
        try:
            while os.read(self.wakeup_read, 4096):
                pass
        except BlockingIOError:
            pass

    def reap(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            send(self.control, {"t": "exit", "pid": pid, "code": os.waitstatus_to_exitcode(status)})

    def forget(self) -> None:
        """In a child: drop everything of the zygote's (signal wiring, its socket, the wakeup pipe)."""
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        os.close(self.wakeup_read)
        os.close(self.wakeup_write)
        self.control.close()


class Child:
    """The forked child: blank until told which function it becomes, then python_bootstrap's serve loop."""

    def __init__(self, zygote: Zygote, request: Document, control_fd: int, output_fd: int) -> None:
        self.zygote = zygote
        self.request = request
        self.control_fd = control_fd
        self.output_fd = output_fd

    def run(self) -> None:
        self.zygote.die_with_parent()
        # The zygote died before prctl took effect (a parent in another PID namespace shows as 0; an orphan born in
        # a PID namespace of its own is adopted by its init, pid 1).
        if os.getppid() not in (self.zygote.pid, 0):
            os._exit(1)
        # First, so MemorySize limits and Max Memory Used measures everything the environment does.
        for procs in self.request.get("cgroups") or []:
            with open(procs, "w") as procs_file:
                procs_file.write(str(os.getpid()))
        self.zygote.forget()
        os.setsid()
        os.dup2(self.output_fd, 1)
        os.dup2(self.output_fd, 2)
        kept = self.zygote.sandbox_child.kept_descriptors() if self.zygote.sandbox_child is not None else []
        close_descriptors_except((0, 1, 2, self.control_fd, *kept))
        os.set_inheritable(self.control_fd, False)  # the function's own subprocesses must not inherit it
        set_title([sys.executable, "-u", os.path.abspath(__file__), "blank"])
        sock = socket.socket(fileno=self.control_fd)
        bootstrap = self.zygote.bootstrap
        assert bootstrap is not None
        try:
            become, _ = bootstrap.recv(sock)
        except EOFError:
            raise SystemExit(0) from None  # never used (its zygote or the server is shutting down)
        # Loaded before the sandbox is entered: nimbus's directory may not be visible from inside it.
        snapshot_child = load_file("nimbus_snapshot_child", SNAPSHOT_CHILD) if become.get("snapshot") else None
        self.become(become)
        if snapshot_child is not None:
            raise SystemExit(self.snapshot(sock, kept, snapshot_child))
        raise SystemExit(self.serve(sock))

    def become(self, become: Document) -> None:
        cwd: str = become["cwd"]
        env: Document = become["env"]
        plan = become.get("sandbox")
        # Before the sandbox: a process that drops to the sandbox user outside a PID namespace (a SnapStart
        # snapshot) stays non-dumpable, and may no longer write its own /proc/self/mem.
        set_title([*become.get("title", []), str(self.control_fd)])
        if plan is not None:
            if self.zygote.sandbox_child is None:
                raise RuntimeError("nimbus: a sandbox was requested, but the zygote has no sandbox_child")
            self.zygote.sandbox_child.enter(plan)
            cwd = plan.get("task_root_inside", cwd)
            env = {**env, **(plan.get("environment") or {})}  # what the sandbox exports (TMPDIR, say)
        os.environ.clear()
        os.environ.update(env)
        time.tzset()  # TZ is read once by the C library; the zygote started with another value
        os.chdir(cwd)
        # What an interpreter started for the function would have put first on sys.path: its directory
        # (python_bootstrap.init() replaces it with the task root), then PYTHONPATH.
        extra = [entry for entry in env.get("PYTHONPATH", "").split(os.pathsep) if entry]
        sys.path[0:0] = [cwd, *extra]
        reseed()

    def serve(self, sock: socket.socket) -> int:
        bootstrap = self.zygote.bootstrap
        assert bootstrap is not None
        bootstrap.__dict__["TASK_ROOT"] = os.environ.get("LAMBDA_TASK_ROOT", os.getcwd())
        sys.argv = ["/var/runtime/bootstrap.py"]
        sys.modules["__main__"] = bootstrap
        try:
            bootstrap.serve(sock)
        except EOFError:
            return 0
        return 0

    def snapshot(self, sock: socket.socket, kept: list[int], snapshot_child: ModuleType) -> int:
        """Become a SnapStart snapshot (snapshot_child.py): init once, then fork restored environments."""
        bootstrap = self.zygote.bootstrap
        assert bootstrap is not None
        bootstrap.__dict__["TASK_ROOT"] = os.environ.get("LAMBDA_TASK_ROOT", os.getcwd())
        sys.argv = ["/var/runtime/bootstrap.py"]
        sys.modules["__main__"] = bootstrap
        try:
            code: int = snapshot_child.serve(
                sock, bootstrap, self.zygote.die_with_parent, kept, self.zygote.sandbox_child
            )
        except EOFError:
            return 0
        return code


def close_descriptors_except(keep: tuple[int, ...]) -> None:
    """Close every inherited descriptor but these (listing /proc is ~1000x cheaper than closing up to the limit)."""
    try:
        open_fds = [int(name) for name in os.listdir("/proc/self/fd")]
    except OSError:
        open_fds = list(range(3, 1024))
    for fd in open_fds:
        if fd not in keep:
            with contextlib.suppress(OSError):
                os.close(fd)


def reseed() -> None:
    """Nothing random may repeat across environments forked from one image.

    `random` reseeds itself from the kernel in every child of os.fork (os.register_at_fork), and os.urandom, secrets,
    uuid4 and OpenSSL draw from the kernel. tempfile's name sequence reseeds when it sees a new pid, but in PID
    namespaces environments may share pids, so it is dropped here; numpy's global generator, when preloaded, does
    not reseed itself. str hashes keep the zygote's seed: it is fixed when an interpreter starts.
    """
    tempfile = sys.modules.get("tempfile")
    if tempfile is not None:
        tempfile.__dict__["_name_sequence"] = None
    numpy_random = sys.modules.get("numpy.random")
    if numpy_random is not None:
        numpy_random.seed()


def set_title(argv: list[str]) -> None:
    """Show this process as what it is (`python -u python_bootstrap.py <fd>`) in ps and /proc/<pid>/cmdline.

    The kernel reads the command line from the argument block of the process's memory, which the zygote's argv
    fills; it is rewritten in place through /proc/self/mem, within its length (the rest is NUL-padded).
    """
    if not argv:
        return
    try:
        with open("/proc/self/stat", "rb") as stat_file:
            stat = stat_file.read()
        fields = stat[stat.rindex(b")") + 2 :].split()
        start, end = int(fields[45]), int(fields[46])  # arg_start, arg_end: fields 48 and 49 of proc(5)
        title = b"\0".join(part.encode() for part in argv)[: end - start - 1]
        with open("/proc/self/mem", "r+b", buffering=0) as memory:
            memory.seek(start)
            memory.write(title + b"\0" * (end - start - len(title)))
    except (OSError, ValueError, IndexError):
        pass


def main() -> None:
    control = socket.socket(fileno=int(sys.argv[1]))
    zygote = Zygote(control)  # argv[2], its label, is for ps (and room for the children's titles)
    zygote.configure()
    zygote.serve()


if __name__ == "__main__":
    main()
