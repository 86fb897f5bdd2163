"""The measurements: the floors (echo server, interpreter start, fork) and nimbus (warm, cold, 1 ms overhead)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx
import orjson

from bench import floors
from bench.functions import RUNTIME, SLEEP_1MS, TRIVIAL, deploy, distinct_trivial, init_duration_ms
from bench.load import LoadTotals, Timed, is_ok, load_window, run, timed_burst, timed_sequence
from bench.plan import Plan
from bench.servers import ServerProcess, echo_server, nimbus_server
from bench.signing import InvokeSigner, lambda_client
from bench.stats import Summary

PAYLOAD = b'{"ping": 1}'
WARM = "bench-warm"
SLEEPER = "bench-sleep-1ms"


class BenchError(Exception):
    """A request the benchmark relies on failed: its numbers would mean nothing."""


@dataclass(frozen=True)
class FloorRun:
    latency: Summary  # echo, one connection
    load: LoadTotals  # echo, same clients as the invoke load
    spawn: Summary  # interpreter start to first byte
    spawns_per_s: float
    fork: Summary  # fork of a warm process to the child's first byte
    fork_rss_mb: float


@dataclass(frozen=True)
class NimbusRun:
    warm: Summary  # warm invoke, one connection
    load: LoadTotals
    environments: int  # execution environments (all functions) after the load
    cold: Summary  # first invoke of a new environment, client-side
    boto3_cold: Summary  # the same for a handler that imports boto3 at init
    init: Summary  # Init Duration from the REPORT lines of those invokes
    cold_per_s: float
    cold_burst: Summary  # per-invoke latency inside the burst
    sleeper: Summary  # invoke latency of the 1 ms handler
    slept: Summary  # how long the handler's own sleep took


def measure_floors(plan: Plan, workdir: Path) -> FloorRun:
    executable = floors.interpreter(RUNTIME)
    spawn = run(lambda: floors.spawn_sequence(executable, plan.spawn_samples))
    spawns_per_s = run(lambda: floors.spawn_burst(executable, plan.cold_burst, plan.cold_concurrency))
    fork, rss = floors.fork_sequence(plan.fork_samples)
    with echo_server(workdir) as echo:
        request = InvokeSigner(echo.url).invoke(WARM, PAYLOAD)
        latency = _sequential(echo.port, [request] * (plan.latency_warmup + plan.latency_requests))
        totals = load_window(echo, request, plan.load_connections, plan)
    return FloorRun(
        latency=Summary.of([t.seconds for t in latency[plan.latency_warmup :]]),
        load=totals,
        spawn=Summary.of(spawn),
        spawns_per_s=spawns_per_s,
        fork=Summary.of(fork),
        fork_rss_mb=rss,
    )


def measure_nimbus(plan: Plan, workdir: Path) -> NimbusRun:
    cold_names = [f"bench-cold-{i:03d}" for i in range(plan.cold_starts)]
    burst_names = [f"bench-burst-{i:03d}" for i in range(plan.cold_burst)]
    boto3_names = [f"bench-boto3-{i:03d}" for i in range(plan.cold_starts)]
    sources = {WARM: TRIVIAL, SLEEPER: SLEEP_1MS, **{n: distinct_trivial(n) for n in cold_names + burst_names},
               **{n: "import boto3\n" + distinct_trivial(n) for n in boto3_names}}  # fmt: skip
    with nimbus_server(workdir) as server:
        deploy(lambda_client(server.url), sources)
        signer = InvokeSigner(server.url)
        warm_request = signer.invoke(WARM, PAYLOAD)
        warm = _sequential(server.port, [warm_request] * (plan.latency_warmup + plan.latency_requests))
        sleeper = _sequential(
            server.port, [signer.invoke(SLEEPER, PAYLOAD)] * (plan.latency_warmup + plan.overhead_requests)
        )
        cold, inits = _cold_sequence(server.port, [signer.invoke(n, PAYLOAD, tail=True) for n in cold_names])
        boto3_cold, _ = _cold_sequence(server.port, [signer.invoke(n, PAYLOAD, tail=True) for n in boto3_names])
        burst_wall, burst = _burst(server.port, [signer.invoke(n, PAYLOAD) for n in burst_names], plan.cold_concurrency)
        _burst(server.port, [warm_request] * plan.concurrency * 4, plan.concurrency)  # one environment a connection
        totals = load_window(server, warm_request, plan.load_connections, plan)
        environments = _environments(server)
    sleeper = sleeper[plan.latency_warmup :]
    return NimbusRun(
        warm=Summary.of([t.seconds for t in warm[plan.latency_warmup :]]),
        load=totals,
        environments=environments,
        cold=Summary.of(cold),
        boto3_cold=Summary.of(boto3_cold),
        init=Summary.of(inits),
        cold_per_s=len(burst_names) / burst_wall,
        cold_burst=Summary.of(burst),
        sleeper=Summary.of([t.seconds for t in sleeper]),
        slept=Summary.of([orjson.loads(t.response.body)["slept_ms"] / 1000 for t in sleeper]),
    )


def _sequential(port: int, requests: Sequence[bytes]) -> list[Timed]:
    results = run(lambda: timed_sequence(port, requests))
    _check(results)
    return results


def _burst(port: int, requests: Sequence[bytes], concurrency: int) -> tuple[float, list[float]]:
    wall, results = run(lambda: timed_burst(port, requests, concurrency))
    _check(results)
    return wall, [t.seconds for t in results]


def _cold_sequence(port: int, requests: Sequence[bytes]) -> tuple[list[float], list[float]]:
    """Client-side latency of each first invoke, and the Init Duration its REPORT line states (ms -> s)."""
    results = _sequential(port, requests)
    inits = [init_duration_ms(t.response.header("x-amz-log-result")) for t in results]
    if any(i is None for i in inits):
        raise BenchError("a cold-start invoke has no Init Duration in its REPORT line: it was not a cold start")
    return [t.seconds for t in results], [i / 1000 for i in inits if i is not None]


def _environments(server: ServerProcess) -> int:
    """How many execution environments the server runs (all functions), from its own nimbus_environments gauge:
    environments are the zygotes' children (in PID namespaces of their own), not the server's."""
    text = httpx.get(f"http://127.0.0.1:{server.port}/_nimbus/metrics", timeout=10).text
    found = re.search(r'^nimbus_environments\{state="live"\} ([0-9.e+]+)$', text, re.MULTILINE)
    if found is None:
        raise BenchError("the server's metrics have no nimbus_environments gauge")
    return int(float(found.group(1)))


def _check(results: Sequence[Timed]) -> None:
    for timed in results:
        if not is_ok(timed.response):
            raise BenchError(f"request failed: {timed.response.head[:200]!r} {timed.response.body[:300]!r}")
