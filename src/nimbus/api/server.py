"""The ASGI application: one port for the Lambda REST API and the platform endpoints under /_nimbus/.

Lambda API requests are handled in raw ASGI (parse, authenticate, route, validate, call, render) with no
framework in between: the Invoke path pays for nothing it does not use. /_nimbus/ goes to a Starlette app.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable, Mapping
from typing import Any
from urllib.parse import parse_qs

from nimbus.api import (
    aliases,
    concurrency,
    event_invoke_config,
    function_settings,
    function_urls,
    functions,
    invoke,
    layers,
    policies,
    tags,
    versions,
)
from nimbus.api.auth import SecretLookup, SignedRequest, verify
from nimbus.api.context import Call, Handler, Services
from nimbus.api.model import operation
from nimbus.api.params import parse_input
from nimbus.api.router import Router
from nimbus.api.validation import validate
from nimbus.api.wire import WireResponse, error_response, send
from nimbus.domain.function_urls import url_id_from_host
from nimbus.errors import ServiceError

log = logging.getLogger(__name__)

ASGIApp = Callable[[dict[str, Any], Callable[[], Awaitable[dict[str, Any]]], Callable[..., Awaitable[None]]],
                   Awaitable[None]]  # fmt: skip
# Answers a request to a function URL: (url id, scope, receive, send); events/function_urls.py.
UrlGateway = Callable[[str, dict[str, Any], Any, Any], Awaitable[None]]
# Larger than any valid request (a 50 MB zip, base64-encoded in JSON, is about 70 MB); refuse the rest unread.
MAX_REQUEST_BYTES = 70_167_211

HANDLERS: dict[str, Handler] = {**functions.HANDLERS, **invoke.HANDLERS, **event_invoke_config.HANDLERS,
                                **policies.HANDLERS, **tags.HANDLERS, **function_settings.HANDLERS,
                                **versions.HANDLERS, **aliases.HANDLERS, **layers.HANDLERS,
                                **concurrency.HANDLERS,
                                **function_urls.HANDLERS}  # fmt: skip


class LambdaApi:
    def __init__(self, services: Services, secret_for: SecretLookup, platform: ASGIApp, urls: UrlGateway) -> None:
        self._services = services
        self._urls = urls
        self._secret_for = secret_for
        self._platform = platform
        self._router = Router.from_model()

    async def __call__(self, scope: dict[str, Any], receive: Any, send_: Any) -> None:
        # A function URL is told apart by its host (<url-id>.lambda-url.…), before any Lambda API handling.
        url_id = _function_url_id(scope) if scope["type"] == "http" else None
        if url_id is not None:
            await self._urls(url_id, scope, receive, send_)
            return
        if scope["type"] != "http" or scope["path"].startswith("/_nimbus/"):
            await self._platform(scope, receive, send_)
            return
        request_id = str(uuid.uuid4())
        try:
            response = await self._handle(scope, receive, request_id)
        except ServiceError as error:
            response = error_response(error)
        except Exception:
            log.exception("request %s failed", request_id)
            response = error_response(ServiceError("ServiceException", 500, "An internal error occurred."))
        await send(send_, response, request_id)

    async def _handle(self, scope: dict[str, Any], receive: Any, request_id: str) -> WireResponse:
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        body = await _read_body(receive, headers)
        raw_path = scope.get("raw_path", scope["path"].encode()).decode("latin-1").split("?", 1)[0]
        raw_query = scope.get("query_string", b"").decode("latin-1")
        verify(SignedRequest(scope["method"], raw_path, raw_query, headers, body), self._secret_for)
        query = parse_qs(raw_query, keep_blank_values=True)
        match = self._router.match(scope["method"], raw_path, query)
        if match is None:
            raise ServiceError("UnknownOperationException", 404, f"No operation at {scope['method']} {raw_path}")
        handler = HANDLERS.get(match.route.operation)
        if handler is None:
            raise ServiceError(
                "NotImplementedException", 501, f"nimbus does not implement {match.route.operation} yet."
            )
        model = operation(match.route.operation)
        params = parse_input(model, match.path_params, query, headers, body)
        validate(model.input_shape, params)
        return await handler(Call(match.route.operation, params, self._services, request_id))


def _function_url_id(scope: dict[str, Any]) -> str | None:
    for name, value in scope["headers"]:
        if name.lower() == b"host":
            return url_id_from_host(value.decode("latin-1"))
    return None


async def _read_body(receive: Any, headers: Mapping[str, str]) -> bytes:
    declared = headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_REQUEST_BYTES:
        raise ServiceError(
            "RequestEntityTooLargeException", 413, f"Request must be smaller than {MAX_REQUEST_BYTES} bytes"
        )
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_REQUEST_BYTES:
            raise ServiceError(
                "RequestEntityTooLargeException",
                413,
                f"Request must be smaller than {MAX_REQUEST_BYTES} bytes",
            )
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)
