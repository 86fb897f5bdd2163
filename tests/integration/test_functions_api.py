"""The function control plane as boto3 and the aws cli see it: FunctionConfiguration field for field, state and
update-status transitions with their waiters, RevisionId locking, code download, paging, deletes, account settings,
packages from S3 and persistence across a restart."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import signal
import threading
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
from botocore.exceptions import ClientError, WaiterError

from tests.support import (
    REGION,
    ROLE,
    Server,
    create_function,
    free_port,
    invoke_json,
    make_zip,
    unique,
    wait_until,
)

HELLO = "def handler(event, context):\n    return {'hello': event.get('name', 'world')}\n"
ECHO_ENV = "import os\n\ndef handler(event, context):\n    return {'greeting': os.environ.get('GREETING')}\n"
LAST_MODIFIED = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}\+0000")
STALE_REVISION = (
    "The Revision Id provided does not match the latest Revision Id. "
    "Call the GetFunction/GetAlias API to retrieve the latest Revision Id"
)
WAIT = {"Delay": 1, "MaxAttempts": 60}


def _strip(response: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in response.items() if k != "ResponseMetadata"}


def _sha256_b64(package: bytes) -> str:
    return base64.b64encode(hashlib.sha256(package).digest()).decode()


def _wait_active(client: Any, name: str) -> None:
    client.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig=WAIT)


def _wait_updated(client: Any, name: str) -> None:
    client.get_waiter("function_updated_v2").wait(FunctionName=name, WaiterConfig=WAIT)


# -- FunctionConfiguration ------------------------------------------------------------------------------------------


def test_create_response_is_the_full_function_configuration(client: Any) -> None:
    name = unique()
    package = make_zip({"app.py": HELLO})
    response = client.create_function(FunctionName=name, Runtime="python3.12", Role=ROLE, Handler="app.handler",
                                      Code={"ZipFile": package})  # fmt: skip
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 201
    config = _strip(response)
    assert LAST_MODIFIED.fullmatch(config.pop("LastModified"))
    assert re.fullmatch(r"[0-9a-f-]{36}", config.pop("RevisionId"))
    runtime_arn = config.pop("RuntimeVersionConfig")["RuntimeVersionArn"]
    assert re.fullmatch(r"arn:aws:lambda:us-east-1::runtime:[0-9a-f]{64}", runtime_arn)
    assert config == {
        "FunctionName": name,
        "FunctionArn": f"arn:aws:lambda:us-east-1:000000000000:function:{name}",
        "Runtime": "python3.12",
        "Role": ROLE,
        "Handler": "app.handler",
        "CodeSize": len(package),
        "Description": "",
        "Timeout": 3,
        "MemorySize": 128,
        "CodeSha256": _sha256_b64(package),
        "Version": "$LATEST",
        "TracingConfig": {"Mode": "PassThrough"},
        "State": "Pending",
        "StateReason": "The function is being created.",
        "StateReasonCode": "Creating",
        "PackageType": "Zip",
        "Architectures": ["x86_64"],
        "EphemeralStorage": {"Size": 512},
        "SnapStart": {"ApplyOn": "None", "OptimizationStatus": "Off"},
        "LoggingConfig": {"LogFormat": "Text", "LogGroup": f"/aws/lambda/{name}"},
    }


def test_function_becomes_active_with_a_new_revision_and_successful_update_status(client: Any) -> None:
    name = unique()
    created = client.create_function(FunctionName=name, Runtime="python3.12", Role=ROLE, Handler="app.handler",
                                     Code={"ZipFile": make_zip({"app.py": HELLO})})  # fmt: skip
    _wait_active(client, name)
    config = client.get_function_configuration(FunctionName=name)
    assert config["State"] == "Active"
    assert config["LastUpdateStatus"] == "Successful"
    for absent in ("StateReason", "StateReasonCode", "LastUpdateStatusReason", "LastUpdateStatusReasonCode"):
        assert absent not in config
    assert config["RevisionId"] != created["RevisionId"]
    assert config["LastModified"] == created["LastModified"]
    client.get_waiter("function_active").wait(FunctionName=name, WaiterConfig=WAIT)


def test_configured_members_are_echoed(client: Any) -> None:
    name = create_function(
        client, {"app.py": HELLO}, runtime="python3.12", Description="d", Timeout=30, MemorySize=256,
        Environment={"Variables": {"GREETING": "hi"}}, Architectures=["arm64"], EphemeralStorage={"Size": 1024},
        TracingConfig={"Mode": "Active"},
    )  # fmt: skip
    config = client.get_function_configuration(FunctionName=name)
    assert (config["Description"], config["Timeout"], config["MemorySize"]) == ("d", 30, 256)
    assert config["Environment"] == {"Variables": {"GREETING": "hi"}}
    assert config["Architectures"] == ["arm64"]
    assert config["EphemeralStorage"] == {"Size": 1024}
    assert config["TracingConfig"] == {"Mode": "Active"}


def test_an_empty_environment_is_echoed_as_empty_variables(client: Any) -> None:
    name = create_function(client, {"app.py": HELLO}, Environment={"Variables": {}})
    assert client.get_function_configuration(FunctionName=name)["Environment"] == {"Variables": {}}


def test_get_function_has_configuration_code_location_and_tags(client: Any) -> None:
    package = make_zip({"app.py": HELLO, "lib/data.txt": "payload"})
    name = create_function(client, {"app.py": HELLO, "lib/data.txt": "payload"}, Tags={"team": "core"})
    response = client.get_function(FunctionName=name)
    assert response["Configuration"] == _strip(client.get_function_configuration(FunctionName=name))
    assert response["Tags"] == {"team": "core"}
    assert response["Code"]["RepositoryType"] == "S3"
    downloaded = httpx.get(response["Code"]["Location"], timeout=30)
    assert downloaded.status_code == 200
    assert downloaded.content == package
    assert _sha256_b64(downloaded.content) == response["Configuration"]["CodeSha256"]


def test_get_function_without_tags_has_no_tags_member(client: Any) -> None:
    name = create_function(client, {"app.py": HELLO})
    assert "Tags" not in client.get_function(FunctionName=name)


def test_a_qualifier_in_the_request_qualifies_the_function_arn(client: Any) -> None:
    name = create_function(client, {"app.py": HELLO})
    arn = f"arn:aws:lambda:us-east-1:000000000000:function:{name}"
    assert client.get_function_configuration(FunctionName=name)["FunctionArn"] == arn
    assert client.get_function_configuration(FunctionName=name, Qualifier="$LATEST")["FunctionArn"] == f"{arn}:$LATEST"
    assert client.get_function(FunctionName=f"{arn}:$LATEST")["Configuration"]["FunctionArn"] == f"{arn}:$LATEST"


# -- updates ----------------------------------------------------------------------------------------------------


def test_update_configuration_is_in_progress_then_successful(client: Any) -> None:
    name = create_function(client, {"app.py": ECHO_ENV})
    before = client.get_function_configuration(FunctionName=name)
    updated = client.update_function_configuration(
        FunctionName=name, Timeout=10, Description="v2", Environment={"Variables": {"GREETING": "hello"}}
    )
    assert updated["State"] == "Active"
    assert updated["LastUpdateStatus"] == "InProgress"
    assert updated["LastUpdateStatusReason"] == "The function is being created."
    assert updated["LastUpdateStatusReasonCode"] == "Creating"
    assert updated["RevisionId"] != before["RevisionId"]
    assert (updated["Timeout"], updated["Description"]) == (10, "v2")
    assert updated["Environment"] == {"Variables": {"GREETING": "hello"}}
    _wait_updated(client, name)
    settled = client.get_function_configuration(FunctionName=name)
    assert settled["LastUpdateStatus"] == "Successful"
    assert "LastUpdateStatusReason" not in settled
    assert settled["RevisionId"] not in (before["RevisionId"], updated["RevisionId"])
    _, body = invoke_json(client, name)
    assert body == {"greeting": "hello"}


def test_update_code_changes_sha_and_size_and_runs_the_new_code(client: Any) -> None:
    name = create_function(client, {"app.py": HELLO})
    new_code = "def handler(event, context):\n    return {'version': 2}\n"
    package = make_zip({"app.py": new_code})
    updated = client.update_function_code(FunctionName=name, ZipFile=package)
    assert updated["CodeSha256"] == _sha256_b64(package)
    assert updated["CodeSize"] == len(package)
    assert updated["LastUpdateStatus"] == "InProgress"
    _wait_updated(client, name)
    _, body = invoke_json(client, name)
    assert body == {"version": 2}


def test_a_stale_revision_id_is_precondition_failed(client: Any) -> None:
    name = create_function(client, {"app.py": HELLO})
    current = client.get_function_configuration(FunctionName=name)["RevisionId"]
    updated = client.update_function_configuration(FunctionName=name, Description="x", RevisionId=current)
    _wait_updated(client, name)
    for call, kwargs in (
        (client.update_function_configuration, {"Description": "y"}),
        (client.update_function_code, {"ZipFile": make_zip({"app.py": HELLO})}),
    ):
        with pytest.raises(client.exceptions.PreconditionFailedException) as caught:
            call(FunctionName=name, RevisionId=current, **kwargs)
        response = caught.value.response
        assert response["ResponseMetadata"]["HTTPStatusCode"] == 412
        assert response["Error"]["Message"] == STALE_REVISION
        assert response["message"] == STALE_REVISION
        assert response["Type"] == "User"
    assert updated["RevisionId"] != current
    assert client.get_function_configuration(FunctionName=name)["Description"] == "x"


def test_the_latest_revision_id_is_accepted(client: Any) -> None:
    name = create_function(client, {"app.py": HELLO})
    revision = client.get_function(FunctionName=name)["Configuration"]["RevisionId"]
    updated = client.update_function_code(FunctionName=name, ZipFile=make_zip({"app.py": HELLO}), RevisionId=revision)
    assert updated["RevisionId"] != revision


def test_concurrent_updates_are_all_applied(server: Server, client: Any) -> None:
    name = create_function(client, {"app.py": HELLO})
    errors: list[BaseException] = []

    def update(**members: Any) -> None:
        try:
            server.lambda_client().update_function_configuration(FunctionName=name, **members)
        except BaseException as exc:  # collected and re-raised in the test thread
            errors.append(exc)

    threads = [threading.Thread(target=update, kwargs=m) for m in ({"Description": "d"}, {"Timeout": 9},
                                                                  {"MemorySize": 256})]  # fmt: skip
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors
    _wait_updated(client, name)
    config = client.get_function_configuration(FunctionName=name)
    assert (config["Description"], config["Timeout"], config["MemorySize"]) == ("d", 9, 256)


def test_aws_cli_update_then_wait_function_updated_v2(server: Server, client: Any, tmp_path: Path) -> None:
    name = create_function(client, {"app.py": HELLO})
    updated = server.aws("lambda", "update-function-configuration", "--function-name", name, "--memory-size", "512")
    assert updated.returncode == 0, updated.stderr
    assert json.loads(updated.stdout)["LastUpdateStatus"] == "InProgress"
    waited = server.aws("lambda", "wait", "function-updated-v2", "--function-name", name)
    assert waited.returncode == 0, waited.stderr
    package = tmp_path / "function.zip"
    package.write_bytes(make_zip({"app.py": "def handler(e, c):\n    return 'cli'\n"}))
    code = server.aws("lambda", "update-function-code", "--function-name", name, "--zip-file", f"fileb://{package}")
    assert code.returncode == 0, code.stderr
    assert json.loads(code.stdout)["CodeSha256"] == _sha256_b64(package.read_bytes())
    assert server.aws("lambda", "wait", "function-updated-v2", "--function-name", name).returncode == 0
    config = json.loads(server.aws("lambda", "get-function-configuration", "--function-name", name).stdout)
    assert (config["MemorySize"], config["LastUpdateStatus"]) == (512, "Successful")


# -- create and wait with the aws cli ---------------------------------------------------------------------------


def test_aws_cli_create_wait_active_get_and_delete(server: Server, tmp_path: Path) -> None:
    name = unique()
    package = tmp_path / "function.zip"
    package.write_bytes(make_zip({"app.py": HELLO}))
    created = server.aws("lambda", "create-function", "--function-name", name, "--runtime", "python3.12",
                         "--handler", "app.handler", "--role", ROLE, "--zip-file", f"fileb://{package}",
                         "--environment", "Variables={GREETING=hi}", "--tags", "team=core")  # fmt: skip
    assert created.returncode == 0, created.stderr
    document = json.loads(created.stdout)
    assert document["State"] == "Pending"
    assert "LastUpdateStatus" not in document
    assert document["CodeSha256"] == _sha256_b64(package.read_bytes())
    waited = server.aws("lambda", "wait", "function-active-v2", "--function-name", name)
    assert waited.returncode == 0, waited.stderr
    got = json.loads(server.aws("lambda", "get-function", "--function-name", name, check=True).stdout)
    assert got["Configuration"]["State"] == "Active"
    assert got["Configuration"]["Environment"] == {"Variables": {"GREETING": "hi"}}
    assert got["Tags"] == {"team": "core"}
    assert server.aws("lambda", "delete-function", "--function-name", name).returncode == 0
    gone = server.aws("lambda", "get-function", "--function-name", name)
    assert "(ResourceNotFoundException)" in gone.stderr


# -- list -------------------------------------------------------------------------------------------------------


def test_list_items_omit_state_and_runtime_version(client: Any) -> None:
    name = create_function(client, {"app.py": HELLO}, Environment={"Variables": {"GREETING": "hi"}})
    items = [f for page in client.get_paginator("list_functions").paginate() for f in page["Functions"]]
    item = next(f for f in items if f["FunctionName"] == name)
    for absent in ("State", "StateReason", "StateReasonCode", "LastUpdateStatus", "RuntimeVersionConfig"):
        assert absent not in item
    assert item["Environment"] == {"Variables": {"GREETING": "hi"}}
    assert item["FunctionArn"] == f"arn:aws:lambda:us-east-1:000000000000:function:{name}"
    assert item["RevisionId"] == client.get_function_configuration(FunctionName=name)["RevisionId"]


def test_list_functions_pages_at_50_and_clients_follow_next_marker(fresh_server: Server) -> None:
    server = fresh_server.start()
    client = server.lambda_client()
    package = make_zip({"app.py": HELLO})
    names = sorted(f"page-{i:03d}" for i in range(53))
    for name in names:
        client.create_function(FunctionName=name, Runtime="python3.12", Role=ROLE, Handler="app.handler",
                               Code={"ZipFile": package})  # fmt: skip
    first = client.list_functions()
    assert len(first["Functions"]) == 50
    second = client.list_functions(Marker=first["NextMarker"])
    assert [f["FunctionName"] for f in first["Functions"] + second["Functions"]] == names
    assert "NextMarker" not in second
    small = client.list_functions(MaxItems=5)
    assert [f["FunctionName"] for f in small["Functions"]] == names[:5]
    assert [f["FunctionName"] for f in client.list_functions(MaxItems=500)["Functions"]] == names[:50]
    listed = [
        f["FunctionName"] for page in client.get_paginator("list_functions").paginate() for f in page["Functions"]
    ]
    assert listed == names
    result = server.aws("lambda", "list-functions")
    assert result.returncode == 0, result.stderr
    assert [f["FunctionName"] for f in json.loads(result.stdout)["Functions"]] == names
    limited = server.aws("lambda", "list-functions", "--max-items", "7")
    assert [f["FunctionName"] for f in json.loads(limited.stdout)["Functions"]] == names[:7]
    settings = client.get_account_settings()
    assert settings["AccountUsage"] == {"TotalCodeSize": len(package) * 53, "FunctionCount": 53}


# -- delete -----------------------------------------------------------------------------------------------------


def test_delete_returns_204_and_the_function_is_gone(client: Any) -> None:
    name = create_function(client, {"app.py": HELLO})
    response = client.delete_function(FunctionName=name)
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert response["StatusCode"] == 204
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        client.get_function(FunctionName=name)
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        client.delete_function(FunctionName=name)
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        client.invoke(FunctionName=name)


def test_deleting_qualified_latest_is_refused(client: Any) -> None:
    name = create_function(client, {"app.py": HELLO})
    with pytest.raises(client.exceptions.InvalidParameterValueException) as caught:
        client.delete_function(FunctionName=name, Qualifier="$LATEST")
    assert caught.value.response["Error"]["Message"] == (
        "$LATEST version cannot be deleted without deleting the function."
    )
    assert client.get_function_configuration(FunctionName=name)["FunctionName"] == name


def test_a_deleted_name_can_be_created_again(client: Any) -> None:
    name = create_function(client, {"app.py": HELLO})
    client.delete_function(FunctionName=name)
    create_function(client, {"app.py": "def handler(e, c):\n    return 'again'\n"}, name=name)
    assert invoke_json(client, name)[1] == "again"


# -- account settings -------------------------------------------------------------------------------------------


def test_account_settings_report_aws_limits_and_usage(fresh_server: Server) -> None:
    # A server of its own: tests on the shared one reserve concurrency, which lowers the unreserved figure.
    client = fresh_server.start().lambda_client()
    create_function(client, {"app.py": HELLO})
    settings = client.get_account_settings()
    assert settings["AccountLimit"] == {
        "TotalCodeSize": 80530636800,
        "CodeSizeUnzipped": 262144000,
        "CodeSizeZipped": 52428800,
        "ConcurrentExecutions": 1000,
        "UnreservedConcurrentExecutions": 1000,
    }
    assert settings["AccountUsage"]["FunctionCount"] >= 1
    assert settings["AccountUsage"]["TotalCodeSize"] > 0


# -- packages from S3 -------------------------------------------------------------------------------------------


@pytest.fixture
def s3_endpoint() -> Any:
    from moto.server import ThreadedMotoServer

    port = free_port()
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    moto.start()
    yield f"http://127.0.0.1:{port}"
    moto.stop()


def test_create_and_update_from_an_s3_object(fresh_server: Server, s3_endpoint: str) -> None:
    s3 = boto3.client("s3", endpoint_url=s3_endpoint, region_name=REGION, aws_access_key_id="moto",
                      aws_secret_access_key="moto")  # fmt: skip
    s3.create_bucket(Bucket="code-bucket")
    first = make_zip({"app.py": "def handler(e, c):\n    return 's3-v1'\n"})
    second = make_zip({"app.py": "def handler(e, c):\n    return 's3-v2'\n"})
    s3.put_object(Bucket="code-bucket", Key="v1.zip", Body=first)
    s3.put_object(Bucket="code-bucket", Key="v2.zip", Body=second)
    fresh_server.extra_env = {"AWS_ENDPOINT_URL_S3": s3_endpoint, "AWS_ACCESS_KEY_ID": "moto",
                              "AWS_SECRET_ACCESS_KEY": "moto", "AWS_DEFAULT_REGION": REGION}  # fmt: skip
    client = fresh_server.start().lambda_client()
    name = unique()
    created = client.create_function(FunctionName=name, Runtime="python3.12", Role=ROLE, Handler="app.handler",
                                     Code={"S3Bucket": "code-bucket", "S3Key": "v1.zip"})  # fmt: skip
    assert (created["CodeSha256"], created["CodeSize"]) == (_sha256_b64(first), len(first))
    _wait_active(client, name)
    assert invoke_json(client, name)[1] == "s3-v1"
    updated = client.update_function_code(FunctionName=name, S3Bucket="code-bucket", S3Key="v2.zip")
    assert updated["CodeSha256"] == _sha256_b64(second)
    _wait_updated(client, name)
    assert invoke_json(client, name)[1] == "s3-v2"
    assert httpx.get(client.get_function(FunctionName=name)["Code"]["Location"], timeout=30).content == second
    with pytest.raises(client.exceptions.InvalidParameterValueException) as caught:
        client.create_function(FunctionName=unique(), Runtime="python3.12", Role=ROLE, Handler="app.handler",
                               Code={"S3Bucket": "code-bucket", "S3Key": "missing.zip"})  # fmt: skip
    assert caught.value.response["Error"]["Message"] == (
        "Error occurred while GetObject. S3 Error Code: NoSuchKey. S3 Error Message: The specified key does not exist."
    )


# -- persistence ------------------------------------------------------------------------------------------------


def test_functions_survive_a_restart(fresh_server: Server) -> None:
    client = fresh_server.start().lambda_client()
    name = create_function(client, {"app.py": ECHO_ENV}, Environment={"Variables": {"GREETING": "persisted"}})
    before = client.get_function_configuration(FunctionName=name)
    assert invoke_json(client, name)[1] == {"greeting": "persisted"}
    assert fresh_server.stop(signal.SIGTERM) == 0
    fresh_server.start()
    after = client.get_function_configuration(FunctionName=name)
    assert _strip(after) == _strip(before)
    assert invoke_json(client, name)[1] == {"greeting": "persisted"}
    assert [f["FunctionName"] for f in client.list_functions()["Functions"]] == [name]


def test_waiting_for_a_missing_function_fails(client: Any) -> None:
    with pytest.raises(WaiterError):
        client.get_waiter("function_active_v2").wait(FunctionName=unique(), WaiterConfig={"Delay": 1, "MaxAttempts": 1})


def test_function_exists_waiter(client: Any) -> None:
    name = create_function(client, {"app.py": HELLO})
    client.get_waiter("function_exists").wait(FunctionName=name, WaiterConfig=WAIT)
    assert wait_until(lambda: client.get_function(FunctionName=name)["Configuration"]["State"] == "Active")


def test_updates_to_a_missing_function_are_not_found(client: Any) -> None:
    name = unique()
    for call, kwargs in (
        (client.update_function_configuration, {"Timeout": 5}),
        (client.update_function_code, {"ZipFile": make_zip({"app.py": HELLO})}),
    ):
        with pytest.raises(ClientError) as caught:
            call(FunctionName=name, **kwargs)
        assert caught.value.response["Error"] == {
            "Code": "ResourceNotFoundException",
            "Message": f"Function not found: arn:aws:lambda:us-east-1:000000000000:function:{name}",
        }
