"""Process floors for cold starts, measured in the same run: what an interpreter start and a fork cost here.

Today a cold start spawns an interpreter, so an interpreter start (to its first byte of output) is the floor of
today's design. A fork of a warm process that answers over a pipe is the floor of the zygote design (issue 3).
"""

from __future__ import annotations

import asyncio
import os
import time

import psutil

from nimbus.runtime.catalogue import interpreter_for

# The child's first write: the interpreter has started, run `site`, and executed user code.
_ANSWER = "import sys; sys.stdout.write('x'); sys.stdout.flush()"


def interpreter(runtime: str) -> str:
    """The executable nimbus runs `runtime` functions on."""
    return interpreter_for(runtime).executable


async def spawn_once(executable: str) -> float:
    """Seconds from spawn to the interpreter's first byte of output."""
    started = time.perf_counter()
    process = await asyncio.create_subprocess_exec(
        executable, "-c", _ANSWER, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE
    )
    assert process.stdout is not None
    await process.stdout.readexactly(1)
    elapsed = time.perf_counter() - started
    await process.wait()
    return elapsed


async def spawn_sequence(executable: str, count: int) -> list[float]:
    return [await spawn_once(executable) for _ in range(count)]


async def spawn_burst(executable: str, count: int, concurrency: int) -> float:
    """Interpreter starts per second with `concurrency` in flight."""
    remaining = list(range(count))

    async def worker() -> None:
        while remaining:
            remaining.pop()
            await spawn_once(executable)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return count / (time.perf_counter() - started)


def fork_sequence(count: int) -> tuple[list[float], float]:
    """Fork this (warm, boto3-loaded) process `count` times; seconds until each child answers, and our RSS in MB.

    Call outside any running event loop and with no other threads busy: the child only writes and exits.
    """
    samples = []
    for _ in range(count):
        read_end, write_end = os.pipe()
        started = time.perf_counter()
        pid = os.fork()
        if pid == 0:
            os.write(write_end, b"x")
            os._exit(0)
        os.read(read_end, 1)
        samples.append(time.perf_counter() - started)
        os.waitpid(pid, 0)
        os.close(read_end)
        os.close(write_end)
    return samples, psutil.Process().memory_info().rss / 2**20
