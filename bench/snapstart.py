"""SnapStart: the cold start of a handler whose init is expensive, restored from a snapshot vs initialised.

Each sample is the first invoke of a published version of its own function (one environment each), so every one is
a cold start: with SnapStart it is restored from the snapshot the publish made (the init already ran, once, then);
without, it runs init. Both versions are published the same way and invoked by qualified name through the Invoke
API with LogType=Tail, whose REPORT line states the Restore Duration (SnapStart) or the Init Duration (without).
"""

from __future__ import annotations

import base64
import re
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.functions import ROLE, RUNTIME, make_zip, wait_active
from bench.load import Timed, is_ok, run, timed_sequence
from bench.plan import Plan
from bench.servers import ServerProcess
from bench.signing import InvokeSigner, lambda_client
from bench.stats import Summary

PAYLOAD = b'{"ping": 1}'
# Init as a real function's: stdlib-heavy imports, then 200 ms of setup (a client, a model, a config fetch).
EXPENSIVE_INIT = (
    "import argparse, asyncio, decimal, email.mime.multipart, http.client, json, logging.handlers, sqlite3\n"
    "import unittest, urllib.request, xml.etree.ElementTree\n"
    "import time\n"
    "time.sleep(0.2)\n"
    "def handler(event, context):\n"
    "    return event\n"
)
SNAP_START = {"ApplyOn": "PublishedVersions"}
PUBLISH_TIMEOUT = 120.0
_REPORT_FIELD = r"^REPORT .*\t{}: ([0-9.]+) ms"


class SnapStartBenchError(Exception):
    """A version did not become Active, or an invoke was not the cold start it should be."""


@dataclass(frozen=True)
class SnapStartRun:
    restored: Summary  # first invoke of a SnapStart version, client-side
    restore: Summary  # Restore Duration from those invokes' REPORT lines
    initialised: Summary  # first invoke of the same handler's version without SnapStart, client-side
    init: Summary  # Init Duration from those invokes' REPORT lines


def snapstart_server(workdir: Path) -> ServerProcess:
    env = {"NIMBUS_DATA_DIR": str(workdir / "nimbus-snapstart-data")}
    return ServerProcess([sys.executable, "-m", "nimbus", "serve"], workdir, "nimbus-snapstart", env)


def measure_snapstart(plan: Plan, workdir: Path) -> SnapStartRun:
    count = plan.snapstart_cold_starts
    snap_names = [f"bench-snap-{i:03d}" for i in range(count)]
    plain_names = [f"bench-nosnap-{i:03d}" for i in range(count)]
    with snapstart_server(workdir) as server:
        client = lambda_client(server.url)
        snapped = _publish(client, snap_names, snap_start=True)
        plain = _publish(client, plain_names, snap_start=False)
        signer = InvokeSigner(server.url)
        restored, restores = _cold(server.port, [signer.invoke(q, PAYLOAD, tail=True) for q in snapped], "Restore")
        initialised, inits = _cold(server.port, [signer.invoke(q, PAYLOAD, tail=True) for q in plain], "Init")
    return SnapStartRun(Summary.of(restored), Summary.of(restores), Summary.of(initialised), Summary.of(inits))


def report_field_ms(log_result: str | None, field: str) -> float | None:
    """A duration field ("Restore Duration", "Init Duration") of the REPORT line in a LogType=Tail log."""
    if not log_result:
        return None
    text = base64.b64decode(log_result).decode("utf-8", errors="replace")
    match = re.search(_REPORT_FIELD.format(re.escape(field)), text, re.MULTILINE)
    return float(match.group(1)) if match else None


def _publish(client: Any, names: Sequence[str], *, snap_start: bool) -> list[str]:
    """Create each function, publish version 1 and wait until every version is Active: qualified names."""
    extra = {"SnapStart": SNAP_START} if snap_start else {}
    for name in names:
        client.create_function(FunctionName=name, Runtime=RUNTIME, Role=ROLE, Handler="app.handler",
                               Code={"ZipFile": make_zip(EXPENSIVE_INIT)}, **extra)  # fmt: skip
    wait_active(client, names)
    qualified = [f"{name}:{client.publish_version(FunctionName=name)['Version']}" for name in names]
    _wait_versions_active(client, qualified)
    return qualified


def _wait_versions_active(client: Any, qualified: Sequence[str]) -> None:
    """SnapStart versions are Pending while their snapshot is made (the init runs then)."""
    pending = set(qualified)
    deadline = time.monotonic() + PUBLISH_TIMEOUT
    while pending:
        states = {q: client.get_function_configuration(FunctionName=q)["State"] for q in pending}
        if failed := [q for q, state in states.items() if state == "Failed"]:
            raise SnapStartBenchError(f"versions Failed: {failed[:5]}")
        pending = {q for q, state in states.items() if state != "Active"}
        if pending and time.monotonic() > deadline:
            raise SnapStartBenchError(f"versions not Active after {PUBLISH_TIMEOUT:g} s: {sorted(pending)[:5]}")
        if pending:
            time.sleep(0.05)


def _cold(port: int, requests: Sequence[bytes], phase: str) -> tuple[list[float], list[float]]:
    """Client-side latency of each first invoke (s), and the `<phase> Duration` its REPORT line states (ms -> s)."""
    results: list[Timed] = run(lambda: timed_sequence(port, requests))
    for timed in results:
        if not is_ok(timed.response):
            raise SnapStartBenchError(f"request failed: {timed.response.head[:200]!r} {timed.response.body[:300]!r}")
    durations = [report_field_ms(t.response.header("x-amz-log-result"), f"{phase} Duration") for t in results]
    if any(d is None for d in durations):
        raise SnapStartBenchError(f"a first invoke has no {phase} Duration in its REPORT line: not a cold start")
    return [t.seconds for t in results], [d / 1000 for d in durations if d is not None]
