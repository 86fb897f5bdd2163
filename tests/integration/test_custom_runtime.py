"""provided.al2 / provided.al2023: the package's own `bootstrap` against the Lambda Runtime API, as on AWS."""

from __future__ import annotations

import base64
import sys
from typing import Any

import pytest

from tests.support import create_function, invoke_json

APP = """
def handler(event, context):
    print("awslambdaric handled", context.aws_request_id)
    if event.get("fail"):
        raise ValueError("asked to fail")
    return {"echo": event, "function": context.function_name}
"""

SHELL_BOOTSTRAP = """#!/bin/sh
# A custom runtime written against the Runtime API with nothing but the shell and python's http.client.
exec {python} -c '
import http.client, os, json
host, port = os.environ["AWS_LAMBDA_RUNTIME_API"].split(":")
while True:
    conn = http.client.HTTPConnection(host, int(port))
    conn.request("GET", "/2018-06-01/runtime/invocation/next")
    response = conn.getresponse()
    event = response.read()
    request_id = response.getheader("Lambda-Runtime-Aws-Request-Id")
    print("shell runtime got", len(event), "bytes", flush=True)
    conn.request("POST", "/2018-06-01/runtime/invocation/" + request_id + "/response", body=event)
    conn.getresponse().read()
'
"""


def _bootstrap_for_awslambdaric() -> str:
    return f"#!/bin/sh\nexec {sys.executable} -m awslambdaric app.handler\n"


@pytest.mark.parametrize("runtime", ["provided.al2", "provided.al2023"])
def test_awslambdaric_runs_unmodified_as_a_custom_runtime(client: Any, runtime: str) -> None:
    name = create_function(
        client, {"app.py": APP, "bootstrap": _bootstrap_for_awslambdaric()}, runtime=runtime, handler="app.handler",
        modes={"bootstrap": 0o755},
    )  # fmt: skip
    response, body = invoke_json(client, name, {"n": 1}, LogType="Tail")
    assert response["StatusCode"] == 200
    assert "FunctionError" not in response
    assert body == {"echo": {"n": 1}, "function": name}
    tail = base64.b64decode(response["LogResult"]).decode()
    assert "awslambdaric handled" in tail
    assert "START RequestId:" in tail and "REPORT RequestId:" in tail


def test_awslambdaric_function_error_is_unhandled(client: Any) -> None:
    name = create_function(
        client, {"app.py": APP, "bootstrap": _bootstrap_for_awslambdaric()}, runtime="provided.al2023",
        modes={"bootstrap": 0o755},
    )  # fmt: skip
    response, body = invoke_json(client, name, {"fail": True})
    assert response["FunctionError"] == "Unhandled"
    assert body["errorType"] == "ValueError"
    assert body["errorMessage"] == "asked to fail"
    assert body["stackTrace"]
    # The environment survives a handled error: the next invoke works.
    response, body = invoke_json(client, name, {"n": 2})
    assert body["echo"] == {"n": 2}


def test_shell_bootstrap_speaks_the_runtime_api(client: Any) -> None:
    bootstrap = SHELL_BOOTSTRAP.format(python=sys.executable)
    name = create_function(client, {"bootstrap": bootstrap}, runtime="provided.al2", handler="unused",
                           modes={"bootstrap": 0o755})  # fmt: skip
    for n in range(3):
        _, body = invoke_json(client, name, {"n": n})
        assert body == {"n": n}
