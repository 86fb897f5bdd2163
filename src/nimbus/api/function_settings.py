"""The settings tools read and write on every deploy: Get/Put/DeleteFunctionCodeSigningConfig,
Get/PutFunctionRecursionConfig and Get/PutRuntimeManagementConfig (control.function_settings).

Shapes are AWS's for a function without such configuration: GetFunctionCodeSigningConfig answers `{}` (what AWS
returns when no config is attached, though the model marks both members required), recursion defaults to
Terminate and runtime updates to Auto, whose RuntimeVersionArn AWS reports only in Manual mode.
"""

from __future__ import annotations

from typing import Any

from nimbus.api.context import Call, Handler
from nimbus.api.wire import WireResponse, json_response
from nimbus.control.function_settings import RuntimeManagement
from nimbus.domain.arns import LATEST, parse_function_ref, resolve_qualifier


def _name(call: Call) -> str:
    return parse_function_ref(call.params["FunctionName"]).name


def _target(call: Call) -> tuple[str, str | None]:
    ref = parse_function_ref(call.params["FunctionName"])
    return ref.name, resolve_qualifier(ref, call.params.get("Qualifier"))


async def get_code_signing(call: Call) -> WireResponse:
    call.services.function_settings.check_code_signing(_name(call))
    return json_response(200, {})


async def put_code_signing(call: Call) -> WireResponse:
    call.services.function_settings.put_code_signing(call.params["CodeSigningConfigArn"])
    return json_response(200, {})  # not reached while nimbus has no code signing configs


async def delete_code_signing(call: Call) -> WireResponse:
    call.services.function_settings.check_code_signing(_name(call))
    return WireResponse(204, content_type=None)


async def get_recursion(call: Call) -> WireResponse:
    return json_response(200, {"RecursiveLoop": call.services.function_settings.recursive_loop(_name(call))})


async def put_recursion(call: Call) -> WireResponse:
    mode = call.services.function_settings.put_recursive_loop(_name(call), call.params["RecursiveLoop"])
    return json_response(200, {"RecursiveLoop": mode})


def _runtime_management(setting: RuntimeManagement, function_arn: str) -> dict[str, Any]:
    out: dict[str, Any] = {"UpdateRuntimeOn": setting.update_runtime_on, "FunctionArn": function_arn}
    if setting.runtime_version_arn:
        out["RuntimeVersionArn"] = setting.runtime_version_arn
    return out


async def get_runtime_management(call: Call) -> WireResponse:
    name, qualifier = _target(call)
    setting = call.services.function_settings.runtime_management(name, qualifier)
    # AWS names the function as it was asked for: unqualified unless a qualifier was given.
    return json_response(200, _runtime_management(setting, call.services.identity.function_arn(name, qualifier)))


async def put_runtime_management(call: Call) -> WireResponse:
    name, qualifier = _target(call)
    setting = call.services.function_settings.put_runtime_management(
        name, qualifier, call.params["UpdateRuntimeOn"], call.params.get("RuntimeVersionArn")
    )
    # The version the setting now applies to: $LATEST when no qualifier was given.
    function_arn = call.services.identity.function_arn(name, qualifier or LATEST)
    return json_response(200, _runtime_management(setting, function_arn))


HANDLERS: dict[str, Handler] = {
    "GetFunctionCodeSigningConfig": get_code_signing,
    "PutFunctionCodeSigningConfig": put_code_signing,
    "DeleteFunctionCodeSigningConfig": delete_code_signing,
    "GetFunctionRecursionConfig": get_recursion,
    "PutFunctionRecursionConfig": put_recursion,
    "GetRuntimeManagementConfig": get_runtime_management,
    "PutRuntimeManagementConfig": put_runtime_management,
}
