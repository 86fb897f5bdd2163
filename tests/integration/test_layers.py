"""Layer operations through boto3 and the aws cli: shapes and AWS's errors (recorded in LocalStack's parity
snapshots, TestLambdaLayer::*)."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from botocore.exceptions import ClientError

from tests.support import Server, error, make_zip, unique

LAYER_FILES = {"python/shared.py": "VALUE = 'from the layer'\n"}


def layer_arn(name: str) -> str:
    return f"arn:aws:lambda:us-east-1:000000000000:layer:{name}"


def publish(client: Any, name: str, files: dict[str, str] | None = None, **extra: Any) -> dict[str, Any]:
    content = {"ZipFile": make_zip(files or LAYER_FILES)}
    response: dict[str, Any] = client.publish_layer_version(LayerName=name, Content=content, **extra)
    return response


def test_publish_answers_the_version_with_its_content(client: Any) -> None:
    name = unique("layer")
    package = make_zip(LAYER_FILES)
    response = client.publish_layer_version(
        LayerName=name, Content={"ZipFile": package}, Description="shared code", CompatibleRuntimes=["python3.12"],
        CompatibleArchitectures=["x86_64"], LicenseInfo="MIT",
    )  # fmt: skip
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert response["LayerArn"] == layer_arn(name)
    assert response["LayerVersionArn"] == f"{layer_arn(name)}:1"
    assert response["Version"] == 1
    assert response["Description"] == "shared code"
    assert response["CompatibleRuntimes"] == ["python3.12"]
    assert response["CompatibleArchitectures"] == ["x86_64"]
    assert response["LicenseInfo"] == "MIT"
    assert response["CreatedDate"].endswith("+0000")
    content = response["Content"]
    assert content["CodeSha256"] == base64.b64encode(hashlib.sha256(package).digest()).decode()
    assert content["CodeSize"] == len(package)
    assert httpx.get(content["Location"]).content == package


def test_members_not_given_are_omitted_and_empty_lists_echoed(client: Any) -> None:
    bare = publish(client, unique("layer"))
    assert "CompatibleRuntimes" not in bare and "CompatibleArchitectures" not in bare and "LicenseInfo" not in bare
    assert bare["Description"] == ""
    empty = publish(client, unique("layer"), CompatibleRuntimes=[], CompatibleArchitectures=[])
    assert empty["CompatibleRuntimes"] == [] and empty["CompatibleArchitectures"] == []


def test_get_and_get_by_arn_answer_the_published_version(client: Any) -> None:
    name = unique("layer")
    published = publish(client, name, Description="d")
    by_name = client.get_layer_version(LayerName=name, VersionNumber=1)
    by_layer_arn = client.get_layer_version(LayerName=layer_arn(name), VersionNumber=1)
    by_arn = client.get_layer_version_by_arn(Arn=f"{layer_arn(name)}:1")
    for response in (by_name, by_layer_arn, by_arn):
        assert response["LayerVersionArn"] == published["LayerVersionArn"]
        assert response["Content"]["CodeSha256"] == published["Content"]["CodeSha256"]
        assert response["CreatedDate"] == published["CreatedDate"]


def test_version_numbers_are_never_reused(client: Any) -> None:
    name = unique("layer")
    publish(client, name)
    publish(client, name)
    for version in (1, 2):
        response = client.delete_layer_version(LayerName=name, VersionNumber=version)
        assert response["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert client.list_layer_versions(LayerName=name)["LayerVersions"] == []
    assert publish(client, name)["Version"] == 3


def test_list_layer_versions_is_newest_first_and_pages(client: Any) -> None:
    name = unique("layer")
    for _ in range(3):
        publish(client, name, CompatibleRuntimes=["python3.12"])
    listed = client.list_layer_versions(LayerName=name)["LayerVersions"]
    assert [item["Version"] for item in listed] == [3, 2, 1]
    assert set(listed[0]) == {"LayerVersionArn", "Version", "Description", "CreatedDate", "CompatibleRuntimes"}
    first = client.list_layer_versions(LayerName=name, MaxItems=2)
    assert [item["Version"] for item in first["LayerVersions"]] == [3, 2]
    rest = client.list_layer_versions(LayerName=name, MaxItems=2, Marker=first["NextMarker"])
    assert [item["Version"] for item in rest["LayerVersions"]] == [1]
    assert "NextMarker" not in rest


def test_list_filters_by_compatible_runtime_and_architecture(client: Any) -> None:
    name = unique("layer")
    publish(client, name, CompatibleRuntimes=["python3.11"], CompatibleArchitectures=["arm64"])
    publish(client, name, CompatibleRuntimes=["python3.12"])
    by_runtime = client.list_layer_versions(LayerName=name, CompatibleRuntime="python3.11")["LayerVersions"]
    assert [item["Version"] for item in by_runtime] == [1]
    by_arch = client.list_layer_versions(LayerName=name, CompatibleArchitecture="arm64")["LayerVersions"]
    assert [item["Version"] for item in by_arch] == [1]
    layers = client.list_layers(CompatibleRuntime="python3.11")["Layers"]
    mine = [layer for layer in layers if layer["LayerName"] == name]
    assert mine == [{"LayerName": name, "LayerArn": layer_arn(name), "LatestMatchingVersion": by_runtime[0]}]


def test_list_layers_names_each_layers_latest_version(client: Any) -> None:
    name = unique("layer")
    publish(client, name)
    publish(client, name)
    paginator = client.get_paginator("list_layers")
    layers = [layer for page in paginator.paginate(PaginationConfig={"PageSize": 1}) for layer in page["Layers"]]
    mine = [layer for layer in layers if layer["LayerName"] == name]
    assert [layer["LatestMatchingVersion"]["Version"] for layer in mine] == [2]
    assert len({layer["LayerName"] for layer in layers}) == len(layers)


def test_a_layer_that_does_not_exist(client: Any) -> None:
    name = unique("layer")
    assert client.list_layer_versions(LayerName=name)["LayerVersions"] == []
    missing = ("ResourceNotFoundException", "The resource you requested does not exist.", 404)
    with pytest.raises(ClientError) as caught:
        client.get_layer_version(LayerName=name, VersionNumber=1)
    assert error(caught) == missing
    with pytest.raises(ClientError) as caught:
        client.get_layer_version_by_arn(Arn=f"{layer_arn(name)}:1")
    assert error(caught) == missing
    assert client.delete_layer_version(LayerName=name, VersionNumber=1)["ResponseMetadata"]["HTTPStatusCode"] == 204


def test_version_numbers_below_one_are_refused(client: Any) -> None:
    name = unique("layer")
    publish(client, name)
    expected = ("InvalidParameterValueException", "Layer Version Cannot be less than 1", 400)
    for call in (client.get_layer_version, client.delete_layer_version):
        for version in (0, -1):
            with pytest.raises(ClientError) as caught:
                call(LayerName=name, VersionNumber=version)
            assert error(caught) == expected


def test_publish_without_content_is_refused(client: Any) -> None:
    with pytest.raises(ClientError) as caught:
        client.publish_layer_version(LayerName=unique("layer"), Content={})
    assert error(caught) == ("InvalidParameterValueException", "Missing Content", 400)


def test_publish_of_a_broken_zip_is_refused(client: Any) -> None:
    with pytest.raises(ClientError) as caught:
        client.publish_layer_version(LayerName=unique("layer"), Content={"ZipFile": b"not a zip"})
    assert error(caught) == (
        "InvalidParameterValueException",
        "Could not unzip uploaded file. Please check your file, then try to upload again.",
        400,
    )


def test_get_by_arn_refuses_an_arn_without_version(client: Any) -> None:
    with pytest.raises(ClientError) as caught:
        client.get_layer_version_by_arn(Arn=layer_arn(unique("layer")))
    code, message, status = error(caught)
    assert (code, status) == ("ValidationException", 400)
    assert message.startswith("1 validation error detected: Value ") and "at 'arn' failed to satisfy" in message


def test_the_aws_cli_drives_every_layer_operation(server: Server, tmp_path: Path) -> None:
    name = unique("layer")
    package = tmp_path / "layer.zip"
    package.write_bytes(make_zip(LAYER_FILES))
    published = server.aws("lambda", "publish-layer-version", "--layer-name", name, "--zip-file", f"fileb://{package}",
                           "--compatible-runtimes", "python3.12", "--description", "cli")  # fmt: skip
    assert published.returncode == 0, published.stderr
    arn = json.loads(published.stdout)["LayerVersionArn"]
    assert arn == f"{layer_arn(name)}:1"
    got = server.aws("lambda", "get-layer-version", "--layer-name", name, "--version-number", "1")
    assert json.loads(got.stdout)["Description"] == "cli"
    by_arn = server.aws("lambda", "get-layer-version-by-arn", "--arn", arn)
    assert json.loads(by_arn.stdout)["Version"] == 1
    versions = server.aws("lambda", "list-layer-versions", "--layer-name", name)
    assert [item["LayerVersionArn"] for item in json.loads(versions.stdout)["LayerVersions"]] == [arn]
    layers = server.aws("lambda", "list-layers", "--compatible-runtime", "python3.12")
    assert name in [layer["LayerName"] for layer in json.loads(layers.stdout)["Layers"]]
    deleted = server.aws("lambda", "delete-layer-version", "--layer-name", name, "--version-number", "1")
    assert deleted.returncode == 0, deleted.stderr
    missing = server.aws("lambda", "get-layer-version", "--layer-name", name, "--version-number", "1")
    assert missing.returncode != 0
    assert (
        "An error occurred (ResourceNotFoundException) when calling the GetLayerVersion operation: "
        "The resource you requested does not exist." in missing.stderr
    )


def test_the_aws_cli_reports_layer_errors(server: Server) -> None:
    name = unique("layer")
    low = server.aws("lambda", "delete-layer-version", "--layer-name", name, "--version-number", "0")
    assert "(InvalidParameterValueException) when calling the DeleteLayerVersion operation: Layer Version Cannot " \
        "be less than 1" in low.stderr  # fmt: skip
    by_arn = server.aws("lambda", "get-layer-version-by-arn", "--arn", f"{layer_arn(name)}:4")
    assert "(ResourceNotFoundException) when calling the GetLayerVersionByArn operation: The resource you " \
        "requested does not exist." in by_arn.stderr  # fmt: skip
    no_content = server.aws("lambda", "publish-layer-version", "--layer-name", name, "--content", "{}")
    assert "(InvalidParameterValueException) when calling the PublishLayerVersion operation: Missing Content" \
        in no_content.stderr  # fmt: skip


def test_layer_versions_count_in_the_accounts_code_size(client: Any) -> None:
    before = client.get_account_settings()["AccountUsage"]["TotalCodeSize"]
    published = publish(client, unique("layer"))
    after = client.get_account_settings()["AccountUsage"]["TotalCodeSize"]
    assert after == before + published["Content"]["CodeSize"]
