"""How much each phase measures: `--quick` (under a minute) and the default full run (under five minutes)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Plan:
    name: str
    latency_requests: int  # sequential requests timed on one connection (after latency_warmup untimed ones)
    latency_warmup: int
    load_processes: int  # client processes for throughput
    load_connections: int  # keep-alive connections per client process
    load_warmup: float  # seconds of load before the counting window opens
    load_duration: float  # seconds the counting window stays open
    cold_starts: int  # distinct functions, each invoked once, one after another
    cold_burst: int  # distinct functions invoked once each, `cold_concurrency` at a time
    cold_concurrency: int
    overhead_requests: int  # sequential invokes of the 1 ms handler (after latency_warmup untimed ones)
    spawn_samples: int  # interpreter starts for the cold-start floor
    fork_samples: int  # forks for the zygote floor
    async_connections: int  # keep-alive connections per client process for the Event invoke (accept) load
    async_drain_events: int  # Event invokes of a trivial handler timed until all have run
    snapstart_cold_starts: int  # SnapStart versions (and as many without) each invoked once, one after another

    @property
    def concurrency(self) -> int:
        return self.load_processes * self.load_connections


QUICK = Plan(
    name="quick", latency_requests=1000, latency_warmup=100, load_processes=2, load_connections=4, load_warmup=1.0,
    load_duration=3.0, cold_starts=15, cold_burst=16, cold_concurrency=8, overhead_requests=300, spawn_samples=15,
    fork_samples=30, async_connections=16, async_drain_events=500, snapstart_cold_starts=8,
)  # fmt: skip
FULL = Plan(
    name="full", latency_requests=10_000, latency_warmup=500, load_processes=2, load_connections=4, load_warmup=2.0,
    load_duration=10.0, cold_starts=50, cold_burst=64, cold_concurrency=16, overhead_requests=3000, spawn_samples=50,
    fork_samples=100, async_connections=16, async_drain_events=2000, snapstart_cold_starts=25,
)  # fmt: skip
