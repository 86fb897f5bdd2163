"""Prometheus metrics, on a registry of the app's own (never the process-global one)."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from nimbus.invocation.queue import QueueStats


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.invocations = Counter(
            "nimbus_invocations",
            "Invokes by function and outcome",
            ["function", "outcome"],
            registry=self.registry,
        )
        self.cold_starts = Counter("nimbus_cold_starts", "New execution environments", ["function"],
                                   registry=self.registry)  # fmt: skip
        self.duration = Histogram(
            "nimbus_invocation_duration_seconds",
            "Handler duration",
            ["function"],
            registry=self.registry,
            buckets=(0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30, 900),
        )
        self._children: dict[tuple[str, str], tuple[Counter, Histogram]] = {}
        self.environments = Gauge("nimbus_environments", "Execution environments by state", ["state"],
                                  registry=self.registry)  # fmt: skip
        self.async_events = AsyncEventMetrics(self.registry)

    def watch_environments(self, counts: Callable[[], Mapping[str, int]]) -> None:
        """Read the pool's counts (live, idle, busy, spare) when metrics are scraped, not on every change."""
        for state in ("live", "idle", "busy", "spare"):
            self.environments.labels(state).set_function(functools.partial(_count_of, counts, state))

    def record_invoke(self, function: str, outcome: str, seconds: float, cold: bool) -> None:
        """Count one invoke. The labelled children are cached: `labels()` costs ~5 us, an invoke's budget is ~500."""
        children = self._children.get((function, outcome))
        if children is None:
            children = self.invocations.labels(function, outcome), self.duration.labels(function)
            self._children[(function, outcome)] = children
        children[0].inc()
        children[1].observe(seconds)
        if cold:
            self.cold_starts.labels(function).inc()

    def render(self) -> str:
        return generate_latest(self.registry).decode()


class AsyncEventMetrics:
    """The asynchronous invocation queue: what came in, what is waiting, running, retried and given up on."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.received = Counter("nimbus_async_events_received", "Asynchronous events accepted (committed)",
                                ["function"], registry=registry)  # fmt: skip
        self.retried = Counter("nimbus_async_events_retried", "Retries scheduled, by reason (function_error, throttle)",
                               ["function", "reason"], registry=registry)  # fmt: skip
        self.dropped = Counter(
            "nimbus_async_events_dropped",
            "Events given up on, by reason (RetriesExhausted, EventAgeExceeded, FunctionNotFound)",
            ["function", "reason"],
            registry=registry,
        )
        self.in_flight = Gauge("nimbus_async_events_in_flight", "Events running now", registry=registry)
        self.depth = Gauge("nimbus_async_queue_depth", "Events in the queue (waiting and running)", ["function"],
                           registry=registry)  # fmt: skip
        self.oldest_age = Gauge("nimbus_async_queue_oldest_age_seconds", "Age of the oldest event in the queue",
                                ["function"], registry=registry)  # fmt: skip
        self.deliveries = Counter("nimbus_async_deliveries", "Records and dead letters sent, by target and outcome",
                                  ["kind", "outcome"], registry=registry)  # fmt: skip
        self._received: dict[str, Counter] = {}
        self._functions: set[str] = set()

    def record_received(self, function: str, count: int = 1) -> None:
        """On the accept path: the labelled child is cached (`labels()` costs ~5 us)."""
        child = self._received.get(function)
        if child is None:
            child = self._received[function] = self.received.labels(function)
        child.inc(count)

    def record_queue(self, stats: Sequence[QueueStats], now: float) -> None:
        """Depth and oldest age per function, from a fresh read of the queue; empty functions leave the gauges."""
        seen = {entry.function_name for entry in stats}
        for gone in self._functions - seen:
            self.depth.remove(gone)
            self.oldest_age.remove(gone)
        for entry in stats:
            self.depth.labels(entry.function_name).set(entry.depth)
            self.oldest_age.labels(entry.function_name).set(max(0.0, now - entry.oldest_enqueued_at))
        self._functions = seen


def _count_of(counts: Callable[[], Mapping[str, int]], state: str) -> float:
    return counts()[state]
