"""FunctionSettingsService: defaults AWS reports for an unconfigured function, stored puts, and cleanup."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from nimbus.control.function_settings import CodeSigningConfigNotFound, FunctionSettingsService, RuntimeManagement
from nimbus.domain.functions import CodeRef, FunctionConfig
from nimbus.errors import ResourceNotFound
from nimbus.store.database import create_engine, migrate, sqlite_url
from nimbus.store.function_settings import SqlFunctionSettingsStore
from nimbus.store.functions import SqlFunctionStore

CSC = "arn:aws:lambda:us-east-1:000000000000:code-signing-config:csc-0123456789abcdef0"
RUNTIME = "arn:aws:lambda:us-east-1::runtime:0123456789abcdef"


def function(name: str, version: str = "$LATEST") -> FunctionConfig:
    return FunctionConfig(name, "python3.12", "arn:aws:iam::000000000000:role/r", "app.handler",
                          CodeRef("ab" * 32, "x", 1), "rev", "2026-01-01T00:00:00.000+0000",
                          version=version)  # fmt: skip


class Functions:
    def __init__(self, store: SqlFunctionStore) -> None:
        self.store = store

    def get(self, name: str, qualifier: str | None = None) -> FunctionConfig:
        config = self.store.get(name, qualifier or "$LATEST")
        if config is None:
            raise ResourceNotFound(f"Function not found: {name}")
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
def service(engine: sa.Engine, functions: SqlFunctionStore) -> FunctionSettingsService:
    return FunctionSettingsService(SqlFunctionSettingsStore(engine), Functions(functions))


def test_an_unconfigured_function_reports_the_defaults(service: FunctionSettingsService) -> None:
    assert service.recursive_loop("fn") == "Terminate"
    assert service.runtime_management("fn", None) == RuntimeManagement("Auto", None)
    service.check_code_signing("fn")


def test_puts_are_kept(service: FunctionSettingsService) -> None:
    assert service.put_recursive_loop("fn", "Allow") == "Allow"
    assert service.recursive_loop("fn") == "Allow"
    assert service.put_runtime_management("fn", "1", "Manual", RUNTIME) == RuntimeManagement("Manual", RUNTIME)
    assert service.runtime_management("fn", "1") == RuntimeManagement("Manual", RUNTIME)
    assert service.runtime_management("fn", None) == RuntimeManagement()


def test_a_runtime_version_is_kept_only_in_manual_mode(service: FunctionSettingsService) -> None:
    assert service.put_runtime_management("fn", None, "FunctionUpdate", RUNTIME) == RuntimeManagement("FunctionUpdate")


def test_every_code_signing_config_is_unknown(service: FunctionSettingsService) -> None:
    with pytest.raises(CodeSigningConfigNotFound) as caught:
        service.put_code_signing(CSC)
    assert caught.value.status == 404
    assert caught.value.message == (
        f"The code signing configuration cannot be found. Check that the provided configuration is not deleted: {CSC}."
    )


def test_missing_functions_are_not_found(service: FunctionSettingsService) -> None:
    with pytest.raises(ResourceNotFound):
        service.recursive_loop("x")
    with pytest.raises(ResourceNotFound):
        service.put_recursive_loop("x", "Allow")
    with pytest.raises(ResourceNotFound):
        service.check_code_signing("x")
    with pytest.raises(ResourceNotFound):
        service.runtime_management("fn", "9")


def test_settings_go_with_their_version_and_function(
    service: FunctionSettingsService, functions: SqlFunctionStore
) -> None:
    service.put_runtime_management("fn", "1", "FunctionUpdate", None)
    service.put_recursive_loop("fn", "Allow")
    functions.delete_version("fn", "1")
    functions.insert(function("fn", "1"))
    assert service.runtime_management("fn", "1") == RuntimeManagement()
    assert service.recursive_loop("fn") == "Allow"
    functions.delete("fn")
    functions.insert(function("fn"))
    assert service.recursive_loop("fn") == "Terminate"
