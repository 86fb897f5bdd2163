"""FunctionSettingsService: defaults AWS reports for an unconfigured function, stored puts, and cleanup."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from nimbus.control.function_settings import CodeSigningConfigNotFound, FunctionSettingsService, RuntimeManagement
from nimbus.errors import ResourceNotFound
from nimbus.store.function_settings import SqlFunctionSettingsStore
from nimbus.store.functions import SqlFunctionStore
from tests.unit.control.fakes import StoredFunctions, function

CSC = "arn:aws:lambda:us-east-1:000000000000:code-signing-config:csc-0123456789abcdef0"
RUNTIME = "arn:aws:lambda:us-east-1::runtime:0123456789abcdef"


@pytest.fixture
def service(engine: sa.Engine, functions: SqlFunctionStore) -> FunctionSettingsService:
    return FunctionSettingsService(SqlFunctionSettingsStore(engine), StoredFunctions(functions))


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
