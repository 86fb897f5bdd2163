"""PolicyService on SQLite: AddPermission/GetPolicy/RemovePermission, revisions, and policies follow functions."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import re
from collections.abc import AsyncIterator, Coroutine, Iterator
from typing import Any, TypeVar

import orjson
import pytest
import sqlalchemy as sa

from nimbus.control.policies import LATEST_UNSUPPORTED, NO_SUCH_POLICY, STALE_REVISION, PolicyService
from nimbus.domain.aliases import Alias
from nimbus.domain.functions import FunctionConfig
from nimbus.domain.policies import NO_POLICY, Permission
from nimbus.errors import InvalidParameterValue, PreconditionFailed, ResourceNotFound
from nimbus.store.functions import SqlFunctionStore
from nimbus.store.policies import SqlPolicyStore
from tests.unit.control.fakes import IDENTITY, StoredFunctions, function

ARN = "arn:aws:lambda:us-east-1:000000000000:function:fn"
ALLOW_S3 = Permission("s3", "lambda:InvokeFunction", "s3.amazonaws.com")
T = TypeVar("T")


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coroutine)


class Functions(StoredFunctions):
    """FunctionService's part policies use, over a real function store, with one alias "live" -> 1."""

    def __init__(self, store: SqlFunctionStore) -> None:
        super().__init__(store)
        self.aliases = {"live": Alias("fn", "live", "1", "alias-rev")}
        self.held: list[str] = []

    def alias(self, name: str, alias_name: str) -> Alias:
        if alias_name not in self.aliases:
            raise ResourceNotFound(f"Function not found: {IDENTITY.function_arn(name, alias_name)}")
        return self.aliases[alias_name]

    @contextlib.asynccontextmanager
    async def exclusive(self, name: str) -> AsyncIterator[None]:
        self.held.append(name)
        yield

    async def settled(self, name: str) -> None:
        pass

    def save_latest(self, config: FunctionConfig) -> None:
        assert config.version == "$LATEST"
        self.store.save(config)

    def save_version(self, config: FunctionConfig) -> None:
        assert config.version != "$LATEST"
        self.store.save(config)

    def renew_revision(self, name: str, alias_name: str, revision_id: str) -> Alias:
        self.aliases[alias_name] = dataclasses.replace(self.aliases[alias_name], revision_id=revision_id)
        return self.aliases[alias_name]


@pytest.fixture
def fake(functions: SqlFunctionStore) -> Functions:
    return Functions(functions)


@pytest.fixture
def service(engine: sa.Engine, fake: Functions) -> PolicyService:
    revisions: Iterator[str] = (f"rev-{n}" for n in range(1, 100))
    return PolicyService(SqlPolicyStore(engine), fake, fake, IDENTITY, lambda: next(revisions))


def statements(service: PolicyService, qualifier: str | None = None) -> list[dict[str, object]]:
    document = orjson.loads(service.get("fn", qualifier).document)
    assert (document["Version"], document["Id"]) == ("2012-10-17", "default")
    return list(document["Statement"])


def test_add_returns_the_statement_and_get_returns_the_policy(service: PolicyService, fake: Functions) -> None:
    statement = run(service.add("fn", None, ALLOW_S3, None))
    assert statement["Resource"] == ARN
    assert statements(service) == [statement]
    assert fake.held == ["fn"]  # under the function's mutation lock


def test_a_version_has_its_own_policy_on_its_qualified_arn(service: PolicyService) -> None:
    run(service.add("fn", None, ALLOW_S3, None))
    statement = run(service.add("fn", "1", ALLOW_S3, None))
    assert statement["Resource"] == f"{ARN}:1"
    assert statements(service, "1") == [statement]
    assert len(statements(service)) == 1


def test_latest_cannot_get_a_policy_but_reads_as_the_unqualified_one(service: PolicyService) -> None:
    with pytest.raises(InvalidParameterValue, match=LATEST_UNSUPPORTED.replace("$", r"\$")):
        run(service.add("fn", "$LATEST", ALLOW_S3, None))
    run(service.add("fn", None, ALLOW_S3, None))
    assert statements(service, "$LATEST") == statements(service)


def test_no_policy_and_missing_functions_are_not_found(service: PolicyService) -> None:
    with pytest.raises(ResourceNotFound, match=NO_SUCH_POLICY):
        service.get("fn", None)
    with pytest.raises(ResourceNotFound, match=f"Function not found: {ARN}:7"):
        run(service.add("fn", "7", ALLOW_S3, None))
    with pytest.raises(ResourceNotFound, match=f"^{NO_SUCH_POLICY}$"):  # AWS: a missing version has no policy
        service.get("fn", "7")
    with pytest.raises(ResourceNotFound, match=f"Cannot find alias arn: {ARN}:gone"):
        run(service.add("fn", "gone", ALLOW_S3, None))
    with pytest.raises(ResourceNotFound, match=f"Cannot find alias arn: {ARN}:gone"):
        run(service.remove("fn", "gone", "s3", None))
    with pytest.raises(ResourceNotFound, match=f"No policy found for: {ARN}x"):
        run(service.remove("fnx", None, "s3", None))


def test_the_policy_shares_the_functions_revision_id_and_renews_it(service: PolicyService, fake: Functions) -> None:
    with pytest.raises(PreconditionFailed, match=STALE_REVISION):
        run(service.add("fn", None, ALLOW_S3, "stale"))
    run(service.add("fn", None, ALLOW_S3, "function-rev"))
    assert fake.get("fn").revision_id == "rev-1" == service.get("fn", None).revision_id
    with pytest.raises(PreconditionFailed):
        run(service.add("fn", None, Permission("s2", "lambda:InvokeFunction", "*"), "function-rev"))
    run(service.add("fn", None, Permission("s2", "lambda:InvokeFunction", "*"), "rev-1"))
    with pytest.raises(PreconditionFailed):
        run(service.remove("fn", None, "s2", "rev-1"))
    run(service.remove("fn", None, "s2", "rev-2"))
    assert [s["Sid"] for s in statements(service)] == ["s3"]
    assert fake.get("fn").revision_id == "rev-3"
    assert fake.get("fn", "1").revision_id == "function-rev"  # the version's is its own


def test_a_version_and_an_alias_share_their_own_revision_ids(service: PolicyService, fake: Functions) -> None:
    with pytest.raises(PreconditionFailed):
        run(service.add("fn", "1", ALLOW_S3, "alias-rev"))
    run(service.add("fn", "1", ALLOW_S3, "function-rev"))
    assert fake.get("fn", "1").revision_id == "rev-1" == service.get("fn", "1").revision_id
    with pytest.raises(PreconditionFailed):
        run(service.add("fn", "live", ALLOW_S3, "rev-1"))
    run(service.add("fn", "live", ALLOW_S3, "alias-rev"))
    assert fake.alias("fn", "live").revision_id == "rev-2" == service.get("fn", "live").revision_id
    assert fake.get("fn").revision_id == "function-rev"  # $LATEST untouched
    run(service.remove("fn", "live", "s3", "rev-2"))
    assert fake.alias("fn", "live").revision_id == "rev-3"


def test_removing_the_last_statement_removes_the_policy(service: PolicyService) -> None:
    run(service.add("fn", None, ALLOW_S3, None))
    run(service.remove("fn", None, "s3", None))
    with pytest.raises(ResourceNotFound, match=NO_SUCH_POLICY):
        service.get("fn", None)
    with pytest.raises(ResourceNotFound, match=re.escape(NO_POLICY)):
        run(service.remove("fn", None, "s3", None))


def test_policies_go_with_their_version_and_function(service: PolicyService, functions: SqlFunctionStore) -> None:
    run(service.add("fn", None, ALLOW_S3, None))
    run(service.add("fn", "1", ALLOW_S3, None))
    functions.delete_version("fn", "1")
    functions.insert(function("fn", "1"))
    with pytest.raises(ResourceNotFound, match=NO_SUCH_POLICY):
        service.get("fn", "1")
    functions.delete("fn")
    functions.insert(function("fn"))
    with pytest.raises(ResourceNotFound, match=NO_SUCH_POLICY):
        service.get("fn", None)
