"""The function URL gateway: answers HTTP requests to `<url-id>.lambda-url.<region>.<host>` by invoking the function.

An HTTP request becomes the payload 2.0 event, goes through the same invoke path as the Invoke API (so timeouts,
the 6 MB limits, concurrency and aliases apply as there), and the function's answer becomes the HTTP response; the
mapping itself is pure (domain/function_urls.py). With a Cors config the platform answers preflights itself and adds
the CORS headers to every response. AuthType AWS_IAM requires a SigV4 signature from a known key pair.

What clients see when it goes wrong is what AWS sends: 403 {"Message":"Forbidden"} for an unsigned or badly signed
request to an AWS_IAM URL (and, here, for an unknown URL), 502 {"Message":"Internal Server Error"} for a function
error or an answer that is not a valid response.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any, Protocol

import orjson

from nimbus.api.auth import SecretLookup, SignedRequest, verify
from nimbus.control.function_urls import FunctionUrlService
from nimbus.domain.arns import LATEST, Identity
from nimbus.domain.function_urls import (
    BAD_GATEWAY,
    FORBIDDEN,
    Caller,
    EventContext,
    HttpRequest,
    HttpResponse,
    UrlConfig,
    build_event,
    error_response,
    is_preflight,
    map_response,
    preflight_headers,
    response_cors_headers,
)
from nimbus.errors import AuthError, RequestEntityTooLarge, ServiceError, TooManyRequests
from nimbus.invocation.payloads import SYNC_LIMIT
from nimbus.invocation.requests import InvokeRequest, InvokeResponse

log = logging.getLogger(__name__)

# The event carries the body base64-encoded at worst (4/3) plus headers; AWS's limit is the 6 MB invoke payload, so
# a body that cannot fit is refused unread.
MAX_BODY_BYTES = SYNC_LIMIT
TOO_LARGE = (413, {"Message": "Request Entity Too Large"})
THROTTLED = (429, {"Message": "Rate Exceeded."})


class Invoker(Protocol):
    """What the gateway needs from the data plane (invocation.service.InvokeService provides it)."""

    async def invoke(self, request: InvokeRequest) -> InvokeResponse: ...


class BodyTooLarge(Exception):
    pass


class FunctionUrlGateway:
    def __init__(
        self, urls: FunctionUrlService, invoker: Invoker, identity: Identity, secret_for: SecretLookup
    ) -> None:
        self._urls = urls
        self._invoker = invoker
        self._identity = identity
        self._secret_for = secret_for

    async def __call__(self, url_id: str, scope: dict[str, Any], receive: Any, send: Any) -> None:
        request_id = str(uuid.uuid4())
        try:
            response = await self._handle(url_id, scope, receive, request_id)
        except BodyTooLarge:
            response = error_response(TOO_LARGE)
        except Exception:
            log.exception("function URL request %s failed", request_id)
            response = error_response(BAD_GATEWAY)
        await _send(send, response, request_id)

    async def _handle(self, url_id: str, scope: dict[str, Any], receive: Any, request_id: str) -> HttpResponse:
        config = self._urls.resolve(url_id)
        if config is None:
            return error_response(FORBIDDEN)
        request = _request(scope, await _read_body(receive))
        headers = request.header_map()
        caller: Caller | None = None
        if config.auth_type == "AWS_IAM":
            caller = self._authenticate(request, headers)
            if caller is None:
                return error_response(FORBIDDEN)
        if config.cors is not None and is_preflight(request.method, headers):
            return HttpResponse(200, list(preflight_headers(config.cors, headers).items()), b"")
        response = await self._invoke(config, request, headers, caller, request_id)
        if config.cors is not None:
            response = _with_cors(response, response_cors_headers(config.cors, headers))
        return response

    def _authenticate(self, request: HttpRequest, headers: dict[str, str]) -> Caller | None:
        signed = SignedRequest(request.method, request.raw_path, request.raw_query, headers, request.body)
        try:
            principal = verify(signed, self._secret_for)
        except AuthError:
            return None
        return Caller(principal.access_key_id, self._identity.account_id)

    async def _invoke(
        self, config: UrlConfig, request: HttpRequest, headers: dict[str, str], caller: Caller | None, request_id: str
    ) -> HttpResponse:
        context = EventContext(
            url_id=config.url_id,
            domain_name=headers.get("host", "").split(":", 1)[0],
            request_id=request_id,
            account_id=caller.account_id if caller else "anonymous",
            caller=caller,
        )
        payload = orjson.dumps(build_event(request, context))
        invoke = InvokeRequest(
            function_name=config.function_name,
            qualifier=None if config.qualifier == LATEST else config.qualifier,
            payload=payload,
            request_id=request_id,
        )
        try:
            result = await self._invoker.invoke(invoke)
        except RequestEntityTooLarge:
            return error_response(TOO_LARGE)
        except TooManyRequests:
            return error_response(THROTTLED)
        except ServiceError as error:
            log.info("function URL %s could not invoke %s: %s", config.url_id, config.function_name, error)
            return error_response(BAD_GATEWAY)
        return map_response(result.payload, result.function_error is not None)


def _with_cors(response: HttpResponse, cors: dict[str, str]) -> HttpResponse:
    """The URL's CORS config decides: the function's own Access-Control-* headers are dropped."""
    replaced = {"vary"} if "Vary" in cors else set()
    kept = [(k, v) for k, v in response.headers if not k.startswith("access-control-") and k not in replaced]
    return HttpResponse(response.status, kept + [(k.lower(), v) for k, v in cors.items()], response.body)


def _request(scope: dict[str, Any], body: bytes) -> HttpRequest:
    raw_path = scope.get("raw_path") or scope["path"].encode()
    client = scope.get("client") or ("127.0.0.1", 0)
    server = scope.get("server") or ("127.0.0.1", 80)
    headers = [(k.decode("latin-1").lower(), v.decode("latin-1")) for k, v in scope["headers"]]
    # AWS's front end adds these; web frameworks behind a function URL read them. A client's own are kept as sent
    # (an AWS_IAM request may have signed them).
    present = {name for name, _ in headers}
    forwarded = {"x-forwarded-for": client[0], "x-forwarded-proto": scope.get("scheme", "http"),
                 "x-forwarded-port": str(server[1])}  # fmt: skip
    headers += [(name, value) for name, value in forwarded.items() if name not in present]
    return HttpRequest(
        method=scope["method"],
        raw_path=raw_path.decode("latin-1").split("?", 1)[0],
        raw_query=scope.get("query_string", b"").decode("latin-1"),
        headers=headers,
        body=body,
        source_ip=client[0],
        protocol=f"HTTP/{scope.get('http_version', '1.1')}",
    )


async def _read_body(receive: Any) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise BodyTooLarge
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


async def _send(send: Any, response: HttpResponse, request_id: str) -> None:
    headers = [(b"x-amzn-requestid", request_id.encode()), (b"content-length", str(len(response.body)).encode())]
    # A header value the function set outside latin-1 cannot go on the wire as it is; it is sent with "?" for those.
    headers.extend(
        (k.encode("latin-1", "replace"), v.encode("latin-1", "replace"))
        for k, v in response.headers
        if k != "content-length"
    )
    await send({"type": "http.response.start", "status": response.status, "headers": headers})
    await send({"type": "http.response.body", "body": response.body})
