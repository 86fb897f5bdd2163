"""Asynchronous invocation: Event invokes accepted per second (each answered 202 only once it is committed), and
how fast queued events of a trivial handler run.

The accept load targets a function whose events sleep: the first 16 occupy every async worker and the rest wait in
the queue, so what is measured is the accept path alone (HTTP, SigV4, validation, the group commit), not the
server also running thousands of events. The drain phase, first, queues events of a trivial handler as fast as
the clients can and times until the last one has run.
"""

from __future__ import annotations

import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench.functions import ROLE, RUNTIME, TRIVIAL, deploy, make_zip, wait_active
from bench.load import LoadTotals, load_window, run, timed_burst
from bench.plan import Plan
from bench.servers import ServerProcess, echo_server
from bench.signing import InvokeSigner, lambda_client

PAYLOAD = b'{"ping": 1}'
HOLD = "bench-async-hold"
DRAIN = "bench-async-drain"
# Longer than the accept phase, and within the function's timeout: the workers stay occupied by it (the server's
# short drain timeout ends it).
HOLDING = "import time\n\n\ndef handler(event, context):\n    time.sleep(60)\n"
HOLD_TIMEOUT = 120
DRAIN_TIMEOUT = 20.0
_INVOKES = re.compile(r'^nimbus_invocations_total\{function="(?P<name>[^"]+)",outcome="[^"]+"\} (?P<count>[0-9.e+]+)$',
                      re.MULTILINE)  # fmt: skip


class AsyncBenchError(Exception):
    """An accept failed, or queued events did not run: the numbers would mean nothing."""


@dataclass(frozen=True)
class AsyncRun:
    accept: LoadTotals  # Event invokes of the holding function: 202s per second, latency, CPU
    echo: LoadTotals  # the HTTP echo floor under the same clients and connections
    drained: int  # events of the trivial handler queued in the drain phase
    drain_per_s: float  # those events run per second, from the first accept to the last run


def async_server(workdir: Path) -> ServerProcess:
    env = {"NIMBUS_DATA_DIR": str(workdir / "nimbus-async-data"), "NIMBUS_DRAIN_TIMEOUT": "1"}
    return ServerProcess([sys.executable, "-m", "nimbus", "serve"], workdir, "nimbus-async", env)


def measure_async(plan: Plan, workdir: Path) -> AsyncRun:
    with async_server(workdir) as server:
        client = lambda_client(server.url)
        deploy(client, {DRAIN: TRIVIAL})
        client.create_function(FunctionName=HOLD, Runtime=RUNTIME, Role=ROLE, Handler="app.handler",
                               Code={"ZipFile": make_zip(HOLDING)}, Timeout=HOLD_TIMEOUT)  # fmt: skip
        wait_active(client, [HOLD])
        signer = InvokeSigner(server.url)
        drain_per_s = _drain(server, signer.invoke(DRAIN, PAYLOAD, event=True), plan)
        accept = load_window(server, signer.invoke(HOLD, PAYLOAD, event=True), plan.async_connections, plan)
    with echo_server(workdir) as echo:
        floor = load_window(
            echo, InvokeSigner(echo.url).invoke(HOLD, PAYLOAD, event=True), plan.async_connections, plan
        )
    return AsyncRun(accept, floor, plan.async_drain_events, drain_per_s)


def _drain(server: ServerProcess, request: bytes, plan: Plan) -> float:
    count = plan.async_drain_events
    started = time.perf_counter()
    _, results = run(lambda: timed_burst(server.port, [request] * count, plan.async_connections))
    if any(r.response.status != 202 for r in results):
        raise AsyncBenchError("an Event invoke of the drain phase was not accepted")
    deadline = time.monotonic() + DRAIN_TIMEOUT
    while _invocations(server, DRAIN) < count:
        if time.monotonic() > deadline:
            raise AsyncBenchError(f"{count} queued events did not all run within {DRAIN_TIMEOUT:g} s")
        time.sleep(0.01)
    return count / (time.perf_counter() - started)


def _invocations(server: ServerProcess, name: str) -> int:
    text = httpx.get(f"{server.url}/_nimbus/metrics", timeout=5).text
    return sum(int(float(m["count"])) for m in _INVOKES.finditer(text) if m["name"] == name)
