"""Function operations: CreateFunction, GetFunction(Configuration), ListFunctions, Update*, DeleteFunction,
GetAccountSettings. Translation only: wire members in, domain calls, wire members out."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from nimbus.api.code_links import signed_link
from nimbus.api.context import Call, Handler
from nimbus.api.listing import page_response
from nimbus.api.shapes import function_configuration
from nimbus.api.wire import WireResponse, json_response
from nimbus.control.functions import NewFunction
from nimbus.control.packages import CodeSource
from nimbus.domain.arns import LATEST, parse_function_ref, resolve_qualifier
from nimbus.domain.functions import FunctionConfig
from nimbus.domain.paging import page_size
from nimbus.errors import InvalidParameterValue
from nimbus.store.code import MAX_UNZIPPED_BYTES, MAX_ZIPPED_BYTES

# AWS's documented account limits (75 GB of code storage); reported so tools that read them see familiar numbers.
TOTAL_CODE_SIZE = 75 * 1024**3

# Wire member -> FunctionConfig field, for members nimbus acts on.
_SETTINGS = {"Description": "description", "Timeout": "timeout", "MemorySize": "memory_size",
             "Runtime": "runtime", "Handler": "handler", "Role": "role"}  # fmt: skip
# Members nimbus stores and echoes as given.
_PASSTHROUGH = ("VpcConfig", "DeadLetterConfig", "KMSKeyArn", "TracingConfig", "FileSystemConfigs",
                "ImageConfig", "SnapStart", "LoggingConfig")  # fmt: skip


def _settings(params: Mapping[str, Any]) -> dict[str, Any]:
    settings: dict[str, Any] = {field: params[member] for member, field in _SETTINGS.items() if member in params}
    if "Environment" in params:
        settings["environment"] = dict((params["Environment"] or {}).get("Variables") or {})
    if "EphemeralStorage" in params:
        settings["ephemeral_storage"] = params["EphemeralStorage"]["Size"]
    if "Architectures" in params:
        settings["architectures"] = tuple(params["Architectures"])
    if "Layers" in params:  # LayerVersionArns; control.functions resolves them to the layers' packages
        settings["layers"] = tuple(params["Layers"] or ())
    passthrough = {key: params[key] for key in _PASSTHROUGH if key in params}
    if passthrough:
        settings["passthrough"] = passthrough
    return settings


def _code_source(members: Mapping[str, Any]) -> CodeSource:
    """CreateFunction's Code structure and UpdateFunctionCode's input share these member names."""
    return CodeSource(
        zip_file=members.get("ZipFile"),
        s3_bucket=members.get("S3Bucket"),
        s3_key=members.get("S3Key"),
        s3_object_version=members.get("S3ObjectVersion"),
        image_uri=members.get("ImageUri"),
    )


def _function_name(call: Call) -> tuple[str, str | None]:
    ref = parse_function_ref(call.params["FunctionName"])
    return ref.name, resolve_qualifier(ref, call.params.get("Qualifier"))


def _latest_only(call: Call) -> str:
    """Update* change $LATEST only: a FunctionName qualified with anything else is refused, as AWS does."""
    ref = parse_function_ref(call.params["FunctionName"])
    if ref.qualifier not in (None, LATEST):
        raise InvalidParameterValue(
            "Current operation does not support versions other than $LATEST. "
            "Please set the version to $LATEST or do not set a version in your request."
        )
    return ref.name


async def _published(call: Call, config: FunctionConfig) -> FunctionConfig:
    """`Publish: true`: the answer is the version published from the new $LATEST."""
    if not call.params.get("Publish"):
        return config
    return await call.services.versions.publish_settled(config.name)


def _configuration(call: Call, config: FunctionConfig, status: int = 200, qualifier: str | None = None) -> WireResponse:
    return json_response(status, function_configuration(config, call.services.identity, qualifier=qualifier))


async def create_function(call: Call) -> WireResponse:
    params = call.params
    settings = _settings(params)
    new = NewFunction(
        name=parse_function_ref(params["FunctionName"]).name,
        code=_code_source(params["Code"]),
        package_type=params.get("PackageType") or "Zip",
        runtime=settings.pop("runtime", None),
        role=settings.pop("role"),
        handler=settings.pop("handler", None),
        settings=settings,
    )
    tags = params.get("Tags") or {}
    call.services.tags.check_new(tags)
    created = await call.services.functions.create(new)
    call.services.tags.tag_new_function(created.name, tags)
    config = await _published(call, created)
    return _configuration(call, config, 201)


async def get_function(call: Call) -> WireResponse:
    name, qualifier = _function_name(call)
    config = call.services.functions.get(name, qualifier)
    services = call.services
    document: dict[str, Any] = {
        "Configuration": function_configuration(config, services.identity, qualifier=qualifier),
        "Code": {"RepositoryType": "S3", "Location": signed_link(services.base_url, services.url_secret,
                                                                 config.code.sha256_hex)},
    }  # fmt: skip
    tags = services.tags.of_function(name)
    if tags:
        document["Tags"] = tags
    reserved = services.concurrency.get_reserved(name) if qualifier is None else None
    if reserved is not None:  # only when set, and only for the unqualified function, as AWS answers
        document["Concurrency"] = {"ReservedConcurrentExecutions": reserved}
    return json_response(200, document)


async def get_function_configuration(call: Call) -> WireResponse:
    name, qualifier = _function_name(call)
    return _configuration(call, call.services.functions.get(name, qualifier), qualifier=qualifier)


async def list_functions(call: Call) -> WireResponse:
    max_items = page_size(call.params.get("MaxItems"))
    marker = call.params.get("Marker") or None
    identity = call.services.identity
    if call.params.get("FunctionVersion") == "ALL":
        # Every version of every function, each with a qualified FunctionArn ($LATEST included).
        page, next_marker = call.services.versions.list_all(marker, max_items)
        functions = [function_configuration(c, identity, listing=True, qualifier=c.version) for c in page]
    else:
        page, next_marker = call.services.functions.list(marker, max_items)
        functions = [function_configuration(c, identity, listing=True) for c in page]
    return page_response("Functions", functions, next_marker)


async def update_function_code(call: Call) -> WireResponse:
    name = _latest_only(call)
    architectures = call.params.get("Architectures")
    config = await call.services.functions.update_code(
        name, _code_source(call.params), call.params.get("RevisionId"), tuple(architectures) if architectures else None
    )
    return _configuration(call, await _published(call, config))


async def update_function_configuration(call: Call) -> WireResponse:
    name = _latest_only(call)
    changes = _settings(call.params)
    config = await call.services.functions.update_configuration(name, changes, call.params.get("RevisionId"))
    return _configuration(call, config)


async def delete_function(call: Call) -> WireResponse:
    name, qualifier = _function_name(call)
    await call.services.functions.delete(name, qualifier)
    await call.services.concurrency.function_deleted(name, qualifier)  # its reservation, provisioned environments
    return WireResponse(204, content_type=None)


async def get_account_settings(call: Call) -> WireResponse:
    count, total = call.services.functions.usage()
    total += call.services.layers.total_code_size()  # AWS counts layer versions in TotalCodeSize too
    concurrency = call.services.concurrency
    return json_response(200, {
        "AccountLimit": {"TotalCodeSize": TOTAL_CODE_SIZE, "CodeSizeUnzipped": MAX_UNZIPPED_BYTES,
                         "CodeSizeZipped": MAX_ZIPPED_BYTES, "ConcurrentExecutions": concurrency.account_limit,
                         "UnreservedConcurrentExecutions": concurrency.unreserved},
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
