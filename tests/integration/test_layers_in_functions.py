"""Functions with Layers: validation with AWS's messages, the configuration's Layers, and what the function sees
(python/ and python/lib/pythonX.Y/site-packages importable, later layers win, bin/ on PATH, a custom runtime's
bootstrap from a layer)."""

from __future__ import annotations

import io
import json
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.support import ROLE, Server, create_function, error, invoke_json, make_zip, unique

ACCOUNT_LAYER = "arn:aws:lambda:us-east-1:000000000000:layer"
REPORT = """
import os, shutil, sys
import shared
def handler(event, context):
    return {"value": shared.VALUE, "tool": shutil.which("layertool") is not None,
            "internal": [k for k in os.environ if k.startswith("_NIMBUS")]}
"""
SHELL_BOOTSTRAP = """#!/bin/sh
exec {python} -c '
import http.client, os
host, port = os.environ["AWS_LAMBDA_RUNTIME_API"].split(":")
while True:
    conn = http.client.HTTPConnection(host, int(port))
    conn.request("GET", "/2018-06-01/runtime/invocation/next")
    response = conn.getresponse()
    event = response.read()
    request_id = response.getheader("Lambda-Runtime-Aws-Request-Id")
    conn.request("POST", "/2018-06-01/runtime/invocation/" + request_id + "/response",
                 body=b"{{\\"from\\": \\"layer\\"}}")
    conn.getresponse().read()
'
"""


def publish(client: Any, files: dict[str, str], modes: dict[str, int] | None = None, name: str | None = None) -> str:
    response = client.publish_layer_version(LayerName=name or unique("layer"),
                                            Content={"ZipFile": make_zip(files, modes)})  # fmt: skip
    return str(response["LayerVersionArn"])


def shared_layer(client: Any, value: str) -> str:
    return publish(client, {"python/shared.py": f"VALUE = {value!r}\n"})


def test_a_handler_imports_from_a_layer(client: Any) -> None:
    layer = publish(client, {"python/shared.py": "VALUE = 'layer'\n", "bin/layertool": "#!/bin/sh\necho hi\n"},
                    modes={"bin/layertool": 0o755})  # fmt: skip
    name = create_function(client, {"app.py": REPORT}, Layers=[layer])
    response, body = invoke_json(client, name)
    assert "FunctionError" not in response, body
    assert body == {"value": "layer", "tool": True, "internal": []}


def test_later_layers_win_and_the_order_can_change(client: Any) -> None:
    first, second = shared_layer(client, "first"), shared_layer(client, "second")
    name = create_function(client, {"app.py": REPORT}, Layers=[first, second])
    assert invoke_json(client, name)[1]["value"] == "second"
    client.update_function_configuration(FunctionName=name, Layers=[second, first])
    client.get_waiter("function_updated_v2").wait(FunctionName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    assert invoke_json(client, name)[1]["value"] == "first"


def test_site_packages_of_the_runtime_and_function_code_shadowing(client: Any) -> None:
    layer = publish(client, {
        "python/lib/python3.11/site-packages/shared.py": "VALUE = 'site-packages'\n",
        "python/shared.py": "VALUE = 'python'\n",
        "python/lib/python3.11/site-packages/pkgmod.py": "WHERE = 'layer'\n",
    })  # fmt: skip
    app = "import shared, pkgmod\ndef handler(event, context):\n    return [shared.VALUE, pkgmod.WHERE]\n"
    name = create_function(client, {"app.py": app}, runtime="python3.11", Layers=[layer])
    assert invoke_json(client, name)[1] == ["site-packages", "layer"]
    own = create_function(client, {"app.py": app, "pkgmod.py": "WHERE = 'function'\n"}, runtime="python3.11",
                          Layers=[layer])  # fmt: skip
    assert invoke_json(client, own)[1] == ["site-packages", "function"]


def test_a_custom_runtime_bootstrap_from_a_layer(client: Any) -> None:
    bootstrap = SHELL_BOOTSTRAP.format(python=sys.executable)
    layer = publish(client, {"bootstrap": bootstrap}, modes={"bootstrap": 0o755})
    name = create_function(client, {"README": "code without a bootstrap"}, runtime="provided.al2023",
                           handler="unused", Layers=[layer])  # fmt: skip
    response, body = invoke_json(client, name, {"n": 1})
    assert "FunctionError" not in response, body
    assert body == {"from": "layer"}


def test_the_configuration_lists_layers_with_their_size(client: Any) -> None:
    layer = shared_layer(client, "x")
    size = client.get_layer_version_by_arn(Arn=layer)["Content"]["CodeSize"]
    name = unique()
    created = client.create_function(FunctionName=name, Runtime="python3.12", Role=ROLE, Handler="app.handler",
                                     Code={"ZipFile": make_zip({"app.py": REPORT})}, Layers=[layer])  # fmt: skip
    assert created["Layers"] == [{"Arn": layer, "CodeSize": size}]
    client.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    assert client.get_function(FunctionName=name)["Configuration"]["Layers"] == [{"Arn": layer, "CodeSize": size}]
    cleared = client.update_function_configuration(FunctionName=name, Layers=[])
    assert "Layers" not in cleared


def test_a_deleted_layer_version_keeps_serving_its_functions(client: Any) -> None:
    layer = shared_layer(client, "kept")
    name = create_function(client, {"app.py": REPORT}, Layers=[layer])
    assert invoke_json(client, name)[1]["value"] == "kept"
    layer_name, version = layer.rsplit(":", 2)[1:]
    client.delete_layer_version(LayerName=layer_name, VersionNumber=int(version))
    client.update_function_configuration(FunctionName=name, Description="a new environment, same layers")
    client.get_waiter("function_updated_v2").wait(FunctionName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    assert invoke_json(client, name)[1]["value"] == "kept"
    assert client.get_function_configuration(FunctionName=name)["Layers"][0]["Arn"] == layer


def layer_errors(client: Any) -> list[tuple[list[str], str]]:
    """(Layers, AWS's message) pairs."""
    layer_name = unique("layer")
    v1 = publish(client, {"python/a.py": ""}, name=layer_name)
    v2 = publish(client, {"python/a.py": ""}, name=layer_name)
    others = [publish(client, {"python/a.py": ""}) for _ in range(5)]
    return [
        ([v1, *others], "Cannot reference more than 5 layers."),
        ([v1.replace("us-east-1", "eu-west-1")],
         "Layers are not in the same region as the function. Layers are expected to be in region us-east-1."),
        ([v1, v2], "Two different versions of the same layer are not allowed to be referenced in the same function. "
                   f"{v1} and {v2} are versions of the same layer."),
        ([v1, v1], "Two different versions of the same layer are not allowed to be referenced in the same function. "
                   f"{v1} and {v1} are versions of the same layer."),
        ([f"{ACCOUNT_LAYER}:doesnotexist:1"], f"Layer version {ACCOUNT_LAYER}:doesnotexist:1 does not exist."),
        ([f"{ACCOUNT_LAYER}:{layer_name}:9"],
         f"Layer version {ACCOUNT_LAYER}:{layer_name}:9 does not exist."),
    ]  # fmt: skip


def test_layers_are_refused_as_aws_refuses_them(client: Any) -> None:
    existing = create_function(client, {"app.py": REPORT.replace("import shared\n", "")})
    for layers, message in layer_errors(client):
        with pytest.raises(ClientError) as caught:
            client.create_function(FunctionName=unique(), Runtime="python3.12", Role=ROLE, Handler="app.handler",
                                   Code={"ZipFile": make_zip({"app.py": ""})}, Layers=layers)  # fmt: skip
        assert error(caught) == ("InvalidParameterValueException", message, 400)
        with pytest.raises(ClientError) as caught:
            client.update_function_configuration(FunctionName=existing, Layers=layers)
        assert error(caught) == ("InvalidParameterValueException", message, 400)


def test_a_layer_arn_without_version_fails_validation(client: Any) -> None:
    with pytest.raises(ClientError) as caught:
        client.create_function(FunctionName=unique(), Runtime="python3.12", Role=ROLE, Handler="app.handler",
                               Code={"ZipFile": make_zip({"app.py": ""})}, Layers=[f"{ACCOUNT_LAYER}:x"])  # fmt: skip
    code, message, status = error(caught)
    assert (code, status) == ("ValidationException", 400)
    assert f"Value '[{ACCOUNT_LAYER}:x]' at 'layers' failed to satisfy constraint: Member must satisfy constraint" in (
        message
    )


def zeros(name: str, size: int) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive, archive.open(name, "w") as member:
        block = bytes(1 << 20)
        for _ in range(size >> 20):
            member.write(block)
    return buffer.getvalue()


def test_code_and_layers_together_are_limited_to_250_mb(client: Any) -> None:
    big = [client.publish_layer_version(LayerName=unique("big"), Content={"ZipFile": zeros(f"f{i}", 130 << 20)})
           for i in range(2)]  # fmt: skip
    arns = [layer["LayerVersionArn"] for layer in big]
    package = make_zip({"app.py": "def handler(event, context):\n    return 1\n"})
    total = (260 << 20) + len("def handler(event, context):\n    return 1\n")
    with pytest.raises(ClientError) as caught:
        client.create_function(FunctionName=unique(), Runtime="python3.12", Role=ROLE, Handler="app.handler",
                               Code={"ZipFile": package}, Layers=arns)  # fmt: skip
    assert error(caught) == (
        "InvalidParameterValueException",
        f"Function code combined with layers exceeds the maximum allowed size of 262144000 bytes. The actual size is "
        f"{total} bytes.",
        400,
    )


def test_the_aws_cli_creates_functions_with_layers_and_reports_errors(server: Server, client: Any,
                                                                      tmp_path: Path) -> None:  # fmt: skip
    layer = shared_layer(client, "cli")
    package = tmp_path / "app.zip"
    package.write_bytes(make_zip({"app.py": REPORT}))
    name = unique()
    created = server.aws("lambda", "create-function", "--function-name", name, "--runtime", "python3.12",
                         "--role", ROLE, "--handler", "app.handler", "--zip-file", f"fileb://{package}",
                         "--layers", layer)  # fmt: skip
    assert created.returncode == 0, created.stderr
    assert json.loads(created.stdout)["Layers"][0]["Arn"] == layer
    client.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    body = invoke_json(client, name)[1]
    assert body["value"] == "cli", body
    missing = f"{ACCOUNT_LAYER}:doesnotexist:1"
    refused = server.aws("lambda", "update-function-configuration", "--function-name", name, "--layers", missing)
    assert "(InvalidParameterValueException) when calling the UpdateFunctionConfiguration operation: Layer version " \
        f"{missing} does not exist." in refused.stderr  # fmt: skip
    many = server.aws("lambda", "update-function-configuration", "--function-name", name, "--layers", *[layer] * 6)
    assert "Cannot reference more than 5 layers." in many.stderr
    region = server.aws("lambda", "update-function-configuration", "--function-name", name, "--layers",
                        layer.replace("us-east-1", "eu-west-1"))  # fmt: skip
    assert "Layers are not in the same region as the function. Layers are expected to be in region us-east-1." \
        in region.stderr  # fmt: skip
    twice = server.aws("lambda", "update-function-configuration", "--function-name", name, "--layers", layer, layer)
    assert "Two different versions of the same layer are not allowed to be referenced in the same function." \
        in twice.stderr  # fmt: skip


@pytest.mark.parametrize("level", ["none", "process"])
def test_layers_without_a_private_opt(fresh_server: Server, level: str) -> None:
    fresh_server.extra_env = {"NIMBUS_ISOLATION": level}
    client = fresh_server.start().lambda_client()
    first, second = shared_layer(client, "first"), shared_layer(client, "second")
    tool = publish(client, {"bin/layertool": "#!/bin/sh\n"}, modes={"bin/layertool": 0o755})
    name = create_function(client, {"app.py": REPORT}, Layers=[first, second, tool])
    assert invoke_json(client, name)[1] == {"value": "second", "tool": True, "internal": []}
    bootstrap = publish(client, {"bootstrap": SHELL_BOOTSTRAP.format(python=sys.executable)},
                        modes={"bootstrap": 0o755})  # fmt: skip
    custom = create_function(client, {"README": ""}, runtime="provided.al2023", handler="x", Layers=[bootstrap])
    assert invoke_json(client, custom)[1] == {"from": "layer"}
