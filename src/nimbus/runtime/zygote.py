"""Zygotes: per interpreter, a warm process that forks new execution environments (server side).

A cold start of a python3.X function would otherwise start an interpreter and import the bootstrap (~20 ms here) and
whatever the handler imports (boto3: ~180 ms). The zygote (zygote_main.py, on that interpreter) has done both once,
so a new environment costs a fork. One zygote per interpreter, started on first use (the server's own interpreter at
server start) and restarted by the next cold start after it dies.

The fork itself is taken off the cold-start path as well: each zygote keeps a few *blank* children, forked ahead and
already in a memory cgroup of their own (joining one can cost an RCU grace period, ~10 ms on a busy host). A cold
start takes a blank (`Zygote.take`), lowers its cgroup's limit to the function's MemorySize and sends it the
function to become (`Become`); a new blank is forked behind it.

Contract: a Blank's `exited` future resolves with its exit status (subprocess's returncode convention) as the zygote
reports it, since the zygote is its parent. If the zygote dies its children die with it (PR_SET_PDEATHSIG): their
futures resolve as killed and pending takes raise ZygoteError. Nothing here retries: python_env falls back to
starting an interpreter.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import signal
import socket
import time
import uuid
from collections import deque
from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import orjson

from nimbus.runtime import frames
from nimbus.runtime.catalogue import Interpreter
from nimbus.runtime.cgroups import MemoryCgroup, MemoryController

log = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
ZYGOTE_MAIN = HERE / "zygote_main.py"
BOOTSTRAP = HERE / "python_bootstrap.py"
SANDBOX_CHILD = HERE / "sandbox_child.py"
# Preloading boto3 takes ~0.3 s on an idle machine; allow for a loaded one and a slow disk.
START_TIMEOUT = 60.0
STOP_TIMEOUT = 5.0
# A fork answers in milliseconds; a zygote silent this long is stuck (stopped, swapped out) and is replaced.
FORK_TIMEOUT = 10.0
# A cold start takes ~5 ms here: a blank taken is replaced after it, not during it.
REFILL_DELAY = 0.02
# A zygote keeps as many blanks as were taken in the last DEMAND_WINDOW seconds, from `blanks` up to BLANKS_GROWTH
# times that. A blank costs ~2 MB of its own memory (the rest is shared with the zygote). Measured on 2 cores, the
# bench's cold phases (15 first invokes one after another, then 16 at 8 concurrent): the burst ran at 174 cold
# starts/s with 4 blanks kept and 256/s with 16 (medians of 8 runs), since every fork had been done ahead.
DEMAND_WINDOW = 2.0
BLANKS_GROWTH = 4
# After a zygote failed to start, cold starts of its interpreter start interpreters for this long before retrying.
RETRY_AFTER = 30.0
# A blank's cgroup starts at AWS's largest MemorySize and is lowered when the blank becomes a function: lowering
# the memory limit, then the memory+swap limit, is the order cgroup v1 accepts (memsw may never be below memory).
BLANK_LIMIT_MB = 10240
_RECEIVE_SIZE = 64 * 1024
# What an interpreter reads once at start must match what a function's own interpreter would have read: these are
# the unreserved defaults every function gets (spec.process_environment). Functions that set such variables
# themselves are not forked (python_env.forkable).
ZYGOTE_ENVIRONMENT = {"LANG": "en_US.UTF-8", "TZ": ":UTC", "PATH": "/var/lang/bin:/usr/local/bin:/usr/bin/:/bin"}


class LimitCgroup(Protocol):
    """A cgroup a blank joins besides its memory cgroup (runtime.cgroups.Cgroup: pids, cpu)."""

    @property
    def procs(self) -> Path: ...

    def remove(self) -> None: ...


# Makes the other cgroups for a blank of this name (runtime.isolation.Isolation.limits).
LimitsFactory = Callable[[str], Sequence[LimitCgroup]]


class ZygoteError(Exception):
    """The zygote could not start, or could not fork (it died, or refused the request)."""


@dataclass(frozen=True)
class Become:
    """The function a blank child becomes; sent on its control socket before python_bootstrap's hello."""

    env: Mapping[str, str]
    cwd: Path
    title: Sequence[str]  # what ps shows for it (the child appends its control descriptor's number)
    sandbox: Mapping[str, Any] | None = None  # a plan for sandbox_child.enter, or None
    snapshot: bool = False  # become a SnapStart snapshot (snapshot_child.py) rather than an environment

    def frame(self) -> bytes:
        sandbox = dict(self.sandbox) if self.sandbox is not None else None
        header = {"t": "become", "env": dict(self.env), "cwd": str(self.cwd), "title": list(self.title)}
        return frames.encode({**header, "sandbox": sandbox, "snapshot": self.snapshot})


@dataclass(eq=False)
class Blank:
    """A forked child waiting to become an environment; the server holds the other end of all it was given."""

    pid: int
    exited: asyncio.Future[int]
    channel: socket.socket  # its control socket's other end
    output_fd: int  # the read end of its stdout and stderr
    cgroup: MemoryCgroup | None  # joined already
    limits: Sequence[LimitCgroup] = ()  # other cgroups joined already (pids, cpu): limits set on adoption

    def discard(self) -> None:
        """Kill it and close the server's ends; its cgroup goes once it has exited (remove_cgroup)."""
        if self.pid > 0 and not self.exited.done():
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)
        self.channel.close()
        if self.output_fd >= 0:
            os.close(self.output_fd)
            self.output_fd = -1

    def remove_cgroup(self) -> None:
        # Each fails quietly while a process is still in it: the controllers' remove_tree sweeps it at shutdown.
        for group in [self.cgroup, *self.limits]:
            if group is not None:
                group.remove()


@dataclass(frozen=True)
class _Forked:
    pid: int
    exited: asyncio.Future[int]


class Zygote:
    """One zygote process, the socket to it and its blank children. All methods run on the event loop."""

    def __init__(
        self,
        interpreter: Interpreter,
        preload: Sequence[str],
        memory: MemoryController | None,
        blanks: int,
        limits: LimitsFactory | None = None,
        blank_plan: Mapping[str, Any] | None = None,
    ) -> None:
        self.interpreter = interpreter
        self._preload = list(preload)
        self._memory = memory
        self._limits = limits
        self._blank_plan = dict(blank_plan) if blank_plan is not None else None
        self._least, self._most = blanks, BLANKS_GROWTH * blanks
        self._taken: deque[float] = deque()  # when blanks were taken, over the last DEMAND_WINDOW seconds
        self._socket: socket.socket | None = None
        self._process: asyncio.subprocess.Process | None = None
        self._ready: asyncio.Future[dict[str, Any]] | None = None
        self._pending: dict[int, asyncio.Future[_Forked]] = {}  # fork request id -> its reply
        self._children: dict[int, asyncio.Future[int]] = {}  # pid -> its exit status, once reported
        self._ids = itertools.count(1)
        self._alive = False
        self._blanks: deque[Blank] = deque()  # oldest first: the likeliest to have finished joining its cgroup
        self._takers: deque[asyncio.Future[Blank]] = deque()
        self._forking = 0
        self._refill_timer: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def alive(self) -> bool:
        return self._alive

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def blank_pids(self) -> list[int]:
        """The blanks waiting to be taken, oldest first."""
        return [blank.pid for blank in self._blanks]

    # -- lifecycle -------------------------------------------------------------------------------------------------
    async def start(self) -> dict[str, Any]:
        """Start the process and wait until it has preloaded; returns its ready report."""
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            label = f"zygote-python{self.interpreter.version[0]}.{self.interpreter.version[1]}"
            self._process = await asyncio.create_subprocess_exec(
                self.interpreter.executable, "-u", str(ZYGOTE_MAIN), str(theirs.fileno()), label,
                stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL, env=ZYGOTE_ENVIRONMENT,
                cwd="/", pass_fds=(theirs.fileno(),), start_new_session=True,
            )  # fmt: skip
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()
        ours.setblocking(False)
        self._socket = ours
        loop = asyncio.get_running_loop()
        self._ready = loop.create_future()
        self._alive = True
        loop.add_reader(ours.fileno(), self._on_readable)
        sandbox_child = str(SANDBOX_CHILD) if SANDBOX_CHILD.exists() else None
        ours.send(frames.encode({"t": "config", "bootstrap": str(BOOTSTRAP), "preload": self._preload,
                                 "sandbox_child": sandbox_child}))  # fmt: skip
        try:
            ready = await asyncio.wait_for(asyncio.shield(self._ready), START_TIMEOUT)
        except (TimeoutError, ZygoteError) as exc:
            await self.close()
            raise ZygoteError(f"zygote on {self.interpreter.executable} did not start: {exc!r}") from exc
        except BaseException:
            await self.close()
            raise
        self._refill()
        return ready

    async def close(self) -> None:
        """Stop the zygote and its blanks (environments die with it too). Idempotent."""
        if self._refill_timer is not None:
            self._refill_timer.cancel()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        blanks, self._blanks = list(self._blanks), deque()
        for blank in blanks:
            blank.discard()
        if self._alive and blanks:
            # Their cgroups can be removed once they are gone, which the zygote reports.
            await asyncio.wait([blank.exited for blank in blanks], timeout=STOP_TIMEOUT)
        self._lost("closed")
        if self._process is not None and self._process.returncode is None:
            try:
                await asyncio.wait_for(self._process.wait(), STOP_TIMEOUT)
            except TimeoutError:
                self._kill()
                await self._process.wait()
        for blank in blanks:
            blank.remove_cgroup()

    # -- blanks ----------------------------------------------------------------------------------------------------
    async def take(self) -> Blank:
        """A blank child for a new environment: a waiting one, else the next one forked."""
        self._taken.append(time.monotonic())
        while self._blanks:
            blank = self._blanks.popleft()
            if not blank.exited.done():
                self._refill_soon()
                return blank
            blank.discard()
            blank.remove_cgroup()
        if not self._alive:
            raise ZygoteError("zygote is not running")
        taker: asyncio.Future[Blank] = asyncio.get_running_loop().create_future()
        self._takers.append(taker)
        self._refill()
        try:
            return await taker
        except BaseException:
            if taker in self._takers:
                self._takers.remove(taker)
            elif taker.done() and not taker.cancelled() and taker.exception() is None:
                self._deliver(taker.result())
            raise

    async def fork_plain(self) -> Blank:
        """A blank forked for a SnapStart snapshot: in its own cgroups like any blank, but never in a PID namespace
        of its own (the environments it forks must have pids the server can see), and not kept as a spare."""
        return await self._fork_blank(plain=True)

    def _refill_soon(self) -> None:
        """Refill once the cold start that took a blank is likely done: forking (and creating a cgroup) meanwhile
        would compete with it for the CPU. Someone waiting for a blank gets a fork at once (take)."""
        if self._refill_timer is None and self._alive:
            self._refill_timer = asyncio.get_running_loop().call_later(REFILL_DELAY, self._refill)

    def _refill(self) -> None:
        """Fork until the blanks on hand and under way cover the target plus everyone waiting for one."""
        if self._refill_timer is not None:
            self._refill_timer.cancel()
            self._refill_timer = None
        if not self._alive:
            return
        for _ in range(self._target() + len(self._takers) - len(self._blanks) - self._forking):
            self._forking += 1
            self._run(self._fork_one())

    def _target(self) -> int:
        """Blanks to keep: as many as were taken lately (a burst is met by blanks forked during the one before),
        within [blanks, BLANKS_GROWTH x blanks]."""
        now = time.monotonic()
        while self._taken and now - self._taken[0] > DEMAND_WINDOW:
            self._taken.popleft()
        return min(self._most, max(self._least, len(self._taken)))

    async def _fork_one(self) -> None:
        try:
            blank = await self._fork_blank()
        except ZygoteError as exc:
            self._forking -= 1
            while self._takers:
                taker = self._takers.popleft()
                if not taker.done():
                    taker.set_exception(exc)
                    break
            return
        except BaseException:
            self._forking -= 1
            raise
        self._forking -= 1
        blank.exited.add_done_callback(lambda _: self._blank_died(blank))
        self._deliver(blank)

    def _deliver(self, blank: Blank) -> None:
        while self._takers:
            taker = self._takers.popleft()
            if not taker.done():
                taker.set_result(blank)
                return
        self._blanks.append(blank)

    def _blank_died(self, blank: Blank) -> None:
        if blank in self._blanks:  # killed from outside, or with its zygote, while waiting to be used
            self._blanks.remove(blank)
            blank.discard()
            blank.remove_cgroup()
            self._refill()

    async def _fork_blank(self, plain: bool = False) -> Blank:
        """`plain`: without the blank plan (no PID namespace of its own)."""
        name = f"blank-{uuid.uuid4().hex}"
        cgroup = self._memory.create(name, BLANK_LIMIT_MB) if self._memory else None
        limits = self._limits(name) if self._limits is not None else ()
        joins = ([cgroup.path / "cgroup.procs"] if cgroup is not None else []) + [group.procs for group in limits]
        channel, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        read_end, write_end = os.pipe()
        try:
            forked = await self._fork(joins, child.fileno(), write_end, None if plain else self._blank_plan)
        except BaseException:
            channel.close()
            os.close(read_end)
            for group in [cgroup, *limits]:
                if group is not None:
                    group.remove()
            raise
        finally:
            child.close()
            os.close(write_end)
        return Blank(forked.pid, forked.exited, channel, read_end, cgroup, limits)

    async def _fork(
        self, joins: Sequence[Path], control_fd: int, output_fd: int, plan: Mapping[str, Any] | None
    ) -> _Forked:
        if not self._alive or self._socket is None:
            raise ZygoteError("zygote is not running")
        request_id = next(self._ids)
        reply: asyncio.Future[_Forked] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = reply
        cgroups = [str(path) for path in joins]
        try:
            sandbox = dict(plan) if plan is not None else None
            message = frames.encode({"t": "fork", "id": request_id, "cgroups": cgroups, "sandbox": sandbox})
            await self._send_with_fds(message, [control_fd, output_fd])
            return await asyncio.wait_for(asyncio.shield(reply), FORK_TIMEOUT)
        except TimeoutError:
            self._lost(f"did not answer a fork within {FORK_TIMEOUT:.0f} s")
            self._kill()
            raise ZygoteError("zygote did not answer") from None
        finally:
            self._pending.pop(request_id, None)

    def _run(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- the socket ------------------------------------------------------------------------------------------------
    async def _send_with_fds(self, data: bytes, fds: list[int]) -> None:
        assert self._socket is not None
        while True:
            try:
                socket.send_fds(self._socket, [data], fds)
                return
            except BlockingIOError:
                await self._writable()
            except OSError as exc:
                self._lost(f"went away ({exc})")
                raise ZygoteError(f"zygote went away: {exc}") from exc

    async def _writable(self) -> None:
        assert self._socket is not None
        loop = asyncio.get_running_loop()
        ready = loop.create_future()
        fd = self._socket.fileno()

        def wake() -> None:
            if not ready.done():
                ready.set_result(None)

        loop.add_writer(fd, wake)
        try:
            await ready
        finally:
            loop.remove_writer(fd)

    def _on_readable(self) -> None:
        assert self._socket is not None
        while self._alive:
            try:
                message = self._socket.recv(_RECEIVE_SIZE)
            except BlockingIOError:
                return
            except OSError as exc:
                self._lost(f"went away ({exc})")
                return
            if not message:
                self._lost("exited")
                return
            head_len, _ = frames.PRELUDE.unpack_from(message)
            self._dispatch(orjson.loads(message[frames.PRELUDE.size : frames.PRELUDE.size + head_len]))

    def _dispatch(self, header: dict[str, Any]) -> None:
        kind = header.get("t")
        if kind == "exit":
            report = self._children.pop(int(header["pid"]), None)
            if report is not None and not report.done():
                report.set_result(int(header["code"]))
        elif kind == "forked":
            pid = int(header["pid"])
            # Registered here, not where the fork is awaited: the exit report may follow in the same read.
            exited: asyncio.Future[int] = asyncio.get_running_loop().create_future()
            self._children[pid] = exited
            self._resolve(header, _Forked(pid, exited))
        elif kind == "fork_failed":
            self._resolve(header, ZygoteError(f"zygote could not fork: {header.get('error')}"))
        elif kind == "ready" and self._ready is not None and not self._ready.done():
            self._ready.set_result(header)

    def _resolve(self, header: dict[str, Any], outcome: _Forked | ZygoteError) -> None:
        reply = self._pending.get(int(header.get("id") or 0))
        if reply is None or reply.done():
            if isinstance(outcome, _Forked):  # its request was abandoned: nobody will use this child
                with contextlib.suppress(ProcessLookupError):
                    os.kill(outcome.pid, signal.SIGKILL)
            return
        if isinstance(outcome, _Forked):
            reply.set_result(outcome)
        else:
            reply.set_exception(outcome)

    def _lost(self, why: str) -> None:
        """The zygote is gone (or being closed): fail what waits on it; its children died with it."""
        if not self._alive:
            return
        self._alive = False
        if why != "closed" and self._ready is not None and self._ready.done():  # a failed start is logged by Zygotes
            log.warning("zygote for %s %s; the next cold start restarts it", self.interpreter.executable, why)
        if self._socket is not None:
            asyncio.get_running_loop().remove_reader(self._socket.fileno())
            self._socket.close()
        error = ZygoteError(f"zygote {why}")
        waiting = [self._ready, *self._pending.values(), *self._takers]
        self._takers.clear()
        for future in waiting:
            if future is not None and not future.done():
                future.set_exception(error)
        for exited in self._children.values():
            if not exited.done():
                exited.set_result(-signal.SIGKILL)
        self._children.clear()

    def _kill(self) -> None:
        if self._process is not None and self._process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self._process.kill()


class Zygotes:
    """One zygote per interpreter: started on first use, shared by concurrent first uses, replaced once dead."""

    def __init__(
        self,
        preload: Sequence[str],
        memory: MemoryController | None = None,
        blanks: int = 2,
        limits: LimitsFactory | None = None,
        blank_plan: Mapping[str, Any] | None = None,
    ) -> None:
        """`limits` makes the pids and cpu cgroups each blank joins; `blank_plan` is the part of every environment's
        sandbox plan a blank can be given when it is forked (Sandboxes.blank_plan: its PID namespace)."""
        self._preload = list(preload)
        self._memory = memory
        self._blanks = blanks
        self._limits = limits
        self._blank_plan = blank_plan
        self._zygotes: dict[str, Zygote] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._failed: dict[str, float] = {}  # interpreter -> when its zygote last failed to start

    async def get(self, interpreter: Interpreter) -> Zygote:
        zygote = self._zygotes.get(interpreter.executable)
        if zygote is not None and zygote.alive:
            return zygote
        async with self._locks.setdefault(interpreter.executable, asyncio.Lock()):
            zygote = self._zygotes.get(interpreter.executable)
            if zygote is None or not zygote.alive:
                if zygote is not None:
                    await zygote.close()
                failed = self._failed.get(interpreter.executable)
                if failed is not None and time.monotonic() - failed < RETRY_AFTER:
                    raise ZygoteError(f"zygote on {interpreter.executable} failed to start recently")
                zygote = await self._start(interpreter)
            return zygote

    async def prestart(self, interpreter: Interpreter) -> None:
        """Start this interpreter's zygote ahead of the first cold start; a failure is logged, not raised."""
        try:
            await self.get(interpreter)
        except ZygoteError:
            pass  # logged where it failed
        except Exception:
            log.exception("could not start the zygote for %s", interpreter.executable)

    async def close(self) -> None:
        zygotes = list(self._zygotes.values())
        self._zygotes.clear()
        await asyncio.gather(*(zygote.close() for zygote in zygotes), return_exceptions=True)

    async def _start(self, interpreter: Interpreter) -> Zygote:
        zygote = Zygote(interpreter, self._preload, self._memory, self._blanks, self._limits, self._blank_plan)
        started = time.perf_counter()
        try:
            ready = await zygote.start()
        except (ZygoteError, OSError) as exc:
            self._failed[interpreter.executable] = time.monotonic()
            log.warning("%s; its functions start a new interpreter per cold start for %.0f s", exc, RETRY_AFTER)
            raise ZygoteError(str(exc)) from exc
        self._zygotes[interpreter.executable] = zygote
        executable = interpreter.executable
        preloaded = ", ".join(ready.get("preloaded") or []) or "nothing"
        elapsed = (time.perf_counter() - started) * 1000
        log.info("zygote for %s started (pid %s) in %.0f ms, preloaded: %s", executable, zygote.pid, elapsed, preloaded)
        for name, reason in (ready.get("skipped") or {}).items():
            log.info("zygote for %s does not preload %s (%s)", executable, name, reason)
        if ready.get("sandbox_error"):
            log.warning("zygote for %s could not load sandbox_child: %s", executable, ready["sandbox_error"])
        return zygote
