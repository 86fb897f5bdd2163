"""Domain objects -> the Lambda API's output shapes."""

from __future__ import annotations

import hashlib
from typing import Any

from nimbus.domain import snapstart
from nimbus.domain.arns import LATEST, Identity
from nimbus.domain.functions import FunctionConfig


def function_configuration(
    config: FunctionConfig, identity: Identity, *, listing: bool = False, qualifier: str | None = None
) -> dict[str, Any]:
    """FunctionConfiguration as AWS returns it; list items omit the state and runtime-version members.

    FunctionArn is qualified when the request named a qualifier (`$LATEST` included) or the version is published.
    """
    arn_qualifier = qualifier or (config.version if config.version != LATEST else None)
    document: dict[str, Any] = {
        "FunctionName": config.name,
        "FunctionArn": identity.function_arn(config.name, arn_qualifier),
        "Runtime": config.runtime,
        "Role": config.role,
        "Handler": config.handler,
        "CodeSize": config.code.size,
        "Description": config.description,
        "Timeout": config.timeout,
        "MemorySize": config.memory_size,
        "LastModified": config.last_modified,
        "CodeSha256": config.code.code_sha256,
        "Version": config.version,
    }
    if config.environment is not None:
        document["Environment"] = {"Variables": dict(config.environment)}
    document["TracingConfig"] = {"Mode": "PassThrough"}
    document.update(_configured(config))
    document["RevisionId"] = config.revision_id
    if not listing:
        document.update(_states(config))
    document["PackageType"] = config.package_type
    document["Architectures"] = list(config.architectures)
    document["EphemeralStorage"] = {"Size": config.ephemeral_storage}
    document["SnapStart"] = {
        "ApplyOn": snapstart.apply_on(config),
        "OptimizationStatus": snapstart.optimization_status(config),
    }
    if not listing:
        document["RuntimeVersionConfig"] = {"RuntimeVersionArn": runtime_version_arn(config.runtime, identity)}
    document["LoggingConfig"] = {"LogFormat": "Text", "LogGroup": config.log_group, **_logging(config)}
    return document


def runtime_version_arn(runtime: str, identity: Identity) -> str:
    digest = hashlib.sha256(f"nimbus:{runtime}".encode()).hexdigest()
    return f"arn:aws:lambda:{identity.region}::runtime:{digest}"


def _configured(config: FunctionConfig) -> dict[str, Any]:
    out: dict[str, Any] = {}
    passthrough = config.passthrough
    for key in ("VpcConfig", "DeadLetterConfig", "KMSKeyArn", "FileSystemConfigs", "ImageConfigResponse"):
        if passthrough.get(key):
            out[key] = passthrough[key]
    if passthrough.get("TracingConfig"):
        out["TracingConfig"] = {"Mode": passthrough["TracingConfig"].get("Mode", "PassThrough")}
    if config.layers:
        out["Layers"] = [{"Arn": layer.arn, "CodeSize": layer.code.size} for layer in config.layers]
    return out


def _states(config: FunctionConfig) -> dict[str, Any]:
    out: dict[str, Any] = {"State": config.state.value}
    if config.state_reason:
        out["StateReason"] = config.state_reason
        out["StateReasonCode"] = config.state_reason_code
    if config.last_update_status is not None:
        out["LastUpdateStatus"] = config.last_update_status.value
        if config.last_update_reason:
            out["LastUpdateStatusReason"] = config.last_update_reason
            out["LastUpdateStatusReasonCode"] = config.last_update_reason_code
    return out


def _logging(config: FunctionConfig) -> dict[str, Any]:
    logging_config = dict(config.passthrough.get("LoggingConfig") or {})
    logging_config.pop("LogGroup", None)
    logging_config.pop("LogFormat", None)
    return logging_config
