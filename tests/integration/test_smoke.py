"""The README's promise: create a function with the aws cli and invoke it, then the same with boto3."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.support import ROLE, Server, create_function, invoke_json, make_zip, unique, wait_until

HELLO = "def handler(event, context):\n    return {'hello': event.get('name', 'world')}\n"


def test_aws_cli_create_then_invoke(server: Server, tmp_path: Path) -> None:
    name = unique("hello-lambda")
    package = tmp_path / "function.zip"
    package.write_bytes(make_zip({"app.py": HELLO}))
    created = server.aws("lambda", "create-function", "--function-name", name, "--runtime", "python3.11",
                         "--handler", "app.handler", "--zip-file", f"fileb://{package}", "--role", ROLE)  # fmt: skip
    assert created.returncode == 0, created.stderr
    assert json.loads(created.stdout)["State"] == "Pending"
    out = tmp_path / "out.json"
    invoked = server.aws("lambda", "invoke", "--function-name", name, str(out))
    assert invoked.returncode == 0, invoked.stderr
    assert json.loads(invoked.stdout) == {"StatusCode": 200, "ExecutedVersion": "$LATEST"}
    assert json.loads(out.read_text()) == {"hello": "world"}


def test_boto3_create_then_invoke(client: Any) -> None:
    name = create_function(client, {"app.py": HELLO})
    response, body = invoke_json(client, name, {"name": "nimbus"})
    assert response["StatusCode"] == 200
    assert body == {"hello": "nimbus"}
    assert "FunctionError" not in response


def test_state_becomes_active(client: Any) -> None:
    name = unique()
    client.create_function(FunctionName=name, Runtime="python3.11", Role=ROLE, Handler="app.handler",
                           Code={"ZipFile": make_zip({"app.py": HELLO})})  # fmt: skip
    state = wait_until(lambda: client.get_function_configuration(FunctionName=name)["State"] == "Active")
    assert state
    config = client.get_function_configuration(FunctionName=name)
    assert config["LastUpdateStatus"] == "Successful"
    assert "StateReason" not in config
