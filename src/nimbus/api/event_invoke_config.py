"""Event invoke config operations: translation between the wire members and control.event_invoke_configs.

Output shape (FunctionEventInvokeConfig): LastModified is a `Date`, sent as epoch seconds (a JSON number);
FunctionArn is qualified ($LATEST when no qualifier was given); only the settings that were set are echoed; and
DestinationConfig is always there, with `{}` for a destination that is not set, as AWS answers.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from nimbus.api.context import Call, Handler
from nimbus.api.listing import page_response
from nimbus.api.wire import WireResponse, json_response
from nimbus.control.event_invoke_configs import ConfigRequest
from nimbus.domain.arns import Identity, parse_function_ref, resolve_qualifier
from nimbus.domain.event_invoke import EventInvokeConfig


def _target(call: Call) -> tuple[str, str | None]:
    ref = parse_function_ref(call.params["FunctionName"])
    return ref.name, resolve_qualifier(ref, call.params.get("Qualifier"))


def _request(params: Mapping[str, Any]) -> ConfigRequest:
    given = params.get("DestinationConfig")
    destinations = given or {}
    return ConfigRequest(
        maximum_retry_attempts=params.get("MaximumRetryAttempts"),
        maximum_event_age=params.get("MaximumEventAgeInSeconds"),
        on_success=(destinations.get("OnSuccess") or {}).get("Destination"),
        on_failure=(destinations.get("OnFailure") or {}).get("Destination"),
        has_destination_config=given is not None,
    )


def document(config: EventInvokeConfig, identity: Identity) -> dict[str, Any]:
    out: dict[str, Any] = {
        "LastModified": config.last_modified,
        "FunctionArn": identity.function_arn(config.function_name, config.qualifier),
    }
    if config.maximum_retry_attempts is not None:
        out["MaximumRetryAttempts"] = config.maximum_retry_attempts
    if config.maximum_event_age is not None:
        out["MaximumEventAgeInSeconds"] = config.maximum_event_age
    out["DestinationConfig"] = {
        "OnSuccess": {"Destination": config.on_success} if config.on_success else {},
        "OnFailure": {"Destination": config.on_failure} if config.on_failure else {},
    }
    return out


async def put_config(call: Call) -> WireResponse:
    name, qualifier = _target(call)
    config = call.services.event_configs.put(name, qualifier, _request(call.params))
    return json_response(200, document(config, call.services.identity))


async def update_config(call: Call) -> WireResponse:
    name, qualifier = _target(call)
    config = call.services.event_configs.update(name, qualifier, _request(call.params))
    return json_response(200, document(config, call.services.identity))


async def get_config(call: Call) -> WireResponse:
    name, qualifier = _target(call)
    return json_response(200, document(call.services.event_configs.get(name, qualifier), call.services.identity))


async def delete_config(call: Call) -> WireResponse:
    name, qualifier = _target(call)
    call.services.event_configs.delete(name, qualifier)
    return WireResponse(204, content_type=None)


async def list_configs(call: Call) -> WireResponse:
    ref = parse_function_ref(call.params["FunctionName"])
    page, marker = call.services.event_configs.list(
        ref.name, ref.qualifier, call.params.get("Marker"), call.params.get("MaxItems")
    )
    return page_response("FunctionEventInvokeConfigs", [document(c, call.services.identity) for c in page], marker)


HANDLERS: dict[str, Handler] = {
    "PutFunctionEventInvokeConfig": put_config,
    "UpdateFunctionEventInvokeConfig": update_config,
    "GetFunctionEventInvokeConfig": get_config,
    "DeleteFunctionEventInvokeConfig": delete_config,
    "ListFunctionEventInvokeConfigs": list_configs,
}
