"""AddPermission, GetPolicy, RemovePermission: translation between the wire members and control.policies."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from nimbus.api.context import Call, Handler
from nimbus.api.wire import WireResponse, json_response
from nimbus.domain.arns import parse_function_ref, resolve_qualifier
from nimbus.domain.policies import Permission, to_json


def _target(call: Call) -> tuple[str, str | None]:
    ref = parse_function_ref(call.params["FunctionName"])
    return ref.name, resolve_qualifier(ref, call.params.get("Qualifier"))


def _permission(params: Mapping[str, Any]) -> Permission:
    return Permission(
        statement_id=params["StatementId"],
        action=params["Action"],
        principal=params["Principal"],
        source_arn=params.get("SourceArn"),
        source_account=params.get("SourceAccount"),
        event_source_token=params.get("EventSourceToken"),
        principal_org_id=params.get("PrincipalOrgID"),
        function_url_auth_type=params.get("FunctionUrlAuthType"),
        invoked_via_function_url=bool(params.get("InvokedViaFunctionUrl")),
    )


async def add_permission(call: Call) -> WireResponse:
    name, qualifier = _target(call)
    statement = await call.services.policies.add(
        name, qualifier, _permission(call.params), call.params.get("RevisionId")
    )
    return json_response(201, {"Statement": to_json(statement)})


async def get_policy(call: Call) -> WireResponse:
    name, qualifier = _target(call)
    policy = call.services.policies.get(name, qualifier)
    return json_response(200, {"Policy": policy.document, "RevisionId": policy.revision_id})


async def remove_permission(call: Call) -> WireResponse:
    name, qualifier = _target(call)
    await call.services.policies.remove(name, qualifier, call.params["StatementId"], call.params.get("RevisionId"))
    return WireResponse(204, content_type=None)


HANDLERS: dict[str, Handler] = {
    "AddPermission": add_permission,
    "GetPolicy": get_policy,
    "RemovePermission": remove_permission,
}
