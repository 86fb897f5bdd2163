"""PublishVersion and ListVersionsByFunction: translation between the wire members and control.versions."""

from __future__ import annotations

from typing import Any

from nimbus.api.context import Call, Handler
from nimbus.api.shapes import function_configuration
from nimbus.api.wire import WireResponse, json_response
from nimbus.domain.arns import LATEST, parse_function_ref

# AWS pages ListVersionsByFunction at 50 whatever MaxItems asks for.
LIST_PAGE = 50


async def publish_version(call: Call) -> WireResponse:
    params = call.params
    version = await call.services.versions.publish(
        parse_function_ref(params["FunctionName"]).name,
        code_sha256=params.get("CodeSha256"),
        description=params.get("Description"),
        revision_id=params.get("RevisionId"),
    )
    return json_response(201, function_configuration(version, call.services.identity))


async def list_versions(call: Call) -> WireResponse:
    name = parse_function_ref(call.params["FunctionName"]).name
    max_items = min(int(call.params.get("MaxItems") or LIST_PAGE), LIST_PAGE)
    page, marker = call.services.versions.list(name, call.params.get("Marker") or None, max_items)
    identity = call.services.identity
    # Every item's FunctionArn is qualified, $LATEST included.
    document: dict[str, Any] = {
        "Versions": [function_configuration(c, identity, listing=True, qualifier=c.version or LATEST) for c in page]
    }
    if marker:
        document["NextMarker"] = marker
    return json_response(200, document)


HANDLERS: dict[str, Handler] = {
    "PublishVersion": publish_version,
    "ListVersionsByFunction": list_versions,
}
