"""PublishVersion and ListVersionsByFunction: translation between the wire members and control.versions."""

from __future__ import annotations

from nimbus.api.context import Call, Handler
from nimbus.api.listing import page_response
from nimbus.api.shapes import function_configuration
from nimbus.api.wire import WireResponse, json_response
from nimbus.domain.arns import LATEST, parse_function_ref
from nimbus.domain.paging import page_size


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
    max_items = page_size(call.params.get("MaxItems"))
    page, marker = call.services.versions.list(name, call.params.get("Marker") or None, max_items)
    identity = call.services.identity
    # Every item's FunctionArn is qualified, $LATEST included.
    versions = [function_configuration(c, identity, listing=True, qualifier=c.version or LATEST) for c in page]
    return page_response("Versions", versions, marker)


HANDLERS: dict[str, Handler] = {
    "PublishVersion": publish_version,
    "ListVersionsByFunction": list_versions,
}
