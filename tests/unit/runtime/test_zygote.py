"""The zygote's contract, against a real zygote on this interpreter (nothing preloaded, so each starts in ~50 ms):
blanks forked ahead and refilled, exit statuses reported exactly, children that die with their zygote, restarts."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import psutil
import pytest

from nimbus.runtime import frames, isolation
from nimbus.runtime.catalogue import own_interpreter
from nimbus.runtime.process import ForkedProcess, OutputCapture, exit_description
from nimbus.runtime.sandboxes import Sandboxes
from nimbus.runtime.zygote import Become, Blank, Zygote, ZygoteError, Zygotes
from tests.unit.runtime.test_sandbox_child import make_spec

T = TypeVar("T")
APP = """
import os, sys

def handler(event, context):
    if event.get("exit") is not None:
        os._exit(event["exit"])
    if event.get("signal"):
        os.kill(os.getpid(), event["signal"])
    return {"pid": os.getpid(), "cwd": os.getcwd(), "variable": os.environ.get("GREETING")}
"""


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(asyncio.wait_for(coroutine, 60))


def with_zygote(blanks: int, scenario: Callable[[Zygote], Awaitable[T]]) -> T:
    async def main() -> T:
        zygotes = Zygotes([], blanks=blanks)
        try:
            return await scenario(await zygotes.get(own_interpreter()))
        finally:
            await zygotes.close()

    return run(main())


def gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


async def until(predicate: Callable[[], bool]) -> None:
    async with asyncio.timeout(10):
        while not predicate():
            await asyncio.sleep(0.01)


class Function:
    """A blank that became a function, spoken to as python_env does."""

    def __init__(self, blank: Blank, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.blank = blank
        self.process = ForkedProcess(blank.pid, blank.exited, OutputCapture(blank.output_fd))
        self.reader = reader
        self.writer = writer

    @classmethod
    async def become(cls, zygote: Zygote, task_root: Path) -> Function:
        blank = await zygote.take()
        reader, writer = await asyncio.open_unix_connection(sock=blank.channel)
        env = {"_HANDLER": "app.handler", "LAMBDA_TASK_ROOT": str(task_root), "GREETING": "hello"}
        writer.write(Become(env=env, cwd=task_root, title=["python", "-u", "python_bootstrap.py"]).frame())
        writer.write(frames.encode({"t": "hello", "max_response": 1 << 20, "track_memory": True}))
        assert (await frames.read_frame(reader))[0]["t"] == "ready"
        return cls(blank, reader, writer)

    async def invoke(self, event: bytes) -> dict[str, Any] | None:
        header = {"t": "invoke", "id": "r1", "deadline": 2**41, "arn": "arn", "cc": None, "trace": None}
        self.writer.write(frames.encode(header, event))
        try:
            reply, body = await frames.read_frame(self.reader)
        except frames.FrameError:
            return None
        return {"reply": reply, "body": body}

    def close(self) -> None:
        self.writer.close()


@pytest.fixture
def task_root(tmp_path: Path) -> Path:
    (tmp_path / "app.py").write_text(APP)
    return tmp_path


def test_blanks_are_forked_ahead_and_refilled() -> None:
    async def scenario(zygote: Zygote) -> tuple[int, int]:
        await until(lambda: len(zygote.blank_pids()) == 2)
        blank = await zygote.take()
        assert blank.pid not in zygote.blank_pids()
        await until(lambda: len(zygote.blank_pids()) == 2)
        parent = psutil.Process(blank.pid).ppid()
        blank.discard()
        return parent, zygote.pid or 0

    parent, zygote_pid = with_zygote(2, scenario)
    assert parent == zygote_pid


def test_take_without_a_blank_waits_for_the_next_fork() -> None:
    async def scenario(zygote: Zygote) -> list[int]:
        blanks = await asyncio.gather(*(zygote.take() for _ in range(3)))
        for blank in blanks:
            blank.discard()
        return [blank.pid for blank in blanks]

    assert len(set(with_zygote(0, scenario))) == 3


def test_a_blank_becomes_the_function_it_is_sent(task_root: Path) -> None:
    async def scenario(zygote: Zygote) -> dict[str, Any] | None:
        function = await Function.become(zygote, task_root)
        result = await function.invoke(b"{}")
        function.close()
        return result

    result = with_zygote(1, scenario)
    assert result is not None and result["reply"]["ok"]
    assert b'"variable": "hello"' in result["body"]
    assert str(task_root).encode() in result["body"]


@pytest.mark.parametrize(
    ("event", "returncode"), [(b'{"exit": 3}', 3), (b'{"signal": 9}', -9), (b'{"signal": 11}', -11)]
)
def test_exit_status_is_reported_exactly(task_root: Path, event: bytes, returncode: int) -> None:
    async def scenario(zygote: Zygote) -> tuple[dict[str, Any] | None, int]:
        function = await Function.become(zygote, task_root)
        result = await function.invoke(event)
        return result, await function.process.wait()

    result, code = with_zygote(1, scenario)
    assert result is None
    assert code == returncode
    assert exit_description(code).startswith("Runtime exited with error: ")


def test_a_blank_killed_while_waiting_is_replaced() -> None:
    async def scenario(zygote: Zygote) -> tuple[int, int]:
        await until(lambda: len(zygote.blank_pids()) == 1)
        victim = zygote.blank_pids()[0]
        os.kill(victim, signal.SIGKILL)
        await until(lambda: zygote.blank_pids() not in ([], [victim]))
        replacement = await zygote.take()
        replacement.discard()
        return victim, replacement.pid

    victim, replacement = with_zygote(1, scenario)
    assert replacement != victim


def test_children_die_with_their_zygote(task_root: Path) -> None:
    async def scenario(zygote: Zygote) -> tuple[int, int]:
        function = await Function.become(zygote, task_root)
        assert zygote.pid is not None
        os.kill(zygote.pid, signal.SIGKILL)
        code = await function.process.wait()
        await until(lambda: not zygote.alive)
        with pytest.raises(ZygoteError):
            await zygote.take()
        await until(lambda: gone(function.blank.pid))
        return code, function.blank.pid

    code, _ = with_zygote(1, scenario)
    assert code == -signal.SIGKILL


def test_a_dead_zygote_is_replaced_on_the_next_get() -> None:
    async def scenario() -> tuple[int | None, int | None]:
        zygotes = Zygotes([], blanks=0)
        try:
            first = await zygotes.get(own_interpreter())
            assert first.pid is not None
            os.kill(first.pid, signal.SIGKILL)
            await until(lambda: not first.alive)
            second = await zygotes.get(own_interpreter())
            return first.pid, second.pid
        finally:
            await zygotes.close()

    first, second = run(scenario())
    assert first != second


def test_preloads_are_reported_and_missing_ones_skipped() -> None:
    async def scenario() -> dict[str, Any]:
        zygote = Zygote(own_interpreter(), ["json", "no_such_module_here"], None, 0)
        try:
            return await zygote.start()
        finally:
            await zygote.close()

    ready = run(scenario())
    assert ready["preloaded"] == ["json"]
    assert ready["skipped"]["no_such_module_here"].startswith("ModuleNotFoundError")


class FileGroup:
    """A stand-in cgroup: joining writes the pid to a plain file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.removed = False

    @property
    def procs(self) -> Path:
        return self.path

    def remove(self) -> None:
        self.removed = True


def test_a_blank_joins_the_other_cgroups_it_is_given_before_it_is_taken(tmp_path: Path) -> None:
    groups: dict[str, FileGroup] = {}

    def limits(name: str) -> list[FileGroup]:
        groups[name] = FileGroup(tmp_path / name)
        return [groups[name]]

    async def scenario() -> tuple[Blank, str]:
        zygotes = Zygotes([], blanks=1, limits=limits)
        try:
            blank = await (await zygotes.get(own_interpreter())).take()
            group = blank.limits[0]
            assert isinstance(group, FileGroup)
            await until(lambda: group.path.exists() and group.path.read_text() != "")
            joined = group.path.read_text()
            blank.discard()
            await blank.exited
            blank.remove_cgroup()
            return blank, joined
        finally:
            await zygotes.close()

    blank, joined = run(scenario())
    assert joined == str(blank.pid)
    assert all(group.removed for group in groups.values())  # the taken one, and the refill's at close


def test_a_blank_born_in_a_pid_namespace_is_the_functions_pid_2_without_another_fork(
    task_root: Path, tmp_path: Path
) -> None:
    support = isolation.probe(tmp_path / "probe")
    if not support.pid_namespace or support.user_namespace:
        pytest.skip(f"the zygote cannot make PID namespaces here: {support.reason or 'not root'}")
    task_root.chmod(0o755)
    found = isolation.Isolation(
        isolation.Level.NAMESPACES, support, tmp_path / "data", reveal=isolation.python_reveals()
    )
    sandboxes = Sandboxes(found)
    plan = sandboxes.for_blank(make_spec(task_root), "env-1", ()).plan

    async def scenario() -> tuple[dict[str, Any] | None, list[psutil.Process], int]:
        zygotes = Zygotes([], blanks=1, blank_plan=sandboxes.blank_plan())
        try:
            zygote = await zygotes.get(own_interpreter())
            blank = await zygote.take()
            reader, writer = await asyncio.open_unix_connection(sock=blank.channel)
            env = {"_HANDLER": "app.handler", "LAMBDA_TASK_ROOT": "/var/task", "GREETING": "hello"}
            writer.write(Become(env=env, cwd=task_root, title=["python"], sandbox=plan).frame())
            writer.write(frames.encode({"t": "hello", "max_response": 1 << 20, "track_memory": True}))
            assert (await frames.read_frame(reader))[0]["t"] == "ready"
            function = Function(blank, reader, writer)
            result = await function.invoke(b"{}")
            children = psutil.Process(blank.pid).children()
            parent = psutil.Process(blank.pid).ppid()
            function.close()
            assert zygote.pid == parent
            return result, children, await function.process.wait()
        finally:
            await zygotes.close()

    result, children, code = run(scenario())
    assert result is not None and result["reply"]["ok"]
    assert b'"pid": 2' in result["body"] and b'"cwd": "/var/task"' in result["body"]
    assert children == []  # no relay: the process the zygote forked is the function itself
    assert code == 0
