"""Platform endpoints under /_nimbus/: health, metrics, code downloads, function logs and async queue depths."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from nimbus.api.auth import SecretLookup, SignedRequest, verify
from nimbus.api.code_links import link_is_valid
from nimbus.api.context import Services
from nimbus.api.wire import error_response
from nimbus.errors import ServiceError
from nimbus.observability.logs import LogSink
from nimbus.store.code import CodeStore
from nimbus.store.logs import LogEvent

# A follow request waits at most this long for new lines before answering with none.
LONG_POLL_SECONDS = 10.0


def build_platform(
    services: Services,
    code: CodeStore,
    logs: LogSink,
    secret_for: SecretLookup,
    metrics: Callable[[], str],
    ready: Callable[[], bool],
) -> Starlette:
    async def health(_: Request) -> Response:
        if not ready():
            return JSONResponse({"status": "starting"}, status_code=503)
        return JSONResponse({"status": "ok", "region": services.identity.region})

    async def prometheus(_: Request) -> Response:
        return PlainTextResponse(metrics(), media_type="text/plain; version=0.0.4")

    async def download(request: Request) -> Response:
        sha = request.path_params["sha"]
        query = request.query_params
        if not link_is_valid(services.url_secret, sha, query.get("expires", ""), query.get("signature", "")):
            return PlainTextResponse("Request has expired or its signature does not match", status_code=403)
        package = await asyncio.to_thread(code.read, sha)
        if package is None:
            return PlainTextResponse("NoSuchKey", status_code=404)
        return Response(package, media_type="application/zip")

    async def function_logs(request: Request) -> Response:
        denied = await _authenticate(request, secret_for)
        if denied is not None:
            return denied
        name = request.path_params["name"]
        try:
            config = services.functions.get(name)
            group = config.log_group
        except ServiceError:
            group = f"/aws/lambda/{name}"
        after = int(request.query_params.get("after", "0"))
        wait = min(float(request.query_params.get("wait", "0")), LONG_POLL_SECONDS)
        events = await _read_waiting(logs, group, after, wait)
        return JSONResponse({
            "logGroupName": group,
            "events": [{"id": e.event_id, "logStreamName": e.log_stream, "timestamp": e.timestamp_ms,
                        "message": e.message} for e in events],
        })  # fmt: skip

    async def queues(request: Request) -> Response:
        denied = await _authenticate(request, secret_for)
        if denied is not None:
            return denied
        stats, now = await services.invoker.queue_stats(), time.time()
        return JSONResponse({"queues": [
            {"functionName": s.function_name, "depth": s.depth, "queued": s.queued, "inFlight": s.in_flight,
             "oldestAgeSeconds": round(max(0.0, now - s.oldest_enqueued_at), 3)} for s in stats
        ]})  # fmt: skip

    return Starlette(
        routes=[
            Route("/_nimbus/health", health),
            Route("/_nimbus/metrics", prometheus),
            Route("/_nimbus/code/{sha}", download),
            Route("/_nimbus/logs/{name}", function_logs),
            Route("/_nimbus/queues", queues),
        ]
    )


async def _read_waiting(logs: LogSink, group: str, after: int, wait: float) -> list[LogEvent]:
    """Events after `after`; with a wait, a long poll that answers as soon as a flush brings some."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait
    while True:
        events = await asyncio.to_thread(logs.read, group, after)
        remaining = deadline - loop.time()
        if events or remaining <= 0:
            return events
        async with logs.flushed:
            try:
                await asyncio.wait_for(logs.flushed.wait(), remaining)
            except TimeoutError:
                return []


async def _authenticate(request: Request, secret_for: SecretLookup) -> Response | None:
    body = await request.body()
    headers = {k.lower(): v for k, v in request.headers.items()}
    raw_path = request.scope.get("raw_path", request.url.path.encode()).decode("latin-1").split("?", 1)[0]
    signed = SignedRequest(request.method, raw_path, request.url.query, headers, body)
    try:
        verify(signed, secret_for)
    except ServiceError as error:
        wire = error_response(error)
        return Response(wire.body, status_code=wire.status, headers=wire.headers, media_type="application/json")
    return None
