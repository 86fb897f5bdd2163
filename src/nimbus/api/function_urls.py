"""Function URL config operations: translation between the wire members and control.function_urls.

Output shape (FunctionUrlConfig): FunctionUrl, FunctionArn (unqualified for the function, qualified for an alias),
AuthType, Cors only when set, CreationTime / LastModifiedTime as ISO-8601 strings, InvokeMode. Create answers
without LastModifiedTime, as the model's CreateFunctionUrlConfigResponse has none.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from nimbus.api.context import Call, Handler
from nimbus.api.listing import page_response
from nimbus.api.wire import WireResponse, json_response
from nimbus.control.function_urls import FunctionUrlService, UrlChanges
from nimbus.domain.arns import parse_function_ref, resolve_qualifier
from nimbus.domain.function_urls import Cors, UrlConfig


def _target(call: Call) -> tuple[str, str | None]:
    ref = parse_function_ref(call.params["FunctionName"])
    return ref.name, resolve_qualifier(ref, call.params.get("Qualifier"))


def _changes(params: Mapping[str, Any]) -> UrlChanges:
    cors = params.get("Cors")
    return UrlChanges(
        auth_type=params.get("AuthType"),
        cors=None if cors is None else Cors.from_wire(cors),
        invoke_mode=params.get("InvokeMode"),
    )


def document(config: UrlConfig, urls: FunctionUrlService, *, modified: bool = True) -> dict[str, Any]:
    out: dict[str, Any] = {
        "FunctionUrl": urls.url(config),
        "FunctionArn": urls.arn(config),
        "AuthType": config.auth_type,
    }
    if config.cors is not None:
        out["Cors"] = config.cors.to_wire()
    out["CreationTime"] = config.creation_time
    if modified:
        out["LastModifiedTime"] = config.last_modified_time
    out["InvokeMode"] = config.invoke_mode
    return out


async def create_config(call: Call) -> WireResponse:
    name, qualifier = _target(call)
    urls = call.services.function_urls
    config = urls.create(name, qualifier, _changes(call.params))
    return json_response(201, document(config, urls, modified=False))


async def get_config(call: Call) -> WireResponse:
    name, qualifier = _target(call)
    urls = call.services.function_urls
    return json_response(200, document(urls.get(name, qualifier), urls))


async def update_config(call: Call) -> WireResponse:
    name, qualifier = _target(call)
    urls = call.services.function_urls
    return json_response(200, document(urls.update(name, qualifier, _changes(call.params)), urls))


async def delete_config(call: Call) -> WireResponse:
    name, qualifier = _target(call)
    call.services.function_urls.delete(name, qualifier)
    return WireResponse(204, content_type=None)


async def list_configs(call: Call) -> WireResponse:
    ref = parse_function_ref(call.params["FunctionName"])
    urls = call.services.function_urls
    page, marker = urls.list(ref.name, call.params.get("Marker"), call.params.get("MaxItems"))
    return page_response("FunctionUrlConfigs", [document(c, urls) for c in page], marker)


HANDLERS: dict[str, Handler] = {
    "CreateFunctionUrlConfig": create_config,
    "GetFunctionUrlConfig": get_config,
    "UpdateFunctionUrlConfig": update_config,
    "DeleteFunctionUrlConfig": delete_config,
    "ListFunctionUrlConfigs": list_configs,
}
