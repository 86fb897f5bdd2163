"""`python -m bench [--quick]`: measure the invoke path against floors measured in the same run.

Prints a table (measure, value, floor, ratio, bar, result) and writes bench/results/<timestamp>.json. Missing a
bar does not fail the command: it is a measurement, not a test. A request that fails does, since the numbers
would mean nothing.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import sys
import tempfile
from pathlib import Path

from bench.async_accept import AsyncBenchError, measure_async
from bench.host import BUSY_CORES, OtherWork, background_cores, machine, wait_quiet
from bench.load import LoadFailed
from bench.measures import BenchError, measure_floors, measure_nimbus
from bench.plan import FULL, QUICK, Plan
from bench.report import document, rows, table, write
from bench.snapstart import SnapStartBenchError, measure_snapstart

RESULTS = Path(__file__).resolve().parent / "results"


@dataclasses.dataclass(frozen=True)
class Options:
    plan: Plan
    results: Path
    wait_quiet: float


def parse_options(argv: list[str] | None) -> Options:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--quick", action="store_true", help="small counts, under a minute")
    parser.add_argument("--clients", type=int, help="client processes for the throughput measures")
    parser.add_argument("--connections", type=int, help="keep-alive connections per client process")
    parser.add_argument("--results", type=Path, default=RESULTS, help="directory for the JSON results")
    parser.add_argument("--wait-quiet", type=float, default=0.0, metavar="SECONDS",
                        help="first wait up to this long for other work on the machine to finish")  # fmt: skip
    args = parser.parse_args(argv)
    plan = QUICK if args.quick else FULL
    overrides = {"load_processes": args.clients, "load_connections": args.connections}
    plan = dataclasses.replace(plan, **{k: v for k, v in overrides.items() if v is not None})
    return Options(plan, args.results, args.wait_quiet)


def main(argv: list[str] | None = None) -> int:
    options = parse_options(argv)
    plan = options.plan
    background = [wait_quiet(options.wait_quiet) if options.wait_quiet else background_cores()]
    started = dt.datetime.now(dt.UTC)
    host = machine()
    print(f"nimbus bench ({plan.name}), {started:%Y-%m-%d %H:%M} UTC: {host['nproc']} x {host['cpu']}, "
          f"Python {host['python']}; other work keeps {background[0]:.2f} cores busy", flush=True)  # fmt: skip
    during = OtherWork()
    with tempfile.TemporaryDirectory(prefix="nimbus-bench-") as workdir:
        try:
            print("measuring floors (interpreter start, fork, HTTP echo) ...", flush=True)
            floor = measure_floors(plan, Path(workdir))
            print("measuring nimbus (warm, 1 ms handler, cold starts, load) ...", flush=True)
            nimbus = measure_nimbus(plan, Path(workdir))
            print("measuring asynchronous invocation (durable accepts, drain) ...", flush=True)
            async_run = measure_async(plan, Path(workdir))
            print("measuring SnapStart (restored vs initialised cold starts) ...", flush=True)
            snap = measure_snapstart(plan, Path(workdir))
        except (BenchError, AsyncBenchError, SnapStartBenchError, LoadFailed) as exc:
            print(f"bench: {exc}", file=sys.stderr)
            return 1
    background += [during.cores(), background_cores()]
    measured = rows(plan, floor, nimbus, async_run, snap)
    print()
    print(table(plan, floor, nimbus, measured, async_run))
    print("other work on the machine (cores): {:.2f} before, {:.2f} during, {:.2f} after".format(*background))
    if max(background) > BUSY_CORES:
        print(f"\nwarning: other work kept up to {max(background):.2f} cores busy; numbers are unreliable")
    runs = (floor, nimbus, async_run, snap)
    path = write(options.results, started, document(plan, runs, measured, started, background))
    print(f"\nresults: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
