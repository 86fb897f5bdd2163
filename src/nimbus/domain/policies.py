"""Function resource policies: the statement AddPermission adds, and the document GetPolicy returns.

The shapes follow AWS's answers (AddPermission's Statement, GetPolicy's Policy, both JSON text): a statement is
`{"Sid", "Effect": "Allow", "Principal", "Action", "Resource", "Condition"?}` where the principal is `"*"`,
`{"Service": ...}` for a service, or `{"AWS": ...}` for an IAM ARN or an account (written as its root ARN).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from nimbus.errors import InvalidParameterValue, ResourceConflict, ResourceNotFound, ServiceError

POLICY_VERSION = "2012-10-17"
POLICY_ID = "default"
# AWS's quota on a function's resource-based policy document.
MAX_POLICY_BYTES = 20_480

INVALID_PRINCIPAL = "The provided principal was invalid. Please check the principal and try again."
NO_POLICY = "No policy is associated with the given resource."

_ACCOUNT = re.compile(r"^\d{12}$")
_IAM_ARN = re.compile(r"^arn:aws[a-zA-Z-]*:iam::")
# Service principals end in a service domain: s3.amazonaws.com, alexa-appkit.amazon.com.
_SERVICE_SUFFIXES = (".amazonaws.com", ".amazon.com")

Statement = dict[str, Any]


@dataclass(frozen=True)
class Permission:
    """What AddPermission asks for; None (or False) where a member was not given."""

    statement_id: str
    action: str
    principal: str
    source_arn: str | None = None
    source_account: str | None = None
    event_source_token: str | None = None
    principal_org_id: str | None = None
    function_url_auth_type: str | None = None
    invoked_via_function_url: bool = False


def principal_element(principal: str) -> str | dict[str, str]:
    """The Principal element AWS writes for AddPermission's Principal."""
    if principal == "*":
        return "*"
    if principal.endswith(_SERVICE_SUFFIXES):
        return {"Service": principal}
    if _ACCOUNT.match(principal):
        return {"AWS": f"arn:aws:iam::{principal}:root"}
    if _IAM_ARN.match(principal):
        return {"AWS": principal}
    raise InvalidParameterValue(INVALID_PRINCIPAL)


def _condition(permission: Permission) -> dict[str, dict[str, str]]:
    string_equals = {
        key: value
        for key, value in (
            ("AWS:SourceAccount", permission.source_account),
            ("aws:PrincipalOrgID", permission.principal_org_id),
            ("lambda:EventSourceToken", permission.event_source_token),
            ("lambda:FunctionUrlAuthType", permission.function_url_auth_type),
        )
        if value
    }
    condition: dict[str, dict[str, str]] = {}
    if string_equals:
        condition["StringEquals"] = string_equals
    if permission.source_arn:
        condition["ArnLike"] = {"AWS:SourceArn": permission.source_arn}
    if permission.invoked_via_function_url:
        condition["Bool"] = {"lambda:InvokedViaFunctionUrl": "true"}
    return condition


def build_statement(permission: Permission, resource_arn: str) -> Statement:
    """The statement for a permission on a (possibly qualified) function ARN."""
    statement: Statement = {
        "Sid": permission.statement_id,
        "Effect": "Allow",
        "Principal": principal_element(permission.principal),
        "Action": permission.action,
        "Resource": resource_arn,
    }
    condition = _condition(permission)
    if condition:
        statement["Condition"] = condition
    return statement


def policy_document(statements: Iterable[Statement]) -> dict[str, Any]:
    return {"Version": POLICY_VERSION, "Id": POLICY_ID, "Statement": list(statements)}


def to_json(document: Mapping[str, Any]) -> str:
    """Compact JSON text, as AWS returns statements and policies."""
    return orjson.dumps(document).decode()


def with_statement(statements: Sequence[Statement], statement: Statement) -> list[Statement]:
    """The statements with one more, refusing a duplicate Sid or a document over AWS's size quota."""
    sid = statement["Sid"]
    if any(existing["Sid"] == sid for existing in statements):
        raise ResourceConflict(
            f"The statement id ({sid}) provided already exists. Please provide a new statement id, "
            "or remove the existing statement."
        )
    updated = [*statements, statement]
    size = len(to_json(policy_document(updated)).encode())
    if size > MAX_POLICY_BYTES:
        raise ServiceError(
            "PolicyLengthExceededException",
            400,
            f"The final policy size ({size}) is bigger than the limit ({MAX_POLICY_BYTES}).",
        )
    return updated


def without_statement(statements: Sequence[Statement], sid: str) -> list[Statement]:
    """The statements less the one with this Sid, which must be there."""
    if not statements:
        raise ResourceNotFound(NO_POLICY)
    kept = [statement for statement in statements if statement["Sid"] != sid]
    if len(kept) == len(statements):
        raise ResourceNotFound(f"Statement {sid} is not found in resource policy.")
    return kept
