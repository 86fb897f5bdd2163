"""Everything an execution environment needs to start, derived once from a function version."""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import os
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import orjson

from nimbus.domain.arns import Identity
from nimbus.domain.functions import FunctionConfig

# Response payloads above this size become Function.ResponseSizeTooLarge (RAPID's MaxPayloadSize: 6 MiB + 100).
MAX_RESPONSE_BYTES = 6 * 1024 * 1024 + 100
PROVISIONED_CONCURRENCY = "provisioned-concurrency"  # the initialization type of provisioned environments
OPT = "/opt"
# Tells nimbus's Python bootstrap where the function's /opt trees are (os.pathsep-separated, first wins); the
# bootstrap removes it before the function's code runs. Customer variables starting with "_" are dropped, so a
# function cannot set it.
OPT_ROOTS_VARIABLE = "_NIMBUS_OPT_ROOTS"


@dataclass(frozen=True)
class Credentials:
    access_key_id: str
    secret_access_key: str


@dataclass(frozen=True)
class EnvironmentSpec:
    function_name: str
    version: str
    runtime: str
    handler: str
    memory_size: int
    timeout: int
    task_root: Path
    function_arn: str
    log_group: str
    variables: Mapping[str, str]  # the user's Environment.Variables
    region: str
    credentials: Credentials
    init_timeout: float
    # MB of /tmp (EphemeralStorage); enforced at isolation level namespaces.
    ephemeral_storage: int = 512
    # AWS_LAMBDA_INITIALIZATION_TYPE. Not part of the fingerprint: a provisioned environment serves the same invokes
    # as an on-demand one of its spec (runtime.provisioned).
    initialization_type: str = "on-demand"
    # The function's layers' extracted trees, in the function's order: later layers win at /opt (see opt_roots).
    layers: tuple[Path, ...] = ()

    @functools.cached_property
    def fingerprint(self) -> str:
        """Environments are shared only between invokes whose spec is identical (computed once: read per invoke)."""
        data = orjson.dumps(
            [
                self.function_name,
                self.version,
                self.runtime,
                self.handler,
                self.memory_size,
                self.timeout,
                str(self.task_root),
                dict(self.variables),
                self.log_group,
                self.ephemeral_storage,
                [str(layer) for layer in self.layers],
            ],
            option=orjson.OPT_SORT_KEYS,
        )
        return hashlib.sha256(data).hexdigest()[:16]


def spec_for(
    config: FunctionConfig,
    task_root: Path,
    identity: Identity,
    credentials: Credentials,
    init_timeout: float,
    layers: Sequence[Path] = (),
) -> EnvironmentSpec:
    return EnvironmentSpec(
        function_name=config.name,
        version=config.version,
        runtime=config.runtime,
        handler=config.handler,
        memory_size=config.memory_size,
        timeout=config.timeout,
        task_root=task_root,
        function_arn=identity.function_arn(config.name),
        log_group=config.log_group,
        variables=dict(config.environment or {}),
        region=identity.region,
        credentials=credentials,
        init_timeout=init_timeout,
        ephemeral_storage=config.ephemeral_storage,
        layers=tuple(layers),
    )


def new_log_stream(version: str, now: dt.datetime | None = None) -> str:
    """`2020/01/31/[$LATEST]3893xmpl7fac4485b47bb75b671a283c`: one stream per environment, as AWS names it."""
    day = (now or dt.datetime.now(dt.UTC)).strftime("%Y/%m/%d")
    return f"{day}/[{version}]{uuid.uuid4().hex}"


def opt_roots(spec: EnvironmentSpec, inside_sandbox: bool) -> list[str]:
    """Where the function's /opt is, in lookup order (the first wins).

    Inside a sandbox the layers are merged at the real /opt (sandbox_child overlays them in order, the last on top).
    Without one there is no /opt of the function's own: each layer's tree is used where it lies, the last layer
    first, so a file in a later layer shadows the same file in an earlier one as on AWS (a directory is not merged:
    see docs/compatibility.md).
    """
    if inside_sandbox:
        return [OPT]
    return [str(layer) for layer in reversed(spec.layers)]


def process_environment(
    spec: EnvironmentSpec, log_stream: str, runtime_api: str | None = None, *, inside_sandbox: bool = False
) -> dict[str, str]:
    """The environment variables a function sees: the user's, overridden by the platform's reserved ones."""
    roots = opt_roots(spec, inside_sandbox)
    platform = {
        "_HANDLER": spec.handler,
        "AWS_REGION": spec.region,
        "AWS_DEFAULT_REGION": spec.region,
        "AWS_LAMBDA_FUNCTION_NAME": spec.function_name,
        "AWS_LAMBDA_FUNCTION_VERSION": spec.version,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory_size),
        "AWS_LAMBDA_INITIALIZATION_TYPE": spec.initialization_type,
        "AWS_LAMBDA_LOG_GROUP_NAME": spec.log_group,
        "AWS_LAMBDA_LOG_STREAM_NAME": log_stream,
        "AWS_ACCESS_KEY_ID": spec.credentials.access_key_id,
        "AWS_SECRET_ACCESS_KEY": spec.credentials.secret_access_key,
        "AWS_SESSION_TOKEN": "",
        "LAMBDA_TASK_ROOT": str(spec.task_root),
        "LAMBDA_RUNTIME_DIR": "/var/runtime",
    }
    if spec.runtime.startswith("python"):
        platform["AWS_EXECUTION_ENV"] = f"AWS_Lambda_{spec.runtime}"
        if roots:
            platform[OPT_ROOTS_VARIABLE] = os.pathsep.join(roots)
    if runtime_api is not None:
        platform["AWS_LAMBDA_RUNTIME_API"] = runtime_api
    unreserved = {
        "LANG": "en_US.UTF-8",
        "TZ": ":UTC",
        "PATH": "/var/lang/bin:/usr/local/bin:/usr/bin/:/bin" + "".join(f":{root}/bin" for root in roots),
        "LD_LIBRARY_PATH": f"/var/lang/lib:/lib64:/usr/lib64:/var/runtime:/var/runtime/lib:{spec.task_root}:"
        f"{spec.task_root}/lib" + "".join(f":{root}/lib" for root in roots),
        "AWS_XRAY_CONTEXT_MISSING": "LOG_ERROR",
    }
    # RAPID drops customer keys that start with "_" (except a few of its own) and lets platform values win.
    customer = {k: v for k, v in spec.variables.items() if not k.startswith("_")}
    return {**unreserved, **customer, **platform}
