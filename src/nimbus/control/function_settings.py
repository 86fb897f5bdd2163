"""Settings tools read on every deploy: code signing, recursive loop detection, runtime management.

nimbus signs no code, detects no recursion and runs one version of each runtime, so these answer as AWS answers
for a function that has never been configured, and keep what is put where AWS echoes it back on a later read
(the recursion mode, the runtime update mode), so Terraform, SAM and the CDK see no drift.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from nimbus.domain.arns import LATEST
from nimbus.domain.functions import FunctionConfig
from nimbus.errors import ServiceError
from nimbus.store.function_settings import FunctionSettingsStore

DEFAULT_RECURSIVE_LOOP = "Terminate"
DEFAULT_UPDATE_RUNTIME_ON = "Auto"
MANUAL = "Manual"

_RECURSION = "recursive_loop"
_RUNTIME_MANAGEMENT = "runtime_management"


class FunctionLookup(Protocol):
    def get(self, name: str, qualifier: str | None = None) -> FunctionConfig: ...


@dataclass(frozen=True)
class RuntimeManagement:
    update_runtime_on: str = DEFAULT_UPDATE_RUNTIME_ON
    runtime_version_arn: str | None = None  # only in Manual mode, as AWS reports it


class CodeSigningConfigNotFound(ServiceError):
    def __init__(self, arn: str) -> None:
        super().__init__(
            "CodeSigningConfigNotFoundException",
            404,
            "The code signing configuration cannot be found. Check that the provided configuration is not deleted: "
            f"{arn}.",
        )


class FunctionSettingsService:
    def __init__(self, store: FunctionSettingsStore, functions: FunctionLookup) -> None:
        self._store = store
        self._functions = functions

    # -- code signing: nimbus has no code signing configs, so no function has one --------------------------------
    def check_code_signing(self, name: str) -> None:
        """Get/DeleteFunctionCodeSigningConfig: the function must exist; it has no config to show or remove."""
        self._functions.get(name)

    def put_code_signing(self, arn: str) -> None:
        raise CodeSigningConfigNotFound(arn)

    # -- recursion: one mode per function (kept with $LATEST, which lives exactly as long as the function) ------
    def recursive_loop(self, name: str) -> str:
        self._functions.get(name)
        return str(self._store.get(name, LATEST, _RECURSION) or DEFAULT_RECURSIVE_LOOP)

    def put_recursive_loop(self, name: str, mode: str) -> str:
        self._functions.get(name)
        self._store.put(name, LATEST, _RECURSION, mode)
        return mode

    # -- runtime management: per version ------------------------------------------------------------------------
    def runtime_management(self, name: str, qualifier: str | None) -> RuntimeManagement:
        self._functions.get(name, qualifier)
        stored = self._store.get(name, qualifier or LATEST, _RUNTIME_MANAGEMENT)
        return RuntimeManagement(**stored) if stored else RuntimeManagement()

    def put_runtime_management(
        self, name: str, qualifier: str | None, mode: str, runtime_version_arn: str | None
    ) -> RuntimeManagement:
        self._functions.get(name, qualifier)
        setting = RuntimeManagement(mode, runtime_version_arn if mode == MANUAL else None)
        self._store.put(name, qualifier or LATEST, _RUNTIME_MANAGEMENT, vars(setting))
        return setting
