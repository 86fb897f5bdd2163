"""FunctionConfig <-> the JSON text stored in a row."""

from __future__ import annotations

from typing import Any

import orjson

from nimbus.domain.functions import CodeRef, FunctionConfig
from nimbus.domain.states import FunctionState, UpdateStatus


def encode_config(config: FunctionConfig) -> str:
    data: dict[str, Any] = {
        "name": config.name,
        "runtime": config.runtime,
        "role": config.role,
        "handler": config.handler,
        "code": [config.code.sha256_hex, config.code.code_sha256, config.code.size],
        "revision_id": config.revision_id,
        "last_modified": config.last_modified,
        "version": config.version,
        "description": config.description,
        "timeout": config.timeout,
        "memory_size": config.memory_size,
        "ephemeral_storage": config.ephemeral_storage,
        "environment": dict(config.environment) if config.environment is not None else None,
        "architectures": list(config.architectures),
        "package_type": config.package_type,
        "state": config.state.value,
        "state_reason": config.state_reason,
        "state_reason_code": config.state_reason_code,
        "last_update_status": config.last_update_status.value if config.last_update_status else None,
        "last_update_reason": config.last_update_reason,
        "last_update_reason_code": config.last_update_reason_code,
        "passthrough": dict(config.passthrough),
        "tags": dict(config.tags),
    }
    return orjson.dumps(data).decode()


def decode_config(text: str) -> FunctionConfig:
    data = orjson.loads(text)
    sha_hex, code_sha256, size = data.pop("code")
    status = data.pop("last_update_status")
    return FunctionConfig(
        code=CodeRef(sha256_hex=sha_hex, code_sha256=code_sha256, size=size),
        state=FunctionState(data.pop("state")),
        last_update_status=UpdateStatus(status) if status else None,
        architectures=tuple(data.pop("architectures")),
        **data,
    )
