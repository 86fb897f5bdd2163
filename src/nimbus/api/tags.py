"""TagResource, UntagResource, ListTags: translation between the wire members and control.tags."""

from __future__ import annotations

from nimbus.api.context import Call, Handler
from nimbus.api.wire import WireResponse, json_response


async def tag_resource(call: Call) -> WireResponse:
    call.services.tags.tag(call.params["Resource"], call.params["Tags"])
    return WireResponse(204, content_type=None)


async def untag_resource(call: Call) -> WireResponse:
    call.services.tags.untag(call.params["Resource"], call.params["TagKeys"])
    return WireResponse(204, content_type=None)


async def list_tags(call: Call) -> WireResponse:
    return json_response(200, {"Tags": call.services.tags.list(call.params["Resource"])})


HANDLERS: dict[str, Handler] = {
    "TagResource": tag_resource,
    "UntagResource": untag_resource,
    "ListTags": list_tags,
}
