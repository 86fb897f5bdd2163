"""Invoke: the hot path. Translates headers and body to an InvokeRequest and the outcome back to headers."""

from __future__ import annotations

from nimbus.api.context import Call, Handler
from nimbus.api.wire import WireResponse
from nimbus.invocation.payloads import INVOKE_ASYNC_LIMIT, check_payload, decode_client_context
from nimbus.invocation.requests import InvocationType, InvokeRequest


async def invoke(call: Call) -> WireResponse:
    params = call.params
    request = InvokeRequest(
        function_name=params["FunctionName"],
        qualifier=params.get("Qualifier"),
        payload=params.get("Payload") or b"",
        invocation_type=InvocationType(params.get("InvocationType") or InvocationType.REQUEST_RESPONSE),
        tail_logs=params.get("LogType") == "Tail",
        client_context=decode_client_context(params.get("ClientContext")),
        request_id=call.request_id or None,
    )
    result = await call.services.invoker.invoke(request)
    headers: dict[str, str] = {}
    if result.function_error:
        headers["X-Amz-Function-Error"] = result.function_error
    if result.log_result is not None:
        headers["X-Amz-Log-Result"] = result.log_result
    if result.executed_version:
        headers["X-Amz-Executed-Version"] = result.executed_version
    content_type = "application/json" if result.status_code == 200 else None
    return WireResponse(result.status_code, result.payload, headers, content_type)


async def invoke_async(call: Call) -> WireResponse:
    """InvokeAsync (deprecated): an Event invoke with the old 256 KB limit, answered 202 with {"Status": 202}."""
    payload = call.params.get("InvokeArgs") or b""
    check_payload(payload, InvocationType.EVENT, INVOKE_ASYNC_LIMIT)
    request = InvokeRequest(
        function_name=call.params["FunctionName"],
        qualifier=None,
        payload=payload,
        invocation_type=InvocationType.EVENT,
        request_id=call.request_id or None,
    )
    await call.services.invoker.invoke(request)
    return WireResponse(202, b'{"Status":202}')


HANDLERS: dict[str, Handler] = {"Invoke": invoke, "InvokeAsync": invoke_async}
