"""Drive a server: timed sequences on one connection, and closed-loop load from several client processes.

Load runs in `processes` spawned client processes with `connections` keep-alive connections each, every
connection sending its next request as soon as the previous one is answered. All processes start together at an
agreed wall-clock instant, run a warm-up that is not counted, then count the responses that complete inside a
fixed window; the server's CPU is sampled at the window's edges, so CPU per request is attributed exactly.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import time
from collections.abc import Callable, Coroutine, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

import uvloop

from bench.connection import Connection, Response
from bench.plan import Plan
from bench.servers import CpuTimes, ServerProcess

HOST = "127.0.0.1"
# Spawned client processes import the bench package and connect before the window opens; this is ample.
SPAWN_ALLOWANCE = 2.5

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Timed:
    seconds: float
    response: Response


def is_ok(response: Response) -> bool:
    """200 without a function error (202 for an Event invoke): the invoke (or echo) did what the benchmark asked."""
    return response.status in (200, 202) and b"function-error" not in response.head.lower()


def run(phase: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run one async phase on uvloop, as the servers do, so client overhead stays small."""
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(phase())


async def timed_sequence(port: int, requests: Sequence[bytes]) -> list[Timed]:
    """Send each request in turn on one keep-alive connection; time each round trip on the client."""
    connection = await Connection.open(HOST, port)
    results: list[Timed] = []
    try:
        for data in requests:
            started = time.perf_counter()
            response = await connection.request(data)
            results.append(Timed(time.perf_counter() - started, response))
    finally:
        connection.close()
    return results


async def timed_burst(port: int, requests: Sequence[bytes], concurrency: int) -> tuple[float, list[Timed]]:
    """Send all requests with `concurrency` connections (opened before the clock starts); wall time and results."""
    connections = [await Connection.open(HOST, port) for _ in range(concurrency)]
    queue = list(reversed(requests))
    results: list[Timed] = []

    async def worker(connection: Connection) -> None:
        while queue:
            data = queue.pop()
            started = time.perf_counter()
            response = await connection.request(data)
            results.append(Timed(time.perf_counter() - started, response))

    started = time.perf_counter()
    try:
        await asyncio.gather(*(worker(c) for c in connections))
    finally:
        for connection in connections:
            connection.close()
    return time.perf_counter() - started, results


@dataclass(frozen=True)
class LoadJob:
    port: int
    request: bytes
    connections: int
    start_at: float  # wall clock (time.time()) when every client process starts sending
    warmup: float
    duration: float


@dataclass
class LoadResult:
    completed: int = 0
    errors: int = 0
    latencies: list[float] = field(default_factory=list)
    client_cpu: float = 0.0
    first_error: str | None = None


@dataclass(frozen=True)
class LoadTotals:
    processes: int
    connections: int  # per process
    duration: float
    completed: int
    errors: int
    latencies: list[float]
    client_cpu: float
    server_cpu: CpuTimes  # deltas over the window
    first_error: str | None

    @property
    def rate(self) -> float:
        return self.completed / self.duration


def load(job: LoadJob, processes: int, sample_cpu: Callable[[], CpuTimes]) -> LoadTotals:
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=processes, mp_context=context) as pool:
        futures = [pool.submit(run_load_job, job) for _ in range(processes)]
        window_start = job.start_at + job.warmup
        _sleep_until(window_start)
        before = sample_cpu()
        _sleep_until(window_start + job.duration)
        after = sample_cpu()
        results = [future.result() for future in futures]
    return LoadTotals(
        processes=processes,
        connections=job.connections,
        duration=job.duration,
        completed=sum(r.completed for r in results),
        errors=sum(r.errors for r in results),
        latencies=[s for r in results for s in r.latencies],
        client_cpu=sum(r.client_cpu for r in results),
        server_cpu=CpuTimes(after.server - before.server, after.children - before.children),
        first_error=next((r.first_error for r in results if r.first_error), None),
    )


def run_load_job(job: LoadJob) -> LoadResult:
    """Entry point of a client process."""
    return run(lambda: _drive(job))


async def _drive(job: LoadJob) -> LoadResult:
    connections = [await Connection.open(HOST, job.port) for _ in range(job.connections)]
    offset = time.perf_counter() - time.time()  # wall clock -> this process's perf_counter
    begin = job.start_at + offset
    window = (begin + job.warmup, begin + job.warmup + job.duration)
    result = LoadResult()
    await asyncio.sleep(max(0.0, begin - time.perf_counter()))
    try:
        await asyncio.gather(_cpu_sampler(window, result), *(_closed_loop(c, job.request, window, result)
                                                              for c in connections))  # fmt: skip
    finally:
        for connection in connections:
            connection.close()
    return result


async def _closed_loop(connection: Connection, data: bytes, window: tuple[float, float], result: LoadResult) -> None:
    start, end = window
    while (sent := time.perf_counter()) < end:
        response = await connection.request(data)
        done = time.perf_counter()
        if not start <= done <= end:
            continue
        result.completed += 1
        if sent >= start:
            result.latencies.append(done - sent)
        if not is_ok(response):
            result.errors += 1
            result.first_error = result.first_error or f"{response.status}: {response.body[:300]!r}"


async def _cpu_sampler(window: tuple[float, float], result: LoadResult) -> None:
    start, end = window
    await asyncio.sleep(max(0.0, start - time.perf_counter()))
    before = time.process_time()
    await asyncio.sleep(max(0.0, end - time.perf_counter()))
    result.client_cpu = time.process_time() - before


def _sleep_until(wall: float) -> None:
    time.sleep(max(0.0, wall - time.time()))


class LoadFailed(Exception):
    """Requests failed under load: the figures would not be of what was meant to be measured."""


def load_window(server: ServerProcess, request: bytes, connections: int, plan: Plan) -> LoadTotals:
    """The plan's closed-loop load (its client processes, warm-up and window) of `request` against `server`."""
    job = LoadJob(
        port=server.port,
        request=request,
        connections=connections,
        start_at=time.time() + SPAWN_ALLOWANCE,
        warmup=plan.load_warmup,
        duration=plan.load_duration,
    )
    totals = load(job, plan.load_processes, server.cpu_times)
    if totals.errors:
        raise LoadFailed(f"{totals.errors} failed requests under load against {server.name}: {totals.first_error}")
    return totals
