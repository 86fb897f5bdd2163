"""The function model: one immutable configuration per (function, version)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from nimbus.domain.arns import LATEST
from nimbus.domain.states import FunctionState, UpdateStatus

DEFAULT_TIMEOUT = 3
DEFAULT_MEMORY = 128
DEFAULT_EPHEMERAL_STORAGE = 512


@dataclass(frozen=True)
class CodeRef:
    """A deployment package in the content-addressed code store."""

    sha256_hex: str  # the store's key
    code_sha256: str  # base64 of the digest, as the API reports it
    size: int


@dataclass(frozen=True)
class LayerRef:
    """A layer version a function uses: its ARN and its package, which stays in the code store while any function
    refers to it (even after DeleteLayerVersion, as on AWS)."""

    arn: str
    code: CodeRef


@dataclass(frozen=True)
class FunctionConfig:
    name: str
    runtime: str
    role: str
    handler: str
    code: CodeRef
    revision_id: str
    last_modified: str
    version: str = LATEST
    description: str = ""
    timeout: int = DEFAULT_TIMEOUT
    memory_size: int = DEFAULT_MEMORY
    ephemeral_storage: int = DEFAULT_EPHEMERAL_STORAGE
    environment: Mapping[str, str] | None = None
    architectures: tuple[str, ...] = ("x86_64",)
    package_type: str = "Zip"
    state: FunctionState = FunctionState.PENDING
    state_reason: str | None = "The function is being created."
    state_reason_code: str | None = "Creating"
    last_update_status: UpdateStatus | None = None
    last_update_reason: str | None = None
    last_update_reason_code: str | None = None
    # Configured members nimbus stores and echoes but does not act on yet (VpcConfig, KMSKeyArn,
    # DeadLetterConfig, TracingConfig, LoggingConfig, SnapStart ...), in their wire shape.
    passthrough: Mapping[str, Any] = field(default_factory=dict)
    layers: tuple[LayerRef, ...] = ()  # in the function's order: later layers win at /opt

    def replace(self, **changes: Any) -> FunctionConfig:
        return dataclasses.replace(self, **changes)

    @property
    def log_group(self) -> str:
        logging_config = self.passthrough.get("LoggingConfig") or {}
        group = logging_config.get("LogGroup") if isinstance(logging_config, Mapping) else None
        return str(group) if group else f"/aws/lambda/{self.name}"

    @property
    def is_custom_runtime(self) -> bool:
        return self.runtime.startswith("provided")
