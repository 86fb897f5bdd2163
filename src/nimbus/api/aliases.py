"""Alias operations: translation between the wire members (AliasConfiguration) and control.aliases."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from nimbus.api.context import Call, Handler
from nimbus.api.listing import page_response
from nimbus.api.wire import WireResponse, json_response
from nimbus.control.aliases import AliasChange
from nimbus.domain.aliases import Alias
from nimbus.domain.arns import Identity, parse_function_ref
from nimbus.domain.paging import page_size


def alias_configuration(alias: Alias, identity: Identity) -> dict[str, Any]:
    """AliasConfiguration; RoutingConfig only when the alias routes to an additional version."""
    document: dict[str, Any] = {
        "AliasArn": identity.function_arn(alias.function_name, alias.name),
        "Name": alias.name,
        "FunctionVersion": alias.function_version,
        "Description": alias.description,
    }
    if alias.weights:
        document["RoutingConfig"] = {"AdditionalVersionWeights": dict(alias.weights)}
    document["RevisionId"] = alias.revision_id
    return document


def _weights(params: Mapping[str, Any]) -> dict[str, float] | None:
    if "RoutingConfig" not in params:
        return None
    given = (params["RoutingConfig"] or {}).get("AdditionalVersionWeights") or {}
    return {str(version): float(weight) for version, weight in given.items()}


def _function(call: Call) -> str:
    return parse_function_ref(call.params["FunctionName"]).name


async def create_alias(call: Call) -> WireResponse:
    params = call.params
    alias = call.services.aliases.create(
        _function(call), params["Name"], params["FunctionVersion"], params.get("Description") or "",
        _weights(params) or {},
    )  # fmt: skip
    return json_response(201, alias_configuration(alias, call.services.identity))


async def get_alias(call: Call) -> WireResponse:
    alias = call.services.aliases.get(_function(call), call.params["Name"])
    return json_response(200, alias_configuration(alias, call.services.identity))


async def update_alias(call: Call) -> WireResponse:
    params = call.params
    change = AliasChange(
        function_version=params.get("FunctionVersion"),
        description=params.get("Description"),
        weights=_weights(params),
        revision_id=params.get("RevisionId"),
    )
    alias = call.services.aliases.update(_function(call), params["Name"], change)
    await call.services.concurrency.sync(_function(call))  # provisioned environments follow the alias's version
    return json_response(200, alias_configuration(alias, call.services.identity))


async def delete_alias(call: Call) -> WireResponse:
    call.services.aliases.delete(_function(call), call.params["Name"])
    await call.services.concurrency.sync(_function(call))  # stops the alias's provisioned environments
    return WireResponse(204, content_type=None)


async def list_aliases(call: Call) -> WireResponse:
    max_items = page_size(call.params.get("MaxItems"))
    page, marker = call.services.aliases.list(
        _function(call), call.params.get("FunctionVersion"), call.params.get("Marker") or None, max_items
    )
    return page_response("Aliases", [alias_configuration(a, call.services.identity) for a in page], marker)


HANDLERS: dict[str, Handler] = {
    "CreateAlias": create_alias,
    "GetAlias": get_alias,
    "UpdateAlias": update_alias,
    "DeleteAlias": delete_alias,
    "ListAliases": list_aliases,
}
