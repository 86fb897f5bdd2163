"""AddPermission, GetPolicy, RemovePermission: a resource policy per function and qualifier.

Policies are stored and returned as AWS returns them; nothing enforces them yet (every request is signed by the
root key pair, which AWS would not check against a function's policy either). Messages are AWS's
(reference/lambda-control-plane.md §1 "Permissions" and §2.4, and LocalStack's AWS-recorded permission tests).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from nimbus.domain.arns import LATEST, Identity
from nimbus.domain.functions import FunctionConfig
from nimbus.domain.policies import (
    Permission,
    Statement,
    build_statement,
    policy_document,
    to_json,
    with_statement,
    without_statement,
)
from nimbus.errors import InvalidParameterValue, PreconditionFailed, ResourceNotFound
from nimbus.store.policies import PolicyStore, StoredPolicy

LATEST_UNSUPPORTED = "We currently do not support adding policies for $LATEST."
NO_SUCH_POLICY = "The resource you requested does not exist."
STALE_REVISION = (
    "The Revision Id provided does not match the latest Revision Id. Call the GetPolicy API to retrieve the latest "
    "Revision Id"
)


class FunctionLookup(Protocol):
    def get(self, name: str, qualifier: str | None = None) -> FunctionConfig: ...


@dataclass(frozen=True)
class Policy:
    document: str  # GetPolicy's Policy: the JSON text of {"Version", "Id", "Statement"}
    revision_id: str


class PolicyService:
    def __init__(
        self,
        store: PolicyStore,
        functions: FunctionLookup,
        identity: Identity,
        new_revision: Callable[[], str] = lambda: str(uuid.uuid4()),
    ) -> None:
        self._store = store
        self._functions = functions
        self._identity = identity
        self._new_revision = new_revision

    def add(self, name: str, qualifier: str | None, permission: Permission, revision_id: str | None) -> Statement:
        """Add a statement to the policy of the function (no qualifier), a version or an alias."""
        if qualifier == LATEST:
            raise InvalidParameterValue(LATEST_UNSUPPORTED)
        config = self._functions.get(name, qualifier)
        current = self._store.get(name, qualifier or LATEST)
        # Before a function has a policy, the RevisionId a client knows is the function's own.
        self._check_revision(revision_id, current.revision_id or config.revision_id)
        statement = build_statement(permission, self._identity.function_arn(name, qualifier))
        statements = with_statement(current.statements, statement)
        self._store.save(name, qualifier or LATEST, StoredPolicy(statements, self._new_revision()))
        return statement

    def get(self, name: str, qualifier: str | None) -> Policy:
        self._functions.get(name, qualifier)
        current = self._store.get(name, qualifier or LATEST)
        if current.revision_id is None:
            raise ResourceNotFound(NO_SUCH_POLICY)
        return Policy(to_json(policy_document(current.statements)), current.revision_id)

    def remove(self, name: str, qualifier: str | None, statement_id: str, revision_id: str | None) -> None:
        self._functions.get(name, qualifier)
        current = self._store.get(name, qualifier or LATEST)
        statements = without_statement(current.statements, statement_id)
        self._check_revision(revision_id, current.revision_id)
        self._store.save(name, qualifier or LATEST, StoredPolicy(statements, self._new_revision()))

    @staticmethod
    def _check_revision(given: str | None, latest: str | None) -> None:
        if given is not None and given != latest:
            raise PreconditionFailed(STALE_REVISION)
