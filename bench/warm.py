"""`python -m bench.warm`: the warm bars only, with before/after pairs of source trees taken back to back.

The full bench takes minutes and measures one tree. Tuning the warm path needs the opposite: two (or more) trees
measured in the same minute, interleaved round by round, so that other work on the machine hits both alike. Each
`--src DIR` is a copy of `src/` (it goes first on the server's PYTHONPATH); without any, the working tree is measured.
Every round measures the echo floor too, so each figure comes with the floor of its own moment.

Per round and tree: sequential warm invoke latency on one connection, then closed-loop load (2 processes x 4
connections by default) with the server's CPU per invoke read from /proc at the window's edges. CPU per invoke is the
steadiest figure on a shared machine; throughput and latency move with other work.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from bench.functions import TRIVIAL, deploy
from bench.host import background_cores
from bench.load import SPAWN_ALLOWANCE, LoadJob, is_ok, load, run, timed_burst, timed_sequence
from bench.measures import PAYLOAD, WARM, BenchError
from bench.servers import REPO, ServerProcess, echo_server
from bench.signing import InvokeSigner, lambda_client
from bench.stats import percentile


@dataclass(frozen=True)
class Sample:
    p50_ms: float
    p99_ms: float
    rate: float  # requests/s under load
    server_us: float  # server process CPU per request under load
    children_us: float  # its environments' CPU per request


def nimbus_variant(workdir: Path, name: str, src: Path | None) -> ServerProcess:
    path = f"{src}:{REPO}" if src is not None else str(REPO)
    data = workdir / f"data-{name}"
    return ServerProcess(
        [sys.executable, "-m", "nimbus", "serve"], workdir, name, {"NIMBUS_DATA_DIR": str(data), "PYTHONPATH": path}
    )


def measure(server: ServerProcess, request: bytes, args: argparse.Namespace) -> Sample:
    timed = run(lambda: timed_sequence(server.port, [request] * (args.warmup + args.requests)))
    if not all(is_ok(t.response) for t in timed):
        raise BenchError(f"{server.name}: a request failed: {timed[-1].response.body[:200]!r}")
    seconds = [t.seconds for t in timed[args.warmup :]]
    p50, p99 = percentile(seconds, 0.5) * 1000, percentile(seconds, 0.99) * 1000
    job = LoadJob(server.port, request, args.connections, time.time() + SPAWN_ALLOWANCE, 1.0, args.seconds)
    totals = load(job, args.clients, server.cpu_times)
    if totals.errors:
        raise BenchError(f"{server.name}: {totals.errors} failed under load: {totals.first_error}")
    per = 1e6 / max(1, totals.completed)
    return Sample(p50, p99, totals.rate, totals.server_cpu.server * per, totals.server_cpu.children * per)


def prepare(server: ServerProcess, concurrency: int) -> bytes:
    if server.name.startswith("echo"):
        return InvokeSigner(server.url).invoke(WARM, PAYLOAD)
    deploy(lambda_client(server.url), {WARM: TRIVIAL})
    request = InvokeSigner(server.url).invoke(WARM, PAYLOAD)
    run(lambda: timed_burst(server.port, [request] * concurrency * 4, concurrency))  # one environment a connection
    return request


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.warm", description=__doc__.splitlines()[0])
    parser.add_argument("--src", type=Path, action="append", default=[], help="a copy of src/ to measure")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--requests", type=int, default=3000, help="sequential invokes timed per round")
    parser.add_argument("--warmup", type=int, default=300)
    parser.add_argument("--seconds", type=float, default=4.0, help="counting window of the load")
    parser.add_argument("--clients", type=int, default=2)
    parser.add_argument("--connections", type=int, default=4)
    args = parser.parse_args(argv)
    print(f"other work on the machine: {background_cores():.2f} cores", flush=True)
    samples: dict[str, list[Sample]] = {}
    with tempfile.TemporaryDirectory(prefix="nimbus-warm-") as tmp, ExitStack() as stack:
        workdir = Path(tmp)
        variants = [(f"tree{i}:{src}", src) for i, src in enumerate(args.src)] or [("working tree", None)]
        servers = [stack.enter_context(echo_server(workdir))]
        servers += [stack.enter_context(nimbus_variant(workdir, f"nimbus{i}", s)) for i, (_, s) in enumerate(variants)]
        names = ["echo"] + [label for label, _ in variants]
        requests = [prepare(server, args.clients * args.connections) for server in servers]
        for round_number in range(args.rounds):
            for name, server, request in zip(names, servers, requests, strict=True):
                sample = measure(server, request, args)
                samples.setdefault(name, []).append(sample)
                print(f"round {round_number + 1} {name:>32}: p50 {sample.p50_ms:.3f} ms, p99 {sample.p99_ms:.3f} ms, "
                      f"{sample.rate:,.0f}/s, "
                      f"server {sample.server_us:.0f} us/req, environments {sample.children_us:.0f} us/req",
                      flush=True)  # fmt: skip
    print("\nmedians over rounds:")
    for name, runs in samples.items():
        print(f"{name:>40}: p50 {statistics.median(s.p50_ms for s in runs):.3f} ms, "
              f"p99 {statistics.median(s.p99_ms for s in runs):.3f} ms, "
              f"{statistics.median(s.rate for s in runs):,.0f}/s, "
              f"server {statistics.median(s.server_us for s in runs):.0f} us/req, "
              f"environments {statistics.median(s.children_us for s in runs):.0f} us/req")  # fmt: skip
    print(f"other work on the machine: {background_cores():.2f} cores")
    return 0


if __name__ == "__main__":
    sys.exit(main())
