"""FunctionConfig <-> the JSON text stored in a row."""

from __future__ import annotations

from typing import Any

import orjson

from nimbus.domain.functions import CodeRef, FunctionConfig, LayerRef
from nimbus.domain.states import FunctionState, UpdateStatus


def encode_config(config: FunctionConfig) -> str:
    data: dict[str, Any] = {
        "name": config.name,
        "runtime": config.runtime,
        "role": config.role,
        "handler": config.handler,
        "code": _code(config.code),
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
        "layers": [[layer.arn, *_code(layer.code)] for layer in config.layers],
    }
    return orjson.dumps(data).decode()


def decode_config(text: str) -> FunctionConfig:
    data = orjson.loads(text)
    sha_hex, code_sha256, size = data.pop("code")
    status = data.pop("last_update_status")
    data.pop("tags", None)  # rows written before tags moved to their own store (migration 0005) carry them
    layers = tuple(LayerRef(arn, CodeRef(*code)) for arn, *code in data.pop("layers", ()))
    return FunctionConfig(
        layers=layers,
        code=CodeRef(sha256_hex=sha_hex, code_sha256=code_sha256, size=size),
        state=FunctionState(data.pop("state")),
        last_update_status=UpdateStatus(status) if status else None,
        architectures=tuple(data.pop("architectures")),
        **data,
    )


def _code(code: CodeRef) -> list[Any]:
    return [code.sha256_hex, code.code_sha256, code.size]
