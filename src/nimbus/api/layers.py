"""Layer operations: translation between the wire members and control.layers.

Output shapes follow AWS's recorded answers: GetLayerVersionResponse carries Content {Location, CodeSha256, CodeSize};
CompatibleRuntimes, CompatibleArchitectures and LicenseInfo appear only when they were given at publish (an empty
list given is echoed empty); list items (LayerVersionsListItem) have no Content and no LayerArn. Policies and
statements are JSON documents sent as strings.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from nimbus.api.code_links import signed_link
from nimbus.api.context import Call, Handler
from nimbus.api.listing import page_response
from nimbus.api.wire import WireResponse, json_response
from nimbus.control.layers import Filters, Grant, NewLayerVersion
from nimbus.control.packages import CodeSource
from nimbus.domain.layers import LayerVersion, layer_arn, layer_version_arn, policy_document
from nimbus.errors import InvalidParameterValue


def _version(call: Call) -> int:
    """VersionNumber arrives as a path segment."""
    value = str(call.params["VersionNumber"])
    try:
        return int(value)
    except ValueError:
        raise InvalidParameterValue(f"Cannot parse '{value}' as a layer version number") from None


def _filters(params: Mapping[str, Any]) -> Filters:
    return Filters(runtime=params.get("CompatibleRuntime"), architecture=params.get("CompatibleArchitecture"))


def _optional_tuple(values: Any) -> tuple[str, ...] | None:
    return tuple(values) if values is not None else None


def list_item(layer: LayerVersion, call: Call) -> dict[str, Any]:
    """LayerVersionsListItem."""
    out: dict[str, Any] = {
        "LayerVersionArn": layer_version_arn(call.services.identity, layer.name, layer.version),
        "Version": layer.version,
        "Description": layer.description,
        "CreatedDate": layer.created_date,
    }
    if layer.compatible_runtimes is not None:
        out["CompatibleRuntimes"] = list(layer.compatible_runtimes)
    if layer.license_info is not None:
        out["LicenseInfo"] = layer.license_info
    if layer.compatible_architectures is not None:
        out["CompatibleArchitectures"] = list(layer.compatible_architectures)
    return out


def document(layer: LayerVersion, call: Call) -> dict[str, Any]:
    """GetLayerVersionResponse (also PublishLayerVersion's output)."""
    services = call.services
    content = {
        "Location": signed_link(services.base_url, services.url_secret, layer.code.sha256_hex),
        "CodeSha256": layer.code.code_sha256,
        "CodeSize": layer.code.size,
    }
    item = list_item(layer, call)
    return {"Content": content, "LayerArn": layer_arn(services.identity, layer.name), **item}


async def publish_layer_version(call: Call) -> WireResponse:
    params = call.params
    content = params["Content"] or {}
    new = NewLayerVersion(
        content=CodeSource(
            zip_file=content.get("ZipFile"),
            s3_bucket=content.get("S3Bucket"),
            s3_key=content.get("S3Key"),
            s3_object_version=content.get("S3ObjectVersion"),
        ),
        description=params.get("Description") or "",
        compatible_runtimes=_optional_tuple(params.get("CompatibleRuntimes")),
        compatible_architectures=_optional_tuple(params.get("CompatibleArchitectures")),
        license_info=params.get("LicenseInfo"),
    )
    layer = await call.services.layers.publish(params["LayerName"], new)
    return json_response(201, document(layer, call))


async def get_layer_version(call: Call) -> WireResponse:
    layer = call.services.layers.get(call.params["LayerName"], _version(call))
    return json_response(200, document(layer, call))


async def get_layer_version_by_arn(call: Call) -> WireResponse:
    layer = call.services.layers.get_by_arn(call.params["Arn"])
    return json_response(200, document(layer, call))


async def list_layer_versions(call: Call) -> WireResponse:
    params = call.params
    page, marker = call.services.layers.list_versions(
        params["LayerName"], _filters(params), params.get("Marker"), params.get("MaxItems")
    )
    return page_response("LayerVersions", [list_item(layer, call) for layer in page], marker)


async def list_layers(call: Call) -> WireResponse:
    params = call.params
    page, marker = call.services.layers.list_layers(_filters(params), params.get("Marker"), params.get("MaxItems"))
    identity = call.services.identity
    layers = [
        {"LayerName": layer.name, "LayerArn": layer_arn(identity, layer.name),
         "LatestMatchingVersion": list_item(layer, call)}
        for layer in page
    ]  # fmt: skip
    return page_response("Layers", layers, marker)


async def delete_layer_version(call: Call) -> WireResponse:
    call.services.layers.delete(call.params["LayerName"], _version(call))
    return WireResponse(204, content_type=None)


async def add_layer_version_permission(call: Call) -> WireResponse:
    params = call.params
    grant = Grant(
        statement_id=params["StatementId"],
        action=params["Action"],
        principal=params["Principal"],
        organization_id=params.get("OrganizationId"),
    )
    statement, revision_id = call.services.layers.add_permission(
        params["LayerName"], _version(call), grant, params.get("RevisionId")
    )
    return json_response(201, {"Statement": orjson.dumps(statement).decode(), "RevisionId": revision_id})


async def get_layer_version_policy(call: Call) -> WireResponse:
    policy = call.services.layers.policy(call.params["LayerName"], _version(call))
    return json_response(
        200, {"Policy": orjson.dumps(policy_document(policy)).decode(), "RevisionId": policy.revision_id}
    )


async def remove_layer_version_permission(call: Call) -> WireResponse:
    params = call.params
    call.services.layers.remove_permission(
        params["LayerName"], _version(call), params["StatementId"], params.get("RevisionId")
    )
    return WireResponse(204, content_type=None)


HANDLERS: dict[str, Handler] = {
    "PublishLayerVersion": publish_layer_version,
    "GetLayerVersion": get_layer_version,
    "GetLayerVersionByArn": get_layer_version_by_arn,
    "ListLayerVersions": list_layer_versions,
    "ListLayers": list_layers,
    "DeleteLayerVersion": delete_layer_version,
    "AddLayerVersionPermission": add_layer_version_permission,
    "GetLayerVersionPolicy": get_layer_version_policy,
    "RemoveLayerVersionPermission": remove_layer_version_permission,
}
