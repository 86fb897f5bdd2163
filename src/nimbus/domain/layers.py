"""Layer versions: ARNs, the rules a function's layer list obeys, and layer version policies.

Messages are AWS's, as recorded against real AWS in LocalStack's parity snapshots
(tests/aws/services/lambda_/test_lambda_api.snapshot.json, TestLambdaLayer::*) and in the reference
(reference/lambda-control-plane.md §1 Layers, §2.4). Length and pattern checks come from the model (api/validation.py).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from nimbus.domain.arns import Identity
from nimbus.domain.functions import CodeRef
from nimbus.errors import InvalidParameterValue, PreconditionFailed, ResourceConflict, ResourceNotFound

# AWS: "You can add up to five layers to a function."
MAX_FUNCTION_LAYERS = 5

NO_SUCH_RESOURCE = "The resource you requested does not exist."
VERSION_TOO_LOW = "Layer Version Cannot be less than 1"
TOO_MANY_LAYERS = "Cannot reference more than 5 layers."
NO_POLICY = "No policy is associated with the given resource."
STALE_POLICY = (
    "The Revision Id provided does not match the latest Revision Id. "
    "Call the GetLayerPolicy API to retrieve the latest Revision Id"
)
# Not AWS-recorded: what moto answers for a PublishLayerVersion without ZipFile or S3 location.
MISSING_CONTENT = "Missing Content"

_LAYER_ARN = re.compile(
    r"^arn:(?P<partition>[a-zA-Z0-9-]+):lambda:(?P<region>[a-zA-Z0-9-]+):(?P<account>\d{12}):"
    r"layer:(?P<name>[a-zA-Z0-9_-]+)(?::(?P<version>[0-9]+))?$"
)


@dataclass(frozen=True)
class LayerVersionId:
    """What a LayerVersionArn names."""

    region: str
    account: str
    name: str
    version: int


@dataclass(frozen=True)
class LayerPolicy:
    """A layer version's resource-based policy: its statements (wire shape, in order) and RevisionId."""

    statements: tuple[Mapping[str, Any], ...]
    revision_id: str


@dataclass(frozen=True)
class LayerVersion:
    name: str
    version: int
    code: CodeRef
    created_date: str
    description: str = ""
    # None: not given at publish (AWS then omits the member); () was given empty and is echoed as [].
    compatible_runtimes: tuple[str, ...] | None = None
    compatible_architectures: tuple[str, ...] | None = None
    license_info: str | None = None
    policy: LayerPolicy | None = field(default=None, compare=False)

    def matches(self, runtime: str | None, architecture: str | None) -> bool:
        """Whether ListLayers / ListLayerVersions filters select this version (an unset filter selects all)."""
        if runtime is not None and runtime not in (self.compatible_runtimes or ()):
            return False
        return architecture is None or architecture in (self.compatible_architectures or ())


def layer_arn(identity: Identity, name: str) -> str:
    return f"arn:aws:lambda:{identity.region}:{identity.account_id}:layer:{name}"


def layer_version_arn(identity: Identity, name: str, version: int) -> str:
    return f"{layer_arn(identity, name)}:{version}"


def parse_layer_version_arn(arn: str) -> LayerVersionId | None:
    match = _LAYER_ARN.match(arn)
    if match is None or match["version"] is None:
        return None
    return LayerVersionId(match["region"], match["account"], match["name"], int(match["version"]))


def layer_name_of(value: str, identity: Identity) -> str | None:
    """The name a LayerName parameter (a name or a layer ARN) gives; None for a layer of another account or region,
    which this server cannot hold."""
    match = _LAYER_ARN.match(value)
    if match is None:
        return value
    if match["region"] != identity.region or match["account"] != identity.account_id:
        return None
    return match["name"]


def check_version_number(version: int) -> None:
    if version < 1:
        raise InvalidParameterValue(VERSION_TOO_LOW)


def missing_layer_version(arn: str) -> str:
    return f"Layer version {arn} does not exist."


def check_function_layers(arns: Sequence[str], identity: Identity) -> list[LayerVersionId]:
    """A function's Layers, refused as AWS refuses them: at most 5, in the function's region, one version per layer.

    The ARN's shape was checked by the model's pattern. Whether each version exists is the caller's question.
    """
    if len(arns) > MAX_FUNCTION_LAYERS:
        raise InvalidParameterValue(TOO_MANY_LAYERS)
    ids: list[LayerVersionId] = []
    for arn in arns:
        parsed = parse_layer_version_arn(arn)
        if parsed is None:
            raise InvalidParameterValue(missing_layer_version(arn))
        if parsed.region != identity.region:
            raise InvalidParameterValue(
                f"Layers are not in the same region as the function. Layers are expected to be in region "
                f"{identity.region}."
            )
        ids.append(parsed)
    _check_one_version_per_layer(arns, ids)
    return ids


def _check_one_version_per_layer(arns: Sequence[str], ids: Sequence[LayerVersionId]) -> None:
    seen: dict[tuple[str, str], str] = {}
    for arn, parsed in zip(arns, ids, strict=True):
        first = seen.setdefault((parsed.account, parsed.name), arn)
        if first is not arn:
            raise InvalidParameterValue(
                "Two different versions of the same layer are not allowed to be referenced in the same function. "
                f"{first} and {arn} are versions of the same layer."
            )


def combined_size_error(total: int, limit: int) -> InvalidParameterValue | None:
    """AWS's refusal of a function whose code and layers unzip to more than the limit (250 MB)."""
    if total <= limit:
        return None
    return InvalidParameterValue(
        f"Function code combined with layers exceeds the maximum allowed size of {limit} bytes. "
        f"The actual size is {total} bytes."
    )


# -- layer version policies ----------------------------------------------------------------------------------------
def layer_statement(
    sid: str, action: str, principal: str, resource: str, organization_id: str | None
) -> dict[str, Any]:
    """One statement as AWS writes it: an account id becomes its root ARN; an organization becomes a condition."""
    statement: dict[str, Any] = {
        "Sid": sid,
        "Effect": "Allow",
        "Principal": principal if principal == "*" else {"AWS": _principal_arn(principal)},
        "Action": action,
        "Resource": resource,
    }
    if organization_id:
        statement["Condition"] = {"StringEquals": {"aws:PrincipalOrgID": organization_id}}
    return statement


def _principal_arn(principal: str) -> str:
    return f"arn:aws:iam::{principal}:root" if principal.isdigit() else principal


def check_revision(policy: LayerPolicy | None, revision_id: str | None) -> None:
    current = policy.revision_id if policy is not None else None
    if revision_id is not None and revision_id != current:
        raise PreconditionFailed(STALE_POLICY)


def with_statement(policy: LayerPolicy | None, statement: Mapping[str, Any]) -> tuple[Mapping[str, Any], ...]:
    statements = policy.statements if policy is not None else ()
    sid = statement["Sid"]
    if any(existing["Sid"] == sid for existing in statements):
        raise ResourceConflict(
            f"The statement id ({sid}) provided already exists. Please provide a new statement id, or remove the "
            "existing statement."
        )
    return (*statements, statement)


def without_statement(policy: LayerPolicy | None, sid: str) -> tuple[Mapping[str, Any], ...]:
    if policy is None:
        raise ResourceNotFound(NO_POLICY)
    remaining = tuple(statement for statement in policy.statements if statement["Sid"] != sid)
    if len(remaining) == len(policy.statements):
        raise ResourceNotFound(f"Statement {sid} is not found in resource policy.")
    return remaining


def policy_document(policy: LayerPolicy) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Id": "default", "Statement": [dict(s) for s in policy.statements]}
