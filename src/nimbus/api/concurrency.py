"""Concurrency operations: translation between the wire members and control.concurrency.

GetFunctionConcurrency answers `{}` for a function without a reservation. PutProvisionedConcurrencyConfig answers
202 with Status IN_PROGRESS and nothing allocated yet, as AWS does; Get and List report the progress. StatusReason
appears only when there is one (a FAILED config).
"""

from __future__ import annotations

from typing import Any

from nimbus.api.context import Call, Handler
from nimbus.api.listing import page_response
from nimbus.api.wire import WireResponse, json_response
from nimbus.domain.arns import parse_function_ref, resolve_qualifier
from nimbus.domain.concurrency import ProvisionedConfig, ProvisionedState


def _name(call: Call) -> str:
    return parse_function_ref(call.params["FunctionName"]).name


def _target(call: Call) -> tuple[str, str]:
    ref = parse_function_ref(call.params["FunctionName"])
    qualifier = resolve_qualifier(ref, call.params.get("Qualifier"))
    assert qualifier is not None  # Qualifier is a required member of these operations
    return ref.name, qualifier


def _provisioned(config: ProvisionedConfig, state: ProvisionedState) -> dict[str, Any]:
    document: dict[str, Any] = {
        "RequestedProvisionedConcurrentExecutions": config.requested,
        "AvailableProvisionedConcurrentExecutions": state.available,
        "AllocatedProvisionedConcurrentExecutions": state.allocated,
        "Status": state.status.value,
        "LastModified": config.last_modified,
    }
    if state.reason:
        document["StatusReason"] = state.reason
    return document


async def put_function_concurrency(call: Call) -> WireResponse:
    reserved = call.services.concurrency.put_reserved(_name(call), call.params["ReservedConcurrentExecutions"])
    return json_response(200, {"ReservedConcurrentExecutions": reserved})


async def get_function_concurrency(call: Call) -> WireResponse:
    reserved = call.services.concurrency.get_reserved(_name(call))
    return json_response(200, {} if reserved is None else {"ReservedConcurrentExecutions": reserved})


async def delete_function_concurrency(call: Call) -> WireResponse:
    call.services.concurrency.delete_reserved(_name(call))
    return WireResponse(204, content_type=None)


async def put_provisioned(call: Call) -> WireResponse:
    name, qualifier = _target(call)
    requested = call.params["ProvisionedConcurrentExecutions"]
    config = await call.services.concurrency.put_provisioned(name, qualifier, requested)
    return json_response(202, _provisioned(config, ProvisionedState()))


async def get_provisioned(call: Call) -> WireResponse:
    name, qualifier = _target(call)
    config, state = call.services.concurrency.get_provisioned(name, qualifier)
    return json_response(200, _provisioned(config, state))


async def list_provisioned(call: Call) -> WireResponse:
    name = _name(call)
    page, marker = call.services.concurrency.list_provisioned(
        name, call.params.get("Marker") or None, call.params.get("MaxItems")
    )
    identity = call.services.identity
    items = [{"FunctionArn": identity.function_arn(name, config.qualifier), **_provisioned(config, state)}
             for config, state in page]  # fmt: skip
    return page_response("ProvisionedConcurrencyConfigs", items, marker)


async def delete_provisioned(call: Call) -> WireResponse:
    name, qualifier = _target(call)
    await call.services.concurrency.delete_provisioned(name, qualifier)
    return WireResponse(204, content_type=None)


HANDLERS: dict[str, Handler] = {
    "PutFunctionConcurrency": put_function_concurrency,
    "GetFunctionConcurrency": get_function_concurrency,
    "DeleteFunctionConcurrency": delete_function_concurrency,
    "PutProvisionedConcurrencyConfig": put_provisioned,
    "GetProvisionedConcurrencyConfig": get_provisioned,
    "ListProvisionedConcurrencyConfigs": list_provisioned,
    "DeleteProvisionedConcurrencyConfig": delete_provisioned,
}
