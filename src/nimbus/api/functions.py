"""Function operations: CreateFunction, GetFunction(Configuration), ListFunctions, Update*, DeleteFunction,
GetAccountSettings. Translation only: wire members in, domain calls, wire members out."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from nimbus.api.code_links import signed_link
from nimbus.api.context import Call, Handler
from nimbus.api.shapes import function_configuration
from nimbus.api.wire import WireResponse, json_response
from nimbus.control.functions import NewFunction
from nimbus.domain.arns import LATEST, parse_function_ref, resolve_qualifier
from nimbus.domain.functions import FunctionConfig
from nimbus.errors import InvalidParameterValue, ServiceError
from nimbus.store.code import MAX_ZIPPED_BYTES

# AWS documents these account limits; nimbus reports them so tools that read them see familiar numbers.
TOTAL_CODE_SIZE = 80 * 1024**3
MAX_FUNCTION_NAME = 64

# Wire member -> FunctionConfig field, for members nimbus acts on.
_SETTINGS = {"Description": "description", "Timeout": "timeout", "MemorySize": "memory_size",
             "Runtime": "runtime", "Handler": "handler", "Role": "role"}  # fmt: skip
# Members nimbus stores and echoes as given.
_PASSTHROUGH = ("VpcConfig", "DeadLetterConfig", "KMSKeyArn", "TracingConfig", "Layers", "FileSystemConfigs",
                "ImageConfig", "SnapStart", "LoggingConfig")  # fmt: skip


def _settings(params: Mapping[str, Any]) -> dict[str, Any]:
    settings: dict[str, Any] = {field: params[member] for member, field in _SETTINGS.items() if member in params}
    if "Environment" in params:
        settings["environment"] = dict((params["Environment"] or {}).get("Variables") or {})
    if "EphemeralStorage" in params:
        settings["ephemeral_storage"] = params["EphemeralStorage"]["Size"]
    if "Architectures" in params:
        settings["architectures"] = tuple(params["Architectures"])
    passthrough = {key: params[key] for key in _PASSTHROUGH if key in params}
    if passthrough:
        settings["passthrough"] = passthrough
    return settings


async def _package(code: Mapping[str, Any]) -> bytes:
    if code.get("ImageUri"):
        raise InvalidParameterValue("nimbus runs .zip deployment packages; container images are not supported.")
    if code.get("ZipFile") is not None:
        package = code["ZipFile"]
        if len(package) > MAX_ZIPPED_BYTES:
            raise ServiceError(
                "RequestEntityTooLargeException",
                413,
                f"Zipped size must be smaller than {MAX_ZIPPED_BYTES} bytes",
            )
        return bytes(package)
    if code.get("S3Bucket") and code.get("S3Key"):
        return await asyncio.to_thread(_download_from_s3, code["S3Bucket"], code["S3Key"], code.get("S3ObjectVersion"))
    raise InvalidParameterValue("Please provide a source for function code.")


def _download_from_s3(bucket: str, key: str, version: str | None) -> bytes:
    import boto3  # outbound AWS-compatible client; honours AWS_ENDPOINT_URL_S3

    extra = {"VersionId": version} if version else {}
    try:
        body = boto3.client("s3").get_object(Bucket=bucket, Key=key, **extra)["Body"].read()
    except Exception as exc:
        raise InvalidParameterValue(
            f"Error occurred while GetObject. S3 Error Code: NoSuchKey. S3 Error Message: {exc}"
        ) from exc
    return bytes(body)


def _function_name(call: Call) -> tuple[str, str | None]:
    ref = parse_function_ref(call.params["FunctionName"])
    return ref.name, resolve_qualifier(ref, call.params.get("Qualifier"))


def _configuration(call: Call, config: FunctionConfig, status: int = 200) -> WireResponse:
    return json_response(status, function_configuration(config, call.services.identity))


async def create_function(call: Call) -> WireResponse:
    params = call.params
    name = parse_function_ref(params["FunctionName"]).name
    if len(name) > MAX_FUNCTION_NAME:
        raise InvalidParameterValue(
            f"1 validation error detected: Value '{name}' at 'functionName' failed to satisfy constraint: "
            f"Member must have length less than or equal to {MAX_FUNCTION_NAME}"
        )
    if params.get("PackageType") == "Image":
        raise InvalidParameterValue("nimbus runs .zip deployment packages; container images are not supported.")
    settings = _settings(params)
    new = NewFunction(
        name=name,
        package=await _package(params["Code"]),
        runtime=settings.pop("runtime", None),
        role=settings.pop("role"),
        handler=settings.pop("handler", None),
        settings=settings,
        tags=params.get("Tags") or {},
    )
    config = await call.services.functions.create(new)
    return _configuration(call, config, 201)


async def get_function(call: Call) -> WireResponse:
    name, qualifier = _function_name(call)
    config = call.services.functions.get(name, qualifier)
    services = call.services
    document: dict[str, Any] = {
        "Configuration": function_configuration(config, services.identity),
        "Code": {"RepositoryType": "S3", "Location": signed_link(services.base_url, services.url_secret,
                                                                 config.code.sha256_hex)},
    }  # fmt: skip
    if config.tags:
        document["Tags"] = dict(config.tags)
    return json_response(200, document)


async def get_function_configuration(call: Call) -> WireResponse:
    name, qualifier = _function_name(call)
    return _configuration(call, call.services.functions.get(name, qualifier))


async def list_functions(call: Call) -> WireResponse:
    # AWS pages ListFunctions at 50 whatever MaxItems asks for.
    max_items = min(int(call.params.get("MaxItems") or 50), 50)
    page, next_marker = call.services.functions.list(call.params.get("Marker") or None, max_items)
    document: dict[str, Any] = {
        "Functions": [function_configuration(c, call.services.identity, listing=True) for c in page]
    }
    if next_marker:
        document["NextMarker"] = next_marker
    return json_response(200, document)


async def update_function_code(call: Call) -> WireResponse:
    name, _ = _function_name(call)
    package = await _package(call.params)
    config = await call.services.functions.update_code(name, package, call.params.get("RevisionId"))
    return _configuration(call, config)


async def update_function_configuration(call: Call) -> WireResponse:
    name, _ = _function_name(call)
    changes = _settings(call.params)
    config = await call.services.functions.update_configuration(name, changes, call.params.get("RevisionId"))
    return _configuration(call, config)


async def delete_function(call: Call) -> WireResponse:
    name, qualifier = _function_name(call)
    if qualifier == LATEST:
        raise InvalidParameterValue("$LATEST version cannot be deleted without deleting the function.")
    await call.services.functions.delete(name, qualifier)
    return WireResponse(204, content_type=None)


async def get_account_settings(call: Call) -> WireResponse:
    count, total = call.services.functions.usage()
    limit = call.services.functions.account_concurrency
    return json_response(200, {
        "AccountLimit": {"TotalCodeSize": TOTAL_CODE_SIZE, "CodeSizeUnzipped": 262144000,
                         "CodeSizeZipped": MAX_ZIPPED_BYTES, "ConcurrentExecutions": limit,
                         "UnreservedConcurrentExecutions": limit},
        "AccountUsage": {"TotalCodeSize": total, "FunctionCount": count},
    })  # fmt: skip


HANDLERS: dict[str, Handler] = {
    "CreateFunction": create_function,
    "GetFunction": get_function,
    "GetFunctionConfiguration": get_function_configuration,
    "ListFunctions": list_functions,
    "UpdateFunctionCode": update_function_code,
    "UpdateFunctionConfiguration": update_function_configuration,
    "DeleteFunction": delete_function,
    "GetAccountSettings": get_account_settings,
}
