"""SnapStart snapshots, server side: one initialised process per published version that opted in, forking restored
environments (runtime/snapshot_child.py is the other end).

A snapshot is a blank child of the interpreter's zygote that became the function with `snapshot` set: it ran init and
the before-snapshot hooks once, and then forks on request. It is forked without a PID namespace of its own, so the
pids of the environments it forks are the server's; it enters the function's sandbox (mounts, the sandbox user) at
become. What must be each environment's own is made in two steps after the fork: the server (root) moves it into
its own memory, pids and cpu cgroups (python_env, before it may run the after-restore hooks), and then the
environment enters namespaces of its own (sandbox_child.enter_restored: its own /tmp with a copy of the snapshot's,
/dev/shm, and a PID namespace showing only its own processes). That second step needs unprivileged user namespaces,
probed once (Isolation.restored_isolation); where the host has none, environments share the snapshot's mount
namespace and see the host's processes, and the server says so in its log.

Snapshots are made when a version is published (control.versions through invocation.snapstart) and closed with
their version, their function or the server (`close_version`, `close_function`, `close`); after a restart, a
version's snapshot is made again by FunctionService.recover for a version left Pending, else by its first invoke.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

from nimbus.runtime import frames
from nimbus.runtime.catalogue import interpreter_for
from nimbus.runtime.environment import error_type_of
from nimbus.runtime.isolation import Level
from nimbus.runtime.process import OutputCapture
from nimbus.runtime.results import InitOutcome
from nimbus.runtime.sandboxes import Sandbox, Sandboxes, opt_mounted
from nimbus.runtime.spec import MAX_RESPONSE_BYTES, EnvironmentSpec, process_environment
from nimbus.runtime.zygote import BOOTSTRAP, Become, Blank, Zygotes

log = logging.getLogger(__name__)

FORK_TIMEOUT = 10.0
_RECEIVE_SIZE = 64 * 1024
# AWS: "AWS_LAMBDA_LOG_GROUP_NAME ... Not available in SnapStart functions" (the stream too: it is per environment).
_NOT_IN_SNAPSHOTS = ("AWS_LAMBDA_LOG_GROUP_NAME", "AWS_LAMBDA_LOG_STREAM_NAME")


class SnapshotError(Exception):
    """The snapshot is gone or could not fork."""


@dataclass(frozen=True)
class Restored:
    """A process forked from a snapshot, waiting for its `restore` frame; the server holds these ends."""

    pid: int
    exited: asyncio.Future[int]
    channel: socket.socket
    output_fd: int


class Snapshot:
    """One snapshot process and the socket to it. All methods run on the event loop."""

    def __init__(
        self, spec: EnvironmentSpec, blank: Blank, sandbox: Sandbox | None, isolate: dict[str, Any] | None = None
    ) -> None:
        self.spec = spec
        self.sandbox = sandbox
        self._isolate = isolate  # what each restored environment makes its own (sandbox_child.enter_restored)
        self._blank = blank
        self._socket = blank.channel
        self._output = OutputCapture(blank.output_fd)
        blank.output_fd = -1  # owned by the capture now
        self._buffer = bytearray()
        self._replies: asyncio.Queue[tuple[dict[str, Any], bytes]] = asyncio.Queue()
        self._pending: dict[int, asyncio.Future[tuple[int, asyncio.Future[int]]]] = {}
        self._children: dict[int, asyncio.Future[int]] = {}
        self._ids = itertools.count(1)
        self._alive = True
        self.init: InitOutcome | None = None
        self._socket.setblocking(False)
        asyncio.get_running_loop().add_reader(self._socket.fileno(), self._on_readable)
        blank.exited.add_done_callback(lambda _: self._lost("exited"))

    @property
    def alive(self) -> bool:
        return self._alive

    async def create(self, become: Become) -> InitOutcome:
        """Init and the before-snapshot hooks, once: ok, or the error the version's state reports."""
        started = time.perf_counter()
        hello = {"t": "hello", "max_response": MAX_RESPONSE_BYTES, "track_memory": False}
        loop = asyncio.get_running_loop()
        await loop.sock_sendall(self._socket, become.frame() + frames.encode(hello))
        try:
            header, body = await asyncio.wait_for(self._replies.get(), self.spec.init_timeout)
        except TimeoutError:
            header, body = {"t": "timeout"}, b""
        elapsed = (time.perf_counter() - started) * 1000
        output = self._output.take()
        if header.get("t") == "snapshotted":
            self.init = InitOutcome(duration_ms=elapsed, output=output)
        elif header.get("t") == "init_error":
            self.init = InitOutcome(elapsed, body, error_type_of(body), output)
        else:
            kind, message = (
                ("Sandbox.Timedout", f"Init timed out after {self.spec.init_timeout:.2f} seconds")
                if header.get("t") == "timeout"
                else ("Runtime.ExitError", "Error: Runtime exited without providing a reason")
            )
            document = orjson.dumps({"errorMessage": message, "errorType": kind})
            self.init = InitOutcome(elapsed, document, kind, output)
        if not self.init.ok:
            await self.close()
        return self.init

    async def fork(self) -> Restored:
        if not self._alive:
            raise SnapshotError("the snapshot is gone")
        request_id = next(self._ids)
        reply: asyncio.Future[tuple[int, asyncio.Future[int]]] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = reply
        channel, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        read_end, write_end = os.pipe()
        try:
            request = frames.encode({"t": "fork", "id": request_id, "isolate": self._isolate})
            socket.send_fds(self._socket, [request], [child.fileno(), write_end])
            pid, exited = await asyncio.wait_for(asyncio.shield(reply), FORK_TIMEOUT)
        except (OSError, TimeoutError) as exc:
            channel.close()
            os.close(read_end)
            raise SnapshotError(f"the snapshot could not fork: {exc!r}") from exc
        except BaseException:
            channel.close()
            os.close(read_end)
            raise
        finally:
            self._pending.pop(request_id, None)
            child.close()
            os.close(write_end)
        return Restored(pid, exited, channel, read_end)

    async def close(self) -> None:
        self._lost("closed")  # before discard closes the socket: the loop's reader is removed by the socket's fd
        self._blank.discard()  # kills the snapshot; the environments it forked die with it
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(self._blank.exited), 5.0)
        self._output.close()
        if self.sandbox is not None:
            self.sandbox.release()
        self._blank.remove_cgroup()

    # -- the socket ------------------------------------------------------------------------------------------------
    def _on_readable(self) -> None:
        ended = False
        while self._alive:
            try:
                data = self._socket.recv(_RECEIVE_SIZE)
            except BlockingIOError:
                break
            except OSError:
                data = b""
            if not data:
                ended = True
                break
            self._buffer += data
        self._parse()
        if ended:
            self._lost("exited")  # after what it said last (its init error) is dispatched

    def _parse(self) -> None:
        while len(self._buffer) >= frames.PRELUDE.size:
            head_len, body_len = frames.PRELUDE.unpack_from(self._buffer)
            end = frames.PRELUDE.size + head_len + body_len
            if len(self._buffer) < end:
                return
            header = orjson.loads(bytes(self._buffer[frames.PRELUDE.size : frames.PRELUDE.size + head_len]))
            body = bytes(self._buffer[frames.PRELUDE.size + head_len : end])
            del self._buffer[:end]
            self._dispatch(header, body)

    def _dispatch(self, header: dict[str, Any], body: bytes) -> None:
        kind = header.get("t")
        if kind == "exit":
            gone = self._children.pop(int(header["pid"]), None)
            if gone is not None and not gone.done():
                gone.set_result(int(header["code"]))
        elif kind in ("forked", "fork_failed"):
            reply = self._pending.get(int(header.get("id") or 0))
            if kind == "forked":
                pid = int(header["pid"])
                exited: asyncio.Future[int] = asyncio.get_running_loop().create_future()
                self._children[pid] = exited
                if reply is not None and not reply.done():
                    reply.set_result((pid, exited))
                else:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, 9)
            elif reply is not None and not reply.done():
                reply.set_exception(SnapshotError(str(header.get("error"))))
        else:
            self._replies.put_nowait((header, body))

    def _lost(self, why: str) -> None:
        if not self._alive:
            return
        self._alive = False
        with contextlib.suppress(Exception):
            asyncio.get_running_loop().remove_reader(self._socket.fileno())
        self._socket.close()
        self._replies.put_nowait(({"t": "lost", "why": why}, b""))
        for reply in self._pending.values():
            if not reply.done():
                reply.set_exception(SnapshotError(f"the snapshot {why}"))
        for exited in self._children.values():
            if not exited.done():
                exited.set_result(-9)  # environments die with their snapshot (PR_SET_PDEATHSIG)
        self._children.clear()


class Snapshots:
    """The snapshot of each SnapStart version (by spec fingerprint): made once, shared by its cold starts."""

    def __init__(self, zygotes: Zygotes | None, sandboxes: Sandboxes | None) -> None:
        self._zygotes = zygotes
        self._sandboxes = sandboxes
        self._snapshots: dict[str, Snapshot] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._shared_warned = False

    @property
    def sandboxes(self) -> Sandboxes | None:
        return self._sandboxes

    async def get(self, spec: EnvironmentSpec) -> Snapshot:
        """The version's snapshot, made now if it has none (or it died); check `init` for how its init went."""
        snapshot = self._snapshots.get(spec.fingerprint)
        if snapshot is not None and (snapshot.alive or (snapshot.init is not None and not snapshot.init.ok)):
            return snapshot
        async with self._locks.setdefault(spec.fingerprint, asyncio.Lock()):
            snapshot = self._snapshots.get(spec.fingerprint)
            if snapshot is None or not (snapshot.alive or (snapshot.init is not None and not snapshot.init.ok)):
                if snapshot is not None:
                    await snapshot.close()
                snapshot = await self._create(spec)
                self._snapshots[spec.fingerprint] = snapshot
            return snapshot

    async def discard(self, spec: EnvironmentSpec) -> None:
        """Forget a failed snapshot, so the next get() makes a new one."""
        snapshot = self._snapshots.pop(spec.fingerprint, None)
        if snapshot is not None:
            await snapshot.close()

    async def close_version(self, function_name: str, version: str) -> None:
        """The version was deleted: end its snapshot process (restored environments still running die with it)."""
        await self._close_where(lambda spec: spec.function_name == function_name and spec.version == version)

    async def close_function(self, function_name: str) -> None:
        """The function was deleted: end the snapshots of all its versions."""
        await self._close_where(lambda spec: spec.function_name == function_name)

    async def close(self) -> None:
        await self._close_where(lambda spec: True)

    async def _close_where(self, matches: Callable[[EnvironmentSpec], bool]) -> None:
        gone = [key for key, snapshot in self._snapshots.items() if matches(snapshot.spec)]
        snapshots = [self._snapshots.pop(key) for key in gone]
        await asyncio.gather(*(snapshot.close() for snapshot in snapshots), return_exceptions=True)

    async def _create(self, spec: EnvironmentSpec) -> Snapshot:
        if self._zygotes is None:
            raise SnapshotError("SnapStart needs a zygote")
        interpreter = interpreter_for(spec.runtime)
        zygote = await self._zygotes.get(interpreter)
        blank = await zygote.fork_plain()
        if blank.cgroup is not None:
            with contextlib.suppress(OSError):
                blank.cgroup.set_limit(spec.memory_size * 1024 * 1024)  # init must fit in MemorySize, as on AWS
        sandbox = None
        if self._sandboxes is not None:
            name = f"snapshot-{uuid.uuid4().hex}"
            sandbox = self._sandboxes.for_blank(spec, name, blank.limits, interpreter.executable)
            sandbox.plan["pid_namespace"] = False  # see the module docstring
        isolate = await self._restore_isolation(sandbox)
        seen = sandbox.visible_spec(spec) if sandbox is not None else spec
        env = process_environment(seen, "", inside_sandbox=opt_mounted(sandbox))
        become = Become(
            env={name: value for name, value in env.items() if name not in _NOT_IN_SNAPSHOTS},
            cwd=seen.task_root,
            title=[interpreter.executable, "-u", str(BOOTSTRAP), "snapshot"],
            sandbox=sandbox.plan if sandbox is not None else None,
            snapshot=True,
        )
        snapshot = Snapshot(spec, blank, sandbox, isolate)
        await snapshot.create(become)
        return snapshot

    async def _restore_isolation(self, sandbox: Sandbox | None) -> dict[str, Any] | None:
        """The plan each restored environment enters (the snapshot's own), or None where the host cannot."""
        if sandbox is None or self._sandboxes is None:
            return None
        why_not = await asyncio.to_thread(self._sandboxes.isolation.restored_isolation)
        if not why_not:
            return sandbox.plan
        if not self._shared_warned and self._sandboxes.level is Level.NAMESPACES:
            self._shared_warned = True
            log.warning(
                "SnapStart: restored environments share their snapshot's /tmp and see the host's processes "
                "(no user namespaces here: %s)", why_not,
            )  # fmt: skip
        return None
