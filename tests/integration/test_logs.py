"""Function logs as AWS writes them (START / END / REPORT, the function's output, awslambdaric's error and logging
records), stored per log group and stream and read back through GET /_nimbus/logs/{name}."""

from __future__ import annotations

import base64
import math
import re
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from tests.integration.processes import shared_directory
from tests.support import ACCESS_KEY, REGION, SECRET_KEY, Server, create_function, invoke_json, wait_until

UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
REPORT = re.compile(
    rf"REPORT RequestId: (?P<id>{UUID})\tDuration: (?P<duration>\d+\.\d\d) ms\tBilled Duration: (?P<billed>\d+) ms\t"
    r"Memory Size: (?P<size>\d+) MB\tMax Memory Used: (?P<used>\d+) MB\t(?:Init Duration: (?P<init>\d+\.\d\d) ms\t)?"
)
APP = """
import logging, os, sys

logger = logging.getLogger()
logger.setLevel(logging.INFO)
print("loading module")

def handler(event, context):
    print("line one")
    print("line two")
    sys.stderr.write("to stderr\\n")
    if event.get("log"):
        logger.info("informative %s", 42)
    if event.get("fail"):
        raise ValueError("boom")
    if event.get("crash"):
        os._exit(1)
    return {"stream": context.log_stream_name, "pid": os.getpid()}
"""


def read_logs(server: Server, name: str) -> dict[str, Any]:
    url = f"{server.url}/_nimbus/logs/{name}"
    request = AWSRequest("GET", url)
    SigV4Auth(Credentials(ACCESS_KEY, SECRET_KEY), "lambda", REGION).add_auth(request)
    response = httpx.get(url, headers=dict(request.headers), timeout=30)
    assert response.status_code == 200, response.text
    document: dict[str, Any] = response.json()
    return document


def stored_lines(server: Server, name: str, request_id: str) -> list[dict[str, Any]]:
    """The stored events of one invoke (from its START to its REPORT), once its REPORT line has been stored."""

    def complete() -> list[dict[str, Any]] | None:
        events = read_logs(server, name)["events"]
        messages = [event["message"] for event in events]
        starts = [i for i, m in enumerate(messages) if m == f"START RequestId: {request_id} Version: $LATEST"]
        ends = [i for i, m in enumerate(messages) if m.startswith(f"REPORT RequestId: {request_id}\t")]
        return events[starts[0] : ends[0] + 1] if starts and ends else None

    found: list[dict[str, Any]] = wait_until(complete)
    return found


def tail_lines(response: dict[str, Any]) -> list[str]:
    return base64.b64decode(response["LogResult"]).decode().removesuffix("\n").split("\n")


def test_report_lines_are_formatted_as_aws_prints_them(client: Any) -> None:
    name = create_function(client, {"app.py": APP}, MemorySize=256)
    cold, _ = invoke_json(client, name, {}, LogType="Tail")
    warm, _ = invoke_json(client, name, {}, LogType="Tail")
    for response, is_cold in ((cold, True), (warm, False)):
        line = tail_lines(response)[-1]
        match = REPORT.fullmatch(line)
        assert match is not None, line
        assert match["id"] == response["ResponseMetadata"]["RequestId"]
        assert match["size"] == "256"
        assert 0 < int(match["used"]) <= 256
        assert (match["init"] is not None) is is_cold
        init = float(match["init"] or 0)
        assert int(match["billed"]) == math.ceil(round(float(match["duration"]) + init, 2))


def test_cold_start_log_opens_with_init_start_and_init_output(client: Any) -> None:
    name = create_function(client, {"app.py": APP})
    response, _ = invoke_json(client, name, {}, LogType="Tail")
    request_id = response["ResponseMetadata"]["RequestId"]
    lines = tail_lines(response)
    assert re.fullmatch(
        r"INIT_START Runtime Version: python:3\.11\.v\d+\tRuntime Version ARN: "
        r"arn:aws:lambda:us-east-1::runtime:[0-9a-f]{64}",
        lines[0],
    )
    assert lines[1:6] == [
        "loading module",
        f"START RequestId: {request_id} Version: $LATEST",
        "line one",
        "line two",
        "to stderr",
    ]
    assert lines[6] == f"END RequestId: {request_id}"
    warm, _ = invoke_json(client, name, {}, LogType="Tail")
    assert tail_lines(warm)[0].startswith("START RequestId: ")


def test_handler_error_is_logged_as_awslambdaric_logs_it(client: Any) -> None:
    name = create_function(client, {"app.py": APP})
    response, body = invoke_json(client, name, {"fail": True}, LogType="Tail")
    (record,) = [line for line in tail_lines(response) if line.startswith("[ERROR]")]
    parts = record.split("\r")
    assert parts[:2] == ["[ERROR] ValueError: boom", "Traceback (most recent call last):"]
    assert re.fullmatch(r'\u00a0\u00a0File "[^"]+/app\.py", line \d+, in handler', parts[2])
    assert parts[3] == '\u00a0\u00a0\u00a0\u00a0raise ValueError("boom")'
    assert body["stackTrace"][0].startswith('  File "')


def test_logging_records_carry_level_time_and_request_id(client: Any) -> None:
    name = create_function(client, {"app.py": APP})
    response, _ = invoke_json(client, name, {"log": True}, LogType="Tail")
    request_id = response["ResponseMetadata"]["RequestId"]
    (record,) = [line for line in tail_lines(response) if line.startswith("[INFO]")]
    assert re.fullmatch(rf"\[INFO\]\t\d{{4}}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{{3}}Z\t{request_id}\tinformative 42", record)


def test_logs_are_stored_per_log_group_and_stream(server: Server) -> None:
    client = server.lambda_client(max_pool_connections=2)
    barrier = (
        "import os, time\n"
        "def handler(event, context):\n"
        "    print('working', context.aws_request_id)\n"
        "    open(os.path.join(event['dir'], context.aws_request_id), 'w').close()\n"
        "    deadline = time.time() + 30\n"
        "    while len(os.listdir(event['dir'])) < 2 and time.time() < deadline:\n"
        "        time.sleep(0.01)\n"
        "    return context.log_stream_name\n"
    )
    name = create_function(client, {"app.py": barrier}, Timeout=60)
    with shared_directory() as meeting, ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda _: invoke_json(client, name, {"dir": str(meeting)}), range(2)))
    assert read_logs(server, name)["logGroupName"] == f"/aws/lambda/{name}"
    streams = set()
    for response, stream in results:
        request_id = response["ResponseMetadata"]["RequestId"]
        events = stored_lines(server, name, request_id)
        assert {event["logStreamName"] for event in events} == {stream}
        messages = [event["message"] for event in events]
        assert messages[:2] == [f"START RequestId: {request_id} Version: $LATEST", f"working {request_id}"]
        assert messages[2] == f"END RequestId: {request_id}"
        streams.add(stream)
    assert len(streams) == 2


def test_stored_lines_match_the_tail(server: Server, client: Any) -> None:
    name = create_function(client, {"app.py": APP})
    response, _ = invoke_json(client, name, {"fail": True}, LogType="Tail")
    request_id = response["ResponseMetadata"]["RequestId"]
    stored = [event["message"] for event in stored_lines(server, name, request_id)]
    tail = tail_lines(response)
    assert stored == tail[tail.index(stored[0]) :]


def test_after_a_crash_the_next_invoke_logs_a_suppressed_init(client: Any) -> None:
    name = create_function(client, {"app.py": APP})
    stream = invoke_json(client, name, {})[1]["stream"]
    crashed, _ = invoke_json(client, name, {"crash": True}, LogType="Tail")
    assert tail_lines(crashed)[-1].endswith("\tStatus: error\tError Type: Runtime.ExitError")
    response, body = invoke_json(client, name, {}, LogType="Tail")
    request_id = response["ResponseMetadata"]["RequestId"]
    lines = tail_lines(response)
    assert lines[:3] == [f"START RequestId: {request_id} Version: $LATEST", "loading module", "line one"]
    match = REPORT.fullmatch(lines[-1])
    assert match is not None and match["init"] is None
    assert body["stream"] == stream
