"""Function URLs as pure logic: the URL itself, the HTTP request → payload 2.0 event, the function's answer → HTTP
response, and CORS. No I/O: the gateway (events/function_urls.py) hands in a request and sends what comes back.

AWS's contract: https://docs.aws.amazon.com/lambda/latest/dg/urls-invocation.html (payload and response formats) and
reference/lambda-data-plane.md §5.3.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote_plus, urlsplit

import orjson

URL_ID_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"
URL_ID_LENGTH = 32
HOST_MARKER = ".lambda-url."
# What AWS answers when the function fails or answers something that is not a valid response.
BAD_GATEWAY = (502, {"Message": "Internal Server Error"})
FORBIDDEN = (403, {"Message": "Forbidden"})
# Request bodies of these types reach the function as text; everything else is base64 (isBase64Encoded: true).
_TEXT_TYPES = ("application/json", "application/javascript", "application/xml", "application/yaml")


@dataclass(frozen=True)
class UrlConfig:
    """One function URL: a function's $LATEST or one of its aliases, reached at `url_id`."""

    function_name: str
    qualifier: str  # "$LATEST" (the unqualified function) or an alias name
    url_id: str
    auth_type: str  # NONE | AWS_IAM
    creation_time: str
    last_modified_time: str
    invoke_mode: str = "BUFFERED"
    cors: Cors | None = None


# -- the URL ------------------------------------------------------------------------------------------------------
def function_url(base_url: str, url_id: str, region: str) -> str:
    """`http://<id>.lambda-url.<region>.localhost:<port>/` for a server reached by IP or localhost, else the id and
    region prefixed to the base URL's own host name (which then needs wildcard DNS), keeping its scheme and port."""
    parts = urlsplit(base_url)
    host = parts.hostname or "localhost"
    if host == "localhost" or _is_ip(host):
        host = "localhost"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme or 'http'}://{url_id}{HOST_MARKER}{region}.{host}{port}/"


def url_id_from_host(host: str) -> str | None:
    """The URL id a Host header names (`<id>.lambda-url.…`), or None for any other host."""
    name = host.lower().split(":", 1)[0]
    url_id, marker, _ = name.partition(HOST_MARKER)
    if not marker or not url_id:
        return None
    return url_id


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


# -- CORS -----------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Cors:
    allow_credentials: bool | None = None
    allow_headers: tuple[str, ...] | None = None
    allow_methods: tuple[str, ...] | None = None
    allow_origins: tuple[str, ...] | None = None
    expose_headers: tuple[str, ...] | None = None
    max_age: int | None = None

    @classmethod
    def from_wire(cls, document: Mapping[str, Any]) -> Cors:
        def names(key: str) -> tuple[str, ...] | None:
            value = document.get(key)
            return None if value is None else tuple(value)

        return cls(
            allow_credentials=document.get("AllowCredentials"),
            allow_headers=names("AllowHeaders"),
            allow_methods=names("AllowMethods"),
            allow_origins=names("AllowOrigins"),
            expose_headers=names("ExposeHeaders"),
            max_age=document.get("MaxAge"),
        )

    def to_wire(self) -> dict[str, Any]:
        """Only what was set, as AWS echoes it."""
        pairs: list[tuple[str, Any]] = [
            ("AllowCredentials", self.allow_credentials),
            ("AllowHeaders", self.allow_headers),
            ("AllowMethods", self.allow_methods),
            ("AllowOrigins", self.allow_origins),
            ("ExposeHeaders", self.expose_headers),
            ("MaxAge", self.max_age),
        ]
        return {k: list(v) if isinstance(v, tuple) else v for k, v in pairs if v is not None}

    def allowed_origin(self, origin: str | None) -> str | None:
        """The Access-Control-Allow-Origin value for a request from `origin`, None when it is not allowed."""
        origins = self.allow_origins or ()
        if origin is None or not origins:
            return None
        if "*" in origins:
            # A credentialed response may not carry the wildcard (Fetch standard), so the origin is echoed.
            return origin if self.allow_credentials else "*"
        return origin if origin.lower() in {o.lower() for o in origins} else None


def is_preflight(method: str, headers: Mapping[str, str]) -> bool:
    return method == "OPTIONS" and "origin" in headers and "access-control-request-method" in headers


def preflight_headers(cors: Cors, headers: Mapping[str, str]) -> dict[str, str]:
    """The answer to a CORS preflight, given by the platform without invoking the function."""
    allowed = cors.allowed_origin(headers.get("origin"))
    if allowed is None:
        return {}
    out = {"Access-Control-Allow-Origin": allowed, "Vary": "Origin"}
    if cors.allow_methods:
        out["Access-Control-Allow-Methods"] = ",".join(cors.allow_methods)
    if cors.allow_headers:
        out["Access-Control-Allow-Headers"] = ",".join(cors.allow_headers)
    if cors.allow_credentials:
        out["Access-Control-Allow-Credentials"] = "true"
    if cors.max_age is not None:
        out["Access-Control-Max-Age"] = str(cors.max_age)
    return out


def response_cors_headers(cors: Cors, headers: Mapping[str, str]) -> dict[str, str]:
    """CORS headers added to an ordinary response; they replace any the function set itself."""
    allowed = cors.allowed_origin(headers.get("origin"))
    if allowed is None:
        return {}
    out = {"Access-Control-Allow-Origin": allowed, "Vary": "Origin"}
    if cors.expose_headers:
        out["Access-Control-Expose-Headers"] = ",".join(cors.expose_headers)
    if cors.allow_credentials:
        out["Access-Control-Allow-Credentials"] = "true"
    return out


# -- request → event -----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class HttpRequest:
    method: str
    raw_path: str  # as on the wire, still percent-encoded
    raw_query: str
    headers: Sequence[tuple[str, str]]  # every header line, names lower-cased, in order
    body: bytes
    source_ip: str
    protocol: str = "HTTP/1.1"

    def header_map(self) -> dict[str, str]:
        """Headers by name; a repeated header's values joined with commas, as AWS joins them."""
        joined: dict[str, str] = {}
        for name, value in self.headers:
            joined[name] = f"{joined[name]},{value}" if name in joined else value
        return joined


@dataclass(frozen=True)
class Caller:
    """Who signed an AWS_IAM request: requestContext.authorizer.iam."""

    access_key: str
    account_id: str


@dataclass(frozen=True)
class EventContext:
    url_id: str
    domain_name: str
    request_id: str
    account_id: str = "anonymous"  # AuthType NONE; an IAM caller's account otherwise
    caller: Caller | None = None
    epoch_ms: int = field(default_factory=lambda: int(time.time() * 1000))


def build_event(request: HttpRequest, context: EventContext) -> dict[str, Any]:
    headers = request.header_map()
    cookie_header = headers.pop("cookie", None)
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": request.raw_path,
        "rawQueryString": request.raw_query,
    }
    if cookie_header:
        event["cookies"] = [c.strip() for c in cookie_header.replace(",", ";").split(";") if c.strip()]
    event["headers"] = headers
    query = query_parameters(request.raw_query)
    if query:
        event["queryStringParameters"] = query
    event["requestContext"] = _request_context(request, context, headers.get("user-agent", ""))
    if request.body:
        text = _as_text(request.body, headers.get("content-type", ""))
        event["body"] = text if text is not None else base64.b64encode(request.body).decode()
        event["isBase64Encoded"] = text is None
    else:
        event["isBase64Encoded"] = False
    return event


def query_parameters(raw_query: str) -> dict[str, str]:
    """queryStringParameters: decoded, a repeated key's values joined with commas."""
    out: dict[str, str] = {}
    for pair in raw_query.split("&"):
        if not pair:
            continue
        key, _, value = pair.partition("=")
        key, value = unquote_plus(key), unquote_plus(value)
        out[key] = f"{out[key]},{value}" if key in out else value
    return out


def _request_context(request: HttpRequest, context: EventContext, user_agent: str) -> dict[str, Any]:
    out: dict[str, Any] = {"accountId": context.account_id, "apiId": context.url_id}
    if context.caller is not None:
        out["authorizer"] = {"iam": _iam(context.caller)}
    out.update({
        "domainName": context.domain_name,
        "domainPrefix": context.url_id,
        "http": {
            "method": request.method,
            "path": request.raw_path,
            "protocol": request.protocol,
            "sourceIp": request.source_ip,
            "userAgent": user_agent,
        },
        "requestId": context.request_id,
        "routeKey": "$default",
        "stage": "$default",
        "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(context.epoch_ms / 1000)),
        "timeEpoch": context.epoch_ms,
    })  # fmt: skip
    return out


def _iam(caller: Caller) -> dict[str, Any]:
    return {
        "accessKey": caller.access_key,
        "accountId": caller.account_id,
        "callerId": caller.access_key,
        "cognitoIdentity": None,
        "principalOrgId": None,
        "userArn": f"arn:aws:iam::{caller.account_id}:root",
        "userId": caller.account_id,
    }


def _as_text(body: bytes, content_type: str) -> str | None:
    kind = content_type.split(";", 1)[0].strip().lower()
    textual = kind.startswith("text/") or kind in _TEXT_TYPES or kind.endswith(("+json", "+xml"))
    if not textual:
        return None
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        return None


# -- function answer → response ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class HttpResponse:
    status: int
    headers: list[tuple[str, str]]
    body: bytes


def error_response(answer: tuple[int, dict[str, str]]) -> HttpResponse:
    status, document = answer
    return HttpResponse(status, [("content-type", "application/json")], orjson.dumps(document))


def map_response(payload: bytes, function_error: bool) -> HttpResponse:
    """The function's answer as HTTP. A dict with statusCode is a structured response; anything else (a string, a
    number, a list, a dict without statusCode) is sent as JSON with 200. A function error, or a structured response
    AWS could not send, is 502."""
    if function_error:
        return error_response(BAD_GATEWAY)
    try:
        document = orjson.loads(payload) if payload else None
    except orjson.JSONDecodeError:
        return HttpResponse(200, [("content-type", "application/json")], payload)
    if not isinstance(document, dict) or "statusCode" not in document:
        return HttpResponse(200, [("content-type", "application/json")], payload)
    try:
        return _structured(document)
    except (TypeError, ValueError, binascii.Error):
        return error_response(BAD_GATEWAY)


def _structured(document: Mapping[str, Any]) -> HttpResponse:
    status = document["statusCode"]
    if isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 599:
        raise ValueError("statusCode")
    headers = [(str(k).lower(), _header_value(v)) for k, v in (_mapping(document.get("headers")) or {}).items()]
    if not any(name == "content-type" for name, _ in headers):
        headers.append(("content-type", "application/json"))
    for cookie in _strings(document.get("cookies")):
        headers.append(("set-cookie", cookie))
    return HttpResponse(status, headers, _body(document.get("body"), document.get("isBase64Encoded")))


def _body(body: Any, encoded: Any) -> bytes:
    if body is None:
        return b""
    if not isinstance(body, str):
        raise TypeError("body")
    if encoded is True:
        return base64.b64decode(body, validate=True)
    return body.encode()


def _mapping(value: Any) -> Mapping[str, Any] | None:
    if value is None or isinstance(value, Mapping):
        return value
    raise TypeError("headers")


def _strings(value: Any) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise TypeError("cookies")
    return value


def _header_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    raise TypeError("header value")
