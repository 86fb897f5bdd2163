"""AddPermission, GetPolicy, RemovePermission: a resource policy per function and qualifier.

Policies are stored and returned as AWS returns them; nothing enforces them yet (every request is signed by the
root key pair, which AWS would not check against a function's policy either). Messages are AWS's
(reference/lambda-control-plane.md §1 "Permissions" and §2.4, and LocalStack's AWS-recorded permission tests).

A policy has no RevisionId of its own: as on AWS, GetPolicy answers with the RevisionId of the resource the policy
belongs to ($LATEST for the unqualified function, the published version, or the alias), AddPermission's and
RemovePermission's RevisionId are checked against it, and adding or removing a statement gives that resource a new
one (LocalStack's AWS-validated TestLambdaRevisions::test_function_revisions_permissions).
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Protocol

from nimbus.domain.aliases import Alias, is_alias_name
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
    "The Revision Id provided does not match the latest Revision Id. "
    "Call the GetFunction/GetAlias API to retrieve the latest Revision Id"
)


class Functions(Protocol):
    """What policies need of control.functions.FunctionService."""

    def get(self, name: str, qualifier: str | None = None) -> FunctionConfig: ...
    def alias(self, name: str, alias_name: str) -> Alias: ...
    def exclusive(self, name: str) -> contextlib.AbstractAsyncContextManager[None]: ...
    async def settled(self, name: str) -> None: ...
    def save_latest(self, config: FunctionConfig) -> None: ...
    def save_version(self, config: FunctionConfig) -> None: ...


class Aliases(Protocol):
    """What policies need of control.aliases.AliasService."""

    def renew_revision(self, name: str, alias_name: str, revision_id: str) -> Alias: ...


@dataclass(frozen=True)
class Policy:
    document: str  # GetPolicy's Policy: the JSON text of {"Version", "Id", "Statement"}
    revision_id: str  # the function's, version's or alias's


class PolicyService:
    def __init__(
        self,
        store: PolicyStore,
        functions: Functions,
        aliases: Aliases,
        identity: Identity,
        new_revision: Callable[[], str] = lambda: str(uuid.uuid4()),
    ) -> None:
        self._store = store
        self._functions = functions
        self._aliases = aliases
        self._identity = identity
        self._new_revision = new_revision

    async def add(self, name: str, qualifier: str | None, permission: Permission, revision_id: str | None) -> Statement:
        """Add a statement to the policy of the function (no qualifier), a version or an alias."""
        if qualifier == LATEST:
            raise InvalidParameterValue(LATEST_UNSUPPORTED)
        async with self._changing(name):
            _check_revision(revision_id, self._revision(name, qualifier))
            current = self._store.get(name, qualifier or LATEST)
            statement = build_statement(permission, self._identity.function_arn(name, qualifier))
            statements = with_statement(current.statements, statement)
            self._store.save(name, qualifier or LATEST, StoredPolicy(statements, self._renew_revision(name, qualifier)))
        return statement

    def get(self, name: str, qualifier: str | None) -> Policy:
        self._functions.get(name)
        try:
            revision_id = self._revision(name, qualifier)
        except ResourceNotFound:  # AWS words a missing version or alias as a missing policy here
            raise ResourceNotFound(NO_SUCH_POLICY) from None
        current = self._store.get(name, qualifier or LATEST)
        if not current.statements:
            raise ResourceNotFound(NO_SUCH_POLICY)
        return Policy(to_json(policy_document(current.statements)), revision_id)

    async def remove(self, name: str, qualifier: str | None, statement_id: str, revision_id: str | None) -> None:
        try:
            self._functions.get(name)
        except ResourceNotFound:
            raise ResourceNotFound(f"No policy found for: {self._identity.function_arn(name)}") from None
        async with self._changing(name):
            latest = self._revision(name, qualifier)
            current = self._store.get(name, qualifier or LATEST)
            statements = without_statement(current.statements, statement_id)
            _check_revision(revision_id, latest)
            self._store.save(name, qualifier or LATEST, StoredPolicy(statements, self._renew_revision(name, qualifier)))

    @contextlib.asynccontextmanager
    async def _changing(self, name: str) -> AsyncIterator[None]:
        """Hold the function's mutation lock, once a create or update has settled: a renewed $LATEST RevisionId
        must neither be overwritten by an update in flight nor replace the configuration an activation settles."""
        self._functions.get(name)
        async with self._functions.exclusive(name):
            await self._functions.settled(name)
            yield

    def _revision(self, name: str, qualifier: str | None) -> str:
        """The RevisionId the policy shares: the alias's for an alias, else the version's ($LATEST unqualified)."""
        if is_alias_name(qualifier):
            assert qualifier is not None
            try:
                return self._functions.alias(name, qualifier).revision_id
            except ResourceNotFound:
                raise ResourceNotFound(
                    f"Cannot find alias arn: {self._identity.function_arn(name, qualifier)}"
                ) from None
        return self._functions.get(name, qualifier).revision_id

    def _renew_revision(self, name: str, qualifier: str | None) -> str:
        revision_id = self._new_revision()
        if is_alias_name(qualifier):
            assert qualifier is not None
            self._aliases.renew_revision(name, qualifier, revision_id)
            return revision_id
        renewed = self._functions.get(name, qualifier).replace(revision_id=revision_id)
        if renewed.version == LATEST:
            self._functions.save_latest(renewed)
        else:
            self._functions.save_version(renewed)
        return revision_id


def _check_revision(given: str | None, latest: str) -> None:
    if given is not None and given != latest:
        raise PreconditionFailed(STALE_REVISION)
