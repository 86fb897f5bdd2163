"""The functions the benchmark deploys, created through the Lambda API with boto3 as a user would."""

from __future__ import annotations

import base64
import io
import re
import time
import zipfile
from collections.abc import Sequence
from typing import Any

ROLE = "arn:aws:iam::000000000000:role/bench"
RUNTIME = "python3.11"
ACTIVE_TIMEOUT = 60.0

# Returns its event, so the response is the same size as the floor's echo.
TRIVIAL = "def handler(event, context):\n    return event\n"
# Reports how long its own sleep took, so the 1 ms overhead can be told apart from sleep's own overshoot.
SLEEP_1MS = (
    "import time\n\n\ndef handler(event, context):\n    started = time.perf_counter()\n    time.sleep(0.001)\n"
    "    return {'slept_ms': (time.perf_counter() - started) * 1000}\n"
)
_INIT_DURATION = re.compile(r"Init Duration: ([0-9.]+) ms")


def make_zip(source: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        info = zipfile.ZipInfo("app.py", date_time=(2024, 1, 1, 0, 0, 0))
        info.external_attr = 0o644 << 16
        archive.writestr(info, source)
    return buffer.getvalue()


def deploy(client: Any, sources: dict[str, str]) -> None:
    """Create every function (name -> app.py source), then wait until all are Active."""
    for name, source in sources.items():
        client.create_function(
            FunctionName=name, Runtime=RUNTIME, Role=ROLE, Handler="app.handler", Code={"ZipFile": make_zip(source)}
        )
    wait_active(client, list(sources))


def wait_active(client: Any, names: Sequence[str]) -> None:
    pending = set(names)
    deadline = time.monotonic() + ACTIVE_TIMEOUT
    while pending:
        pending = {n for n in pending if client.get_function_configuration(FunctionName=n)["State"] != "Active"}
        if pending and time.monotonic() > deadline:
            raise RuntimeError(f"functions not Active after {ACTIVE_TIMEOUT} s: {sorted(pending)[:5]}")
        if pending:
            time.sleep(0.02)


def distinct_trivial(name: str) -> str:
    """The trivial handler with the function's name in it: every cold-start function has its own code package."""
    return f"# {name}\n{TRIVIAL}"


def init_duration_ms(log_result: str | None) -> float | None:
    """Init Duration from the REPORT line of a LogType=Tail invoke; None when the invoke was not a cold start."""
    if not log_result:
        return None
    match = _INIT_DURATION.search(base64.b64decode(log_result).decode("utf-8", errors="replace"))
    return float(match.group(1)) if match else None
