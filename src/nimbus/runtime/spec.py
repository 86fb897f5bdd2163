"""Everything an execution environment needs to start, derived once from a function version."""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import orjson

from nimbus.domain.arns import Identity
from nimbus.domain.functions import FunctionConfig

# Response payloads above this size become Function.ResponseSizeTooLarge (RAPID's MaxPayloadSize: 6 MiB + 100).
MAX_RESPONSE_BYTES = 6 * 1024 * 1024 + 100


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
            ],
            option=orjson.OPT_SORT_KEYS,
        )
        return hashlib.sha256(data).hexdigest()[:16]


def spec_for(
    config: FunctionConfig, task_root: Path, identity: Identity, credentials: Credentials, init_timeout: float
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
    )


def new_log_stream(version: str, now: dt.datetime | None = None) -> str:
    """`2020/01/31/[$LATEST]3893xmpl7fac4485b47bb75b671a283c`: one stream per environment, as AWS names it."""
    day = (now or dt.datetime.now(dt.UTC)).strftime("%Y/%m/%d")
    return f"{day}/[{version}]{uuid.uuid4().hex}"


def process_environment(spec: EnvironmentSpec, log_stream: str, runtime_api: str | None = None) -> dict[str, str]:
    """The environment variables a function sees: the user's, overridden by the platform's reserved ones."""
    platform = {
        "_HANDLER": spec.handler,
        "AWS_REGION": spec.region,
        "AWS_DEFAULT_REGION": spec.region,
        "AWS_LAMBDA_FUNCTION_NAME": spec.function_name,
        "AWS_LAMBDA_FUNCTION_VERSION": spec.version,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory_size),
        "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
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
    if runtime_api is not None:
        platform["AWS_LAMBDA_RUNTIME_API"] = runtime_api
    unreserved = {
        "LANG": "en_US.UTF-8",
        "TZ": ":UTC",
        "PATH": "/var/lang/bin:/usr/local/bin:/usr/bin/:/bin:/opt/bin",
        "LD_LIBRARY_PATH": f"/var/lang/lib:/lib64:/usr/lib64:/var/runtime:/var/runtime/lib:{spec.task_root}:"
        f"{spec.task_root}/lib:/opt/lib",
        "AWS_XRAY_CONTEXT_MISSING": "LOG_ERROR",
    }
    # RAPID drops customer keys that start with "_" (except a few of its own) and lets platform values win.
    customer = {k: v for k, v in spec.variables.items() if not k.startswith("_")}
    return {**unreserved, **customer, **platform}
