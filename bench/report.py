"""Rows of measures against floors and bars (DESIGN.md §4), printed as a table and written as JSON."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from bench.async_accept import AsyncRun
from bench.host import machine, source_revision
from bench.load import LoadTotals
from bench.measures import FloorRun, NimbusRun
from bench.plan import Plan
from bench.snapstart import SnapStartRun
from bench.stats import Summary


@dataclass(frozen=True)
class Bar:
    limit: float
    at_most: bool  # True: value <= limit passes (< for strict); False: value >= limit passes
    strict: bool = False
    of_ratio: bool = False  # the bar bounds the ratio to the floor ("within 2x of ..."), not the value

    def passes(self, value: float) -> bool:
        if self.at_most:
            return value < self.limit if self.strict else value <= self.limit
        return value >= self.limit

    def text(self, unit: str) -> str:
        sign = ("<" if self.strict else "≤") if self.at_most else "≥"
        return f"{sign} {self.limit:g}x floor" if self.of_ratio else f"{sign} {_number(self.limit, unit)}"


@dataclass(frozen=True)
class Row:
    measure: str
    value: float
    unit: str  # "ms", "/s" or "%"
    floor: float | None = None
    floor_is: str = ""  # what the floor is, for the JSON and the notes
    bar: Bar | None = None

    @property
    def ratio(self) -> float | None:
        return self.value / self.floor if self.floor else None

    @property
    def verdict(self) -> str:
        if self.bar is None:
            return ""
        return "pass" if self.passes else "FAIL"

    @property
    def passes(self) -> bool:
        assert self.bar is not None
        measured = self.ratio if self.bar.of_ratio else self.value
        return measured is not None and self.bar.passes(measured)

    def to_json(self) -> dict[str, Any]:
        return {
            "measure": self.measure,
            "value": round(self.value, 4),
            "unit": self.unit,
            "floor": round(self.floor, 4) if self.floor is not None else None,
            "floor_is": self.floor_is or None,
            "ratio": round(self.ratio, 3) if self.ratio is not None else None,
            "bar": self.bar.text(self.unit) if self.bar else None,
            "pass": self.passes if self.bar else None,
        }


def rows(plan: Plan, floor: FloorRun, nimbus: NimbusRun, async_run: AsyncRun, snap: SnapStartRun) -> list[Row]:
    return [*warm_rows(plan, floor, nimbus), *cold_rows(plan, floor, nimbus), *overhead_rows(floor, nimbus),
            *async_rows(plan, async_run), *snapstart_rows(snap)]  # fmt: skip


def warm_rows(plan: Plan, floor: FloorRun, nimbus: NimbusRun) -> list[Row]:
    conns = f"{plan.load_processes} proc x {plan.load_connections} conn"
    loaded, echo_loaded = Summary.of(nimbus.load.latencies), Summary.of(floor.load.latencies)
    return [
        Row("Warm invoke p50, 1 connection", nimbus.warm.p50_ms, "ms", floor.latency.p50_ms, "HTTP echo p50",
            Bar(0.5, True)),
        Row("Warm invoke p99, 1 connection", nimbus.warm.p99_ms, "ms", floor.latency.p99_ms, "HTTP echo p99"),
        Row(f"Warm invokes/s, {conns}", nimbus.load.rate, "/s", floor.load.rate, "HTTP echo req/s", Bar(5000, False)),
        Row(f"Warm invoke p50 under load, {conns}", loaded.p50_ms, "ms", echo_loaded.p50_ms,
            "HTTP echo p50 under the same load"),
    ]  # fmt: skip


def cold_rows(plan: Plan, floor: FloorRun, nimbus: NimbusRun) -> list[Row]:
    start = "interpreter start"
    return [
        Row("Cold start p50 (first invoke, client)", nimbus.cold.p50_ms, "ms", floor.spawn.p50_ms, f"{start} p50",
            Bar(10, True)),
        Row("Cold start p99 (first invoke, client)", nimbus.cold.p99_ms, "ms", floor.spawn.p99_ms, f"{start} p99",
            Bar(30, True)),
        Row("Init Duration p50 (REPORT line)", nimbus.init.p50_ms, "ms", floor.spawn.p50_ms, f"{start} p50"),
        Row("Init Duration p99 (REPORT line)", nimbus.init.p99_ms, "ms", floor.spawn.p99_ms, f"{start} p99"),
        Row(f"Cold starts/s, {plan.cold_concurrency} concurrent", nimbus.cold_per_s, "/s", floor.spawns_per_s,
            f"{start}s/s, same concurrency", Bar(200, False)),
        Row(f"Fork of a warm {floor.fork_rss_mb:.0f} MB process, p50 (zygote floor)", floor.fork.p50_ms, "ms"),
        Row("Cold start p50, handler that imports boto3", nimbus.boto3_cold.p50_ms, "ms", nimbus.cold.p50_ms,
            "the trivial handler's cold start p50", Bar(2, True, of_ratio=True)),
    ]  # fmt: skip


def overhead_rows(floor: FloorRun, nimbus: NimbusRun) -> list[Row]:
    echo, sleeper = floor.latency.p50_ms, nimbus.sleeper.p50_ms
    return [
        Row("1 ms handler, invoke p50", sleeper, "ms", 1.0 + echo, "1 ms + HTTP echo p50"),
        # The bar's formula: everything above the nominal 1 ms counts, the HTTP round trip included.
        Row("Overhead on a 1 ms handler", (sleeper - 1.0) / sleeper * 100, "%", echo / (1.0 + echo) * 100,
            "the same formula for the HTTP echo", Bar(10, True, strict=True)),
        Row("Overhead beyond the handler's own sleep", (sleeper - nimbus.slept.p50_ms) / sleeper * 100, "%"),
    ]  # fmt: skip


def async_rows(plan: Plan, run: AsyncRun) -> list[Row]:
    conns = f"{plan.load_processes} proc x {plan.async_connections} conn"
    accepted, echoed = Summary.of(run.accept.latencies), Summary.of(run.echo.latencies)
    return [
        Row(f"Async accepts/s (202 once durable), {conns}", run.accept.rate, "/s", run.echo.rate,
            "HTTP echo req/s, same clients", Bar(5000, False)),
        Row("Async accept p50 under that load", accepted.p50_ms, "ms", echoed.p50_ms, "HTTP echo p50, same load"),
        Row(f"Async events run/s, trivial handler, {run.drained} queued at once", run.drain_per_s, "/s"),
    ]  # fmt: skip


def snapstart_rows(run: SnapStartRun) -> list[Row]:
    # The floor of a restored cold start is the same handler's cold start without SnapStart: what it saves.
    return [
        Row("SnapStart cold start p50 (first invoke, client)", run.restored.p50_ms, "ms", run.initialised.p50_ms,
            "same handler without SnapStart, p50"),
        Row("SnapStart Restore Duration p50 (REPORT line)", run.restore.p50_ms, "ms", run.init.p50_ms,
            "its Init Duration without SnapStart, p50"),
        Row("Cold start p50 without SnapStart (200 ms init)", run.initialised.p50_ms, "ms"),
    ]  # fmt: skip


def table(plan: Plan, floor: FloorRun, nimbus: NimbusRun, measured: list[Row], async_run: AsyncRun) -> str:
    header = ("measure", "value", "floor", "ratio", "bar", "result", "floor is")
    body = [
        (
            row.measure,
            _number(row.value, row.unit),
            _number(row.floor, row.unit) if row.floor is not None else "",
            f"{row.ratio:.2f}x" if row.ratio is not None else "",
            row.bar.text(row.unit) if row.bar else "",
            row.verdict,
            row.floor_is,
        )
        for row in measured
    ]
    widths = [max(len(line[i]) for line in [header, *body]) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)) for line in [header, *body]]
    lines.insert(1, "  ".join("-" * width for width in widths))
    lines += ["", *notes(plan, floor, nimbus), f"CPU per async accept: {_cpu(async_run.accept)}"]
    return "\n".join(lines)


def notes(plan: Plan, floor: FloorRun, nimbus: NimbusRun) -> list[str]:
    return [
        f"load: {plan.load_processes} client processes x {plan.load_connections} keep-alive connections, "
        f"{plan.load_warmup:g} s warm-up, {plan.load_duration:g} s window; {nimbus.environments} live environments",
        f"CPU per warm invoke: {_cpu(nimbus.load)}",
        f"CPU per echo request: {_cpu(floor.load)}",
        f"cold starts: {nimbus.cold.count} sequential, {plan.cold_burst} in the burst; "
        f"1 ms handler's own sleep p50 {nimbus.slept.p50_ms:.3f} ms",
    ]


def _cpu(totals: LoadTotals) -> str:
    per = 1e6 / totals.completed if totals.completed else 0.0
    return (
        f"server {totals.server_cpu.server * per:.0f} µs, environments {totals.server_cpu.children * per:.0f} µs, "
        f"client {totals.client_cpu * per:.0f} µs (client busy {totals.client_cpu / totals.duration:.2f} cores, "
        f"server process {totals.server_cpu.server / totals.duration:.2f} cores)"
    )


def document(
    plan: Plan,
    runs: tuple[FloorRun, NimbusRun, AsyncRun, SnapStartRun],
    measured: list[Row],
    started: dt.datetime,
    background: list[float],
) -> bytes:
    floor, nimbus, async_run, snap = runs
    return orjson.dumps(
        {
            "started": started.isoformat(timespec="seconds"),
            "machine": machine(),
            "source": source_revision(),
            # other work on the machine, in cores: before the run, during it, after it
            "background_cores": [round(b, 2) for b in background],
            "plan": plan,
            "rows": [row.to_json() for row in measured],
            "floor": _details(floor),
            "nimbus": _details(nimbus),
            "async": _details(async_run),
            "snapstart": _details(snap),
        },
        option=orjson.OPT_INDENT_2,
    )


def write(directory: Path, started: dt.datetime, data: bytes) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{started.strftime('%Y%m%dT%H%M%SZ')}.json"
    path.write_bytes(data)
    return path


def _details(run: FloorRun | NimbusRun | AsyncRun | SnapStartRun) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in vars(run).items():
        if isinstance(value, Summary):
            out[name] = value.to_json()
        elif isinstance(value, LoadTotals):
            out[name] = _load_json(value)
        else:
            out[name] = value
    return out


def _load_json(totals: LoadTotals) -> dict[str, Any]:
    return {
        "processes": totals.processes,
        "connections_per_process": totals.connections,
        "window_s": totals.duration,
        "completed": totals.completed,
        "rate_per_s": round(totals.rate, 1),
        "latency": Summary.of(totals.latencies).to_json(),
        "cpu_s": {
            "client": round(totals.client_cpu, 3),
            "server": round(totals.server_cpu.server, 3),
            "environments": round(totals.server_cpu.children, 3),
        },
    }


def _number(value: float, unit: str) -> str:
    if unit == "/s":
        return f"{value:,.0f}/s"
    if unit == "%":
        return f"{value:.1f}%"
    return f"{value:.3f} ms" if value < 10 else f"{value:.1f} ms"
