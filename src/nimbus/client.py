"""A typed client of the nimbus HTTP API, used by the `nimbus` commands (and later the console).

It speaks only the public wire: the Lambda REST API through boto3, and the SigV4-signed `/_nimbus/` platform
endpoints through httpx. Nothing here imports the server.

Errors (foreign exceptions are translated once, here, with `raise ... from exc`):

    ClientError              anything that stopped a request; `.code` and `.message`
     ├── ApiError            the server answered with an AWS error (ResourceNotFoundException, ...) and its status
     └── EndpointError       no usable answer: refused connection, timeout, a non-AWS reply
"""

from __future__ import annotations

import base64
import os
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any, Literal, ParamSpec, TypeVar
from urllib.parse import quote, urlencode

import boto3
import botocore.exceptions
import httpx
import orjson
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials

if TYPE_CHECKING:
    from mypy_boto3_lambda import LambdaClient
    from mypy_boto3_lambda.type_defs import (
        FunctionConfigurationResponseTypeDef,
        FunctionConfigurationTypeDef,
        ListFunctionsResponseTypeDef,
    )

DEFAULT_ENDPOINT = "http://127.0.0.1:9009"
DEFAULT_REGION = "us-east-1"
DEFAULT_ACCOUNT_ID = "000000000000"
# The local-emulator convention, and what `nimbus serve` accepts on a loopback bind when no key pair is set.
DEFAULT_KEY = "test"
# The longest a function may run (Timeout ≤ 900 s); a synchronous invoke must be allowed to wait that long.
INVOKE_READ_TIMEOUT = 900
# Concurrent GetFunctionConfiguration calls when listing: ListFunctions omits State, as on AWS.
DESCRIBE_WORKERS = 8

T = TypeVar("T")
P = ParamSpec("P")


class ClientError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class ApiError(ClientError):
    def __init__(self, code: str, message: str, status: int) -> None:
        super().__init__(code, message)
        self.status = status


class EndpointError(ClientError):
    pass


@dataclass(frozen=True)
class ClientConfig:
    endpoint_url: str = DEFAULT_ENDPOINT
    region: str = DEFAULT_REGION
    account_id: str = DEFAULT_ACCOUNT_ID
    access_key_id: str = DEFAULT_KEY
    secret_access_key: str = DEFAULT_KEY
    session_token: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, endpoint_url: str | None = None) -> ClientConfig:
        """Resolve the endpoint, region and key pair as documented in DESIGN.md §1.

        The NIMBUS_* key pair wins over the AWS_* one: it names nimbus's own root key, while AWS_* may well hold a
        real AWS identity exported for other tools. A pair is taken whole, never half from each source.
        """
        env = os.environ if env is None else env
        key, secret, token = _key_pair(env)
        return cls(
            endpoint_url=(endpoint_url or env.get("NIMBUS_ENDPOINT_URL") or DEFAULT_ENDPOINT).rstrip("/"),
            region=env.get("NIMBUS_REGION") or env.get("AWS_DEFAULT_REGION") or DEFAULT_REGION,
            account_id=env.get("NIMBUS_ACCOUNT_ID") or DEFAULT_ACCOUNT_ID,
            access_key_id=key,
            secret_access_key=secret,
            session_token=token,
        )


def _key_pair(env: Mapping[str, str]) -> tuple[str, str, str | None]:
    if env.get("NIMBUS_ACCESS_KEY_ID") and env.get("NIMBUS_SECRET_ACCESS_KEY"):
        return env["NIMBUS_ACCESS_KEY_ID"], env["NIMBUS_SECRET_ACCESS_KEY"], None
    if env.get("AWS_ACCESS_KEY_ID") and env.get("AWS_SECRET_ACCESS_KEY"):
        return env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"], env.get("AWS_SESSION_TOKEN") or None
    return DEFAULT_KEY, DEFAULT_KEY, None


@dataclass(frozen=True)
class FunctionSpec:
    """What a deploy asks for. `role` and `description` are left alone on update when None."""

    name: str
    runtime: str
    handler: str
    memory: int
    timeout: int
    environment: Mapping[str, str] = field(default_factory=dict)
    role: str | None = None
    description: str | None = None


@dataclass(frozen=True)
class FunctionInfo:
    name: str
    arn: str
    runtime: str
    handler: str
    memory: int
    timeout: int
    last_modified: str
    code_sha256: str
    environment: Mapping[str, str]
    description: str
    state: str | None  # None in ListFunctions items, which omit it
    state_reason: str | None
    last_update_status: str | None
    last_update_reason: str | None
    raw: Mapping[str, Any]

    @classmethod
    def parse(cls, config: FunctionConfigurationTypeDef | FunctionConfigurationResponseTypeDef) -> FunctionInfo:
        raw = {k: v for k, v in config.items() if k != "ResponseMetadata"}
        return cls(
            name=config.get("FunctionName", ""),
            arn=config.get("FunctionArn", ""),
            runtime=config.get("Runtime", ""),
            handler=config.get("Handler", ""),
            memory=config.get("MemorySize", 0),
            timeout=config.get("Timeout", 0),
            last_modified=config.get("LastModified", ""),
            code_sha256=config.get("CodeSha256", ""),
            environment=config.get("Environment", {}).get("Variables", {}),
            description=config.get("Description", ""),
            state=config.get("State"),
            state_reason=config.get("StateReason"),
            last_update_status=config.get("LastUpdateStatus"),
            last_update_reason=config.get("LastUpdateStatusReason"),
            raw=raw,
        )

    @property
    def settled(self) -> bool:
        """Ready for the next update or invoke: Active, and no update in progress."""
        return self.state == "Active" and self.last_update_status in (None, "Successful")

    @property
    def failed(self) -> bool:
        return self.state == "Failed" or self.last_update_status == "Failed"


@dataclass(frozen=True)
class InvokeResult:
    status_code: int
    payload: bytes
    request_id: str
    function_error: str | None = None  # "Unhandled" or "Handled", from X-Amz-Function-Error
    log_tail: str | None = None  # decoded X-Amz-Log-Result
    executed_version: str | None = None


@dataclass(frozen=True)
class LogLine:
    id: int
    stream: str
    timestamp_ms: int
    message: str


@dataclass(frozen=True)
class LogPage:
    group: str
    events: list[LogLine]


@dataclass(frozen=True)
class QueueDepth:
    """One function's asynchronous events: waiting to run, running, and how old the oldest is."""

    function_name: str
    queued: int
    in_flight: int
    oldest_age_seconds: float

    @property
    def depth(self) -> int:
        return self.queued + self.in_flight


class NimbusClient:
    def __init__(self, config: ClientConfig, transport: httpx.BaseTransport | None = None) -> None:
        self.config = config
        self._http = httpx.Client(transport=transport)

    def __enter__(self) -> NimbusClient:
        return self

    def __exit__(self, *_: object) -> None:
        self._http.close()

    @cached_property
    def _control(self) -> LambdaClient:
        return self._lambda(Config(retries={"mode": "standard"}))

    @cached_property
    def _data(self) -> LambdaClient:
        # A retried Invoke runs the function again, so the data plane never retries.
        return self._lambda(Config(retries={"total_max_attempts": 1}, read_timeout=INVOKE_READ_TIMEOUT))

    def _lambda(self, config: Config) -> LambdaClient:
        # boto3 still reads AWS_PROFILE and the config files here, which can fail (ProfileNotFound): translate that too.
        session = _call(
            boto3.session.Session,
            aws_access_key_id=self.config.access_key_id,
            aws_secret_access_key=self.config.secret_access_key,
            aws_session_token=self.config.session_token,
            region_name=self.config.region,
        )
        return _call(session.client, "lambda", endpoint_url=self.config.endpoint_url, config=config)

    # Control plane

    def get_function(self, name: str) -> FunctionInfo:
        return FunctionInfo.parse(_call(self._control.get_function_configuration, FunctionName=name))

    def find_function(self, name: str) -> FunctionInfo | None:
        try:
            return self.get_function(name)
        except ApiError as error:
            if error.code == "ResourceNotFoundException":
                return None
            raise

    def create_function(self, spec: FunctionSpec, package: bytes) -> FunctionInfo:
        arguments: dict[str, Any] = {
            **_configuration(spec),
            "Role": spec.role or f"arn:aws:iam::{self.config.account_id}:role/nimbus-exec",
            "Code": {"ZipFile": package},
        }
        return FunctionInfo.parse(_call(self._control.create_function, **arguments))

    def update_code(self, name: str, package: bytes) -> FunctionInfo:
        return FunctionInfo.parse(_call(self._control.update_function_code, FunctionName=name, ZipFile=package))

    def update_configuration(self, spec: FunctionSpec) -> FunctionInfo:
        arguments = _configuration(spec)
        if spec.role is not None:
            arguments["Role"] = spec.role
        return FunctionInfo.parse(_call(self._control.update_function_configuration, **arguments))

    def list_functions(self) -> Iterator[FunctionInfo]:
        """Every function's $LATEST, following NextMarker page by page (items omit State, as on AWS)."""
        marker = ""
        while True:
            page = _call(self._list_page, marker)
            yield from (FunctionInfo.parse(item) for item in page.get("Functions", []))
            # A server that hands back the same marker would loop forever; the aws cli stops there too.
            if not page.get("NextMarker") or page["NextMarker"] == marker:
                return
            marker = page["NextMarker"]

    def _list_page(self, marker: str) -> ListFunctionsResponseTypeDef:
        if marker:
            return self._control.list_functions(Marker=marker)
        return self._control.list_functions()

    def describe_all(self, names: list[str]) -> list[FunctionInfo | None]:
        """GetFunctionConfiguration for each name, concurrently; None for a function deleted meanwhile."""
        self._control  # noqa: B018 - build the boto3 client once, before threads race to build it
        with ThreadPoolExecutor(max_workers=DESCRIBE_WORKERS) as pool:
            return list(pool.map(self.find_function, names))

    # Data plane

    def invoke(
        self,
        name: str,
        payload: bytes,
        *,
        qualifier: str | None = None,
        invocation_type: Literal["RequestResponse", "Event", "DryRun"] = "RequestResponse",
        tail_logs: bool = False,
    ) -> InvokeResult:
        arguments: dict[str, Any] = {"FunctionName": name, "Payload": payload, "InvocationType": invocation_type}
        if qualifier:
            arguments["Qualifier"] = qualifier
        if tail_logs:
            arguments["LogType"] = "Tail"
        response = _call(self._data.invoke, **arguments)
        body = _call(response["Payload"].read) if "Payload" in response else b""
        tail = response.get("LogResult")
        return InvokeResult(
            status_code=response["StatusCode"],
            payload=body,
            request_id=response["ResponseMetadata"].get("RequestId", ""),
            function_error=response.get("FunctionError"),
            log_tail=base64.b64decode(tail).decode("utf-8", "replace") if tail else None,
            executed_version=response.get("ExecutedVersion"),
        )

    # Platform endpoints

    def function_logs(self, name: str, after: int = 0, wait: float = 0) -> LogPage:
        """One page of the function's log events with id > `after`; `wait` > 0 long-polls for new ones."""
        query = urlencode({"after": after, "wait": f"{wait:g}"})
        document = self._platform("GET", f"/_nimbus/logs/{quote(name, safe='')}?{query}", timeout=wait + 30)
        events = [
            LogLine(int(e["id"]), str(e["logStreamName"]), int(e["timestamp"]), str(e["message"]))
            for e in document.get("events", [])
        ]
        return LogPage(str(document.get("logGroupName", "")), events)

    def queues(self) -> list[QueueDepth]:
        """Asynchronous invocation queue depth per function (functions with no events are left out)."""
        document = self._platform("GET", "/_nimbus/queues", timeout=30)
        return [
            QueueDepth(str(q["functionName"]), int(q["queued"]), int(q["inFlight"]), float(q["oldestAgeSeconds"]))
            for q in document.get("queues", [])
        ]

    def _platform(self, method: str, path: str, timeout: float) -> dict[str, Any]:
        url = f"{self.config.endpoint_url}{path}"
        request = AWSRequest(method=method, url=url)
        credentials = Credentials(self.config.access_key_id, self.config.secret_access_key, self.config.session_token)
        SigV4Auth(credentials, "lambda", self.config.region).add_auth(request)
        try:
            response = self._http.request(method, url, headers=dict(request.headers), timeout=timeout)
        except httpx.HTTPError as exc:
            raise EndpointError("EndpointConnectionError", f"{self.config.endpoint_url}: {exc}") from exc
        if response.status_code >= 400:
            raise _platform_error(response)
        try:
            document = orjson.loads(response.content)
        except orjson.JSONDecodeError as exc:
            raise EndpointError("InvalidResponse", f"{path} answered {response.status_code} without JSON") from exc
        return document if isinstance(document, dict) else {}


def _configuration(spec: FunctionSpec) -> dict[str, Any]:
    arguments: dict[str, Any] = {
        "FunctionName": spec.name,
        "Runtime": spec.runtime,
        "Handler": spec.handler,
        "MemorySize": spec.memory,
        "Timeout": spec.timeout,
        "Environment": {"Variables": dict(spec.environment)},
    }
    if spec.description is not None:
        arguments["Description"] = spec.description
    return arguments


def _platform_error(response: httpx.Response) -> ApiError:
    try:
        document = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        document = {}
    message = ""
    if isinstance(document, dict):
        message = str(document.get("message") or document.get("Message") or "")
    code = response.headers.get("x-amzn-errortype", "").split(":", 1)[0] or f"HTTP{response.status_code}"
    return ApiError(code, message or response.reason_phrase, response.status_code)


def _call(operation: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """Run one boto3 call, turning botocore's exceptions into this module's."""
    try:
        return operation(*args, **kwargs)
    except botocore.exceptions.ClientError as exc:
        error = exc.response.get("Error", {})
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        raise ApiError(error.get("Code", "Unknown"), error.get("Message", str(exc)), status) from exc
    except botocore.exceptions.ParamValidationError as exc:
        raise ClientError("ParamValidationError", str(exc.kwargs.get("report", exc)).strip()) from exc
    except (botocore.exceptions.HTTPClientError, botocore.exceptions.ConnectionError) as exc:
        raise EndpointError(type(exc).__name__, str(exc)) from exc
    except botocore.exceptions.BotoCoreError as exc:  # local trouble: a missing profile, a bad config file
        raise ClientError(type(exc).__name__, str(exc)) from exc
