"""PolicyService on SQLite: AddPermission/GetPolicy/RemovePermission, revisions, and policies follow functions."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
import sqlalchemy as sa

from nimbus.control.policies import LATEST_UNSUPPORTED, NO_SUCH_POLICY, STALE_REVISION, PolicyService
from nimbus.domain.arns import Identity
from nimbus.domain.functions import CodeRef, FunctionConfig
from nimbus.domain.policies import NO_POLICY, Permission
from nimbus.errors import InvalidParameterValue, PreconditionFailed, ResourceNotFound
from nimbus.store.database import create_engine, migrate, sqlite_url
from nimbus.store.functions import SqlFunctionStore
from nimbus.store.policies import SqlPolicyStore

IDENTITY = Identity("us-east-1", "000000000000")
ARN = "arn:aws:lambda:us-east-1:000000000000:function:fn"
ALLOW_S3 = Permission("s3", "lambda:InvokeFunction", "s3.amazonaws.com")


def function(name: str, version: str = "$LATEST") -> FunctionConfig:
    return FunctionConfig(name, "python3.12", "arn:aws:iam::000000000000:role/r", "app.handler",
                          CodeRef("ab" * 32, "x", 1), "function-rev", "2026-01-01T00:00:00.000+0000",
                          version=version)  # fmt: skip


class Functions:
    def __init__(self, store: SqlFunctionStore) -> None:
        self.store = store

    def get(self, name: str, qualifier: str | None = None) -> FunctionConfig:
        config = self.store.get(name, qualifier or "$LATEST")
        if config is None:
            raise ResourceNotFound(f"Function not found: {IDENTITY.function_arn(name, qualifier)}")
        return config


@pytest.fixture
def engine(tmp_path: Path) -> sa.Engine:
    engine = create_engine(sqlite_url(tmp_path))
    migrate(engine)
    return engine


@pytest.fixture
def functions(engine: sa.Engine) -> SqlFunctionStore:
    store = SqlFunctionStore(engine)
    store.insert(function("fn"))
    store.insert(function("fn", "1"))
    return store


@pytest.fixture
def service(engine: sa.Engine, functions: SqlFunctionStore) -> PolicyService:
    revisions: Iterator[str] = (f"rev-{n}" for n in range(1, 100))
    return PolicyService(SqlPolicyStore(engine), Functions(functions), IDENTITY, lambda: next(revisions))


def statements(service: PolicyService, qualifier: str | None = None) -> list[dict[str, object]]:
    document = orjson.loads(service.get("fn", qualifier).document)
    assert (document["Version"], document["Id"]) == ("2012-10-17", "default")
    return list(document["Statement"])


def test_add_returns_the_statement_and_get_returns_the_policy(service: PolicyService) -> None:
    statement = service.add("fn", None, ALLOW_S3, None)
    assert statement["Resource"] == ARN
    assert statements(service) == [statement]
    assert service.get("fn", None).revision_id == "rev-1"


def test_a_version_has_its_own_policy_on_its_qualified_arn(service: PolicyService) -> None:
    service.add("fn", None, ALLOW_S3, None)
    statement = service.add("fn", "1", ALLOW_S3, None)
    assert statement["Resource"] == f"{ARN}:1"
    assert statements(service, "1") == [statement]
    assert len(statements(service)) == 1


def test_latest_cannot_get_a_policy_but_reads_as_the_unqualified_one(service: PolicyService) -> None:
    with pytest.raises(InvalidParameterValue, match=LATEST_UNSUPPORTED.replace("$", r"\$")):
        service.add("fn", "$LATEST", ALLOW_S3, None)
    service.add("fn", None, ALLOW_S3, None)
    assert statements(service, "$LATEST") == statements(service)


def test_no_policy_and_missing_functions_are_not_found(service: PolicyService) -> None:
    with pytest.raises(ResourceNotFound, match=NO_SUCH_POLICY):
        service.get("fn", None)
    with pytest.raises(ResourceNotFound, match=f"Function not found: {ARN}:7"):
        service.add("fn", "7", ALLOW_S3, None)


def test_revision_ids_are_checked(service: PolicyService) -> None:
    with pytest.raises(PreconditionFailed, match=STALE_REVISION):
        service.add("fn", None, ALLOW_S3, "stale")
    service.add("fn", None, ALLOW_S3, "function-rev")  # before any policy: the function's RevisionId
    with pytest.raises(PreconditionFailed):
        service.add("fn", None, Permission("s2", "lambda:InvokeFunction", "*"), "function-rev")
    service.add("fn", None, Permission("s2", "lambda:InvokeFunction", "*"), "rev-1")
    with pytest.raises(PreconditionFailed):
        service.remove("fn", None, "s2", "rev-1")
    service.remove("fn", None, "s2", "rev-2")
    assert [s["Sid"] for s in statements(service)] == ["s3"]


def test_removing_the_last_statement_removes_the_policy(service: PolicyService) -> None:
    service.add("fn", None, ALLOW_S3, None)
    service.remove("fn", None, "s3", None)
    with pytest.raises(ResourceNotFound, match=NO_SUCH_POLICY):
        service.get("fn", None)
    with pytest.raises(ResourceNotFound, match=re.escape(NO_POLICY)):
        service.remove("fn", None, "s3", None)


def test_policies_go_with_their_version_and_function(service: PolicyService, functions: SqlFunctionStore) -> None:
    service.add("fn", None, ALLOW_S3, None)
    service.add("fn", "1", ALLOW_S3, None)
    functions.delete_version("fn", "1")
    functions.insert(function("fn", "1"))
    with pytest.raises(ResourceNotFound, match=NO_SUCH_POLICY):
        service.get("fn", "1")
    functions.delete("fn")
    functions.insert(function("fn"))
    with pytest.raises(ResourceNotFound, match=NO_SUCH_POLICY):
        service.get("fn", None)
