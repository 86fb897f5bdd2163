"""Prometheus metrics, on a registry of the app's own (never the process-global one)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest


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
