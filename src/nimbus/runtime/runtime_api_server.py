"""The Lambda Runtime API (2018-06-01) over HTTP/1.1: one small server per execution environment.

AWS runs RAPID on 127.0.0.1:9001 inside every sandbox; here each environment gets its own server on an ephemeral
loopback port. h11 does the framing (keep-alive, Content-Length or chunked request bodies); replies always carry
Content-Length. The runtime's state machine, its state names (they appear in 403 messages) and the error bodies
follow RAPID as open-sourced in aws-lambda-runtime-interface-emulator: internal/lambda/core/states.go,
rapi/router.go, rapi/handler/*.go and rapi/rendering/render_error.go.

The environment drives the server with two calls: `deliver(invoke)` hands an invoke to the runtime's pending
`GET /next`, and `next_event()` returns what the runtime did (a RuntimeEvent). Protocol errors (a wrong request id,
a call in the wrong state) are answered to the runtime and never reach the environment.
"""

from __future__ import annotations

import asyncio
import enum
import re
from collections.abc import Coroutine, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypeAlias, TypeVar

import h11
import orjson

from nimbus.runtime.results import InvokeInput
from nimbus.runtime.spec import MAX_RESPONSE_BYTES

T = TypeVar("T")
PREFIX = "/2018-06-01"
_READ_SIZE = 1 << 16
# awslambdaric sends the X-Ray error cause as a header of up to 1 MiB; h11's default 16 KiB head limit would
# turn every function error with a long stack into a dropped connection.
_MAX_HEAD_BYTES = 2 << 20
_INVOCATION_PATH = re.compile(r"/runtime/invocation/([^/]+)/(response|error)")
# RAPID keeps a reported error type only if it looks like one of its own (fatalerror.go, an unanchored match).
_VALID_ERROR_TYPE = re.compile(r"(Runtime|Function)\.[A-Z][a-zA-Z]+")
TOO_LARGE_MESSAGE = f"Response payload size exceeded maximum allowed payload size ({MAX_RESPONSE_BYTES} bytes)."


# -- what the runtime did, as the environment sees it ---------------------------------------------------------------
@dataclass(frozen=True)
class RuntimeReady:
    """The runtime's first GET /next: init is over."""


@dataclass(frozen=True)
class InitErrorPosted:
    body: bytes
    error_type: str | None  # from Lambda-Runtime-Function-Error-Type, if sent


@dataclass(frozen=True)
class ResponsePosted:
    body: bytes


@dataclass(frozen=True)
class ErrorPosted:
    body: bytes
    error_type: str | None


@dataclass(frozen=True)
class ResponseRejected:
    """The server refused the runtime's answer (too large, bad response mode): the caller gets this error."""

    error_type: str
    message: str


RuntimeEvent: TypeAlias = RuntimeReady | InitErrorPosted | ResponsePosted | ErrorPosted | ResponseRejected


# -- RAPID's runtime state machine ------------------------------------------------------------------------------------
class RuntimeState(enum.Enum):
    STARTED = "Started"
    INIT_ERROR = "InitError"
    READY = "Ready"
    RUNNING = "Running"
    INVOCATION_RESPONSE = "InvocationResponse"
    INVOCATION_ERROR_RESPONSE = "InvocationErrorResponse"
    RESPONSE_SENT = "RuntimeResponseSentState"


_S = RuntimeState
# As RAPID, except that /next while Running is refused: one invoke at a time per environment (RAPID parks it).
_MOVES: Mapping[RuntimeState, frozenset[RuntimeState]] = {
    _S.STARTED: frozenset({_S.READY, _S.INIT_ERROR}),
    _S.READY: frozenset({_S.READY, _S.RUNNING}),
    _S.RUNNING: frozenset({_S.INVOCATION_RESPONSE, _S.INVOCATION_ERROR_RESPONSE}),
    _S.INVOCATION_RESPONSE: frozenset({_S.RESPONSE_SENT}),
    _S.INVOCATION_ERROR_RESPONSE: frozenset({_S.RESPONSE_SENT}),
    _S.RESPONSE_SENT: frozenset({_S.READY}),
    _S.INIT_ERROR: frozenset(),
}


class StateTransitionError(Exception):
    def __init__(self, current: RuntimeState, target: RuntimeState) -> None:
        super().__init__(
            f"State transition from {current.value} to {target.value} failed for runtime. "
            "Error: State transition is not allowed"
        )


# -- HTTP plumbing ----------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Request:
    method: str
    path: str
    headers: Mapping[str, str]  # lower-case names
    body: bytes  # at most MAX_RESPONSE_BYTES; `size` counts everything received
    size: int


@dataclass(frozen=True)
class Reply:
    status: int
    body: bytes = b""
    content_type: str = "application/json"
    headers: tuple[tuple[str, str], ...] = ()


class _Hangup(Exception):
    """The runtime closed the connection or broke HTTP framing: stop serving it."""


def _json(status: int, doc: object) -> Reply:
    return Reply(status, orjson.dumps(doc))


def _api_error(status: int, error_type: str, message: str) -> Reply:
    return _json(status, {"errorMessage": message, "errorType": error_type})


_ACCEPTED = _json(202, {"status": "OK"})
_NOT_FOUND = Reply(404, b"404 page not found\n", "text/plain; charset=utf-8")
_METHOD_NOT_ALLOWED = Reply(405, b"", "text/plain; charset=utf-8")
_INVALID_REQUEST_ID = _api_error(400, "InvalidRequestID", "Invalid request ID")
_TOO_LARGE = _api_error(
    413, "RequestEntityTooLarge", f"Exceeded maximum allowed payload size ({MAX_RESPONSE_BYTES} bytes)."
)


def _header_map(headers: Iterable[tuple[bytes, bytes]]) -> dict[str, str]:
    return {name.decode("latin-1").lower(): value.decode("latin-1") for name, value in headers}


def _header_value(text: str) -> bytes:
    # A header value cannot hold a line break; JSON (the client context) means the same with a space there.
    return text.replace("\r", " ").replace("\n", " ").encode()


async def reap(*tasks: asyncio.Future[Any]) -> None:
    """Cancel the tasks still running and wait for them, so none outlives its owner."""
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def first_done(*tasks: asyncio.Future[Any]) -> None:
    """Wait until one of `tasks` is done, then cancel and reap the others."""
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        await reap(*tasks)


class Channel:
    """One keep-alive connection from the runtime, framed by h11."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.conn = h11.Connection(h11.SERVER, max_incomplete_event_size=_MAX_HEAD_BYTES)
        self._reader = reader
        self._writer = writer

    async def _event(self) -> object:
        while (event := self.conn.next_event()) is h11.NEED_DATA:
            self.conn.receive_data(await self._reader.read(_READ_SIZE))
        return event

    async def request(self) -> Request | None:
        """The next request, its body cut at the payload limit (the rest is read and dropped, so the connection
        stays usable); None when the runtime closed the connection between requests."""
        head = await self._event()
        if isinstance(head, h11.ConnectionClosed):
            return None
        if not isinstance(head, h11.Request):
            raise _Hangup
        if self.conn.they_are_waiting_for_100_continue:
            self._send(h11.InformationalResponse(status_code=100, headers=[]))
        body, size = bytearray(), 0
        while isinstance(event := await self._event(), h11.Data):
            size += len(event.data)
            body += event.data[: max(0, MAX_RESPONSE_BYTES - len(body))]
        if not isinstance(event, h11.EndOfMessage):
            raise _Hangup
        path = head.target.decode("latin-1").partition("?")[0]
        return Request(head.method.decode("ascii"), path, _header_map(head.headers), bytes(body), size)

    async def until_hangup(self, waiting: Coroutine[Any, Any, T]) -> T | None:
        """Await `waiting` (a long poll) unless the runtime closes the connection first, which gives None."""
        task = asyncio.ensure_future(waiting)
        read: asyncio.Future[bytes] | None = None
        try:
            while not task.done():
                read = asyncio.ensure_future(self._reader.read(_READ_SIZE))
                await asyncio.wait((task, read), return_when=asyncio.FIRST_COMPLETED)
                if read.done():
                    data = read.result()
                    self.conn.receive_data(data)  # bytes sent ahead belong to the next request; b"" is EOF
                    if not data and not task.done():
                        return None
            return task.result()
        finally:
            await reap(task, *([read] if read is not None else []))

    async def reply(self, reply: Reply) -> None:
        headers = [
            (b"content-type", reply.content_type.encode()),
            (b"content-length", str(len(reply.body)).encode()),
            *((name.encode(), _header_value(value)) for name, value in reply.headers),
        ]
        self._send(h11.Response(status_code=reply.status, headers=headers))
        if reply.body:
            self._send(h11.Data(data=reply.body))
        self._send(h11.EndOfMessage())
        await self._writer.drain()

    async def refuse(self, status: int) -> None:
        """Answer a request h11 could not parse, as the h11 docs recommend, before closing."""
        if self.conn.our_state in (h11.IDLE, h11.SEND_RESPONSE):
            await self.reply(Reply(status, b"", "text/plain", (("connection", "close"),)))

    def next_cycle(self) -> bool:
        """Reuse the connection for another request if both sides finished cleanly."""
        if self.conn.our_state is h11.DONE and self.conn.their_state is h11.DONE:
            self.conn.start_next_cycle()
            return True
        return False

    def _send(self, event: h11.Event) -> None:
        data = self.conn.send(event)
        if data:
            self._writer.write(data)


def _invocation_reply(invoke: InvokeInput) -> Reply:
    # RAPID sends each header only when it has a value (rendering.go renderInvokeHeaders).
    headers = {
        "Lambda-Runtime-Aws-Request-Id": invoke.request_id,
        "Lambda-Runtime-Deadline-Ms": str(invoke.deadline_ms),
        "Lambda-Runtime-Invoked-Function-Arn": invoke.invoked_arn,
        "Lambda-Runtime-Trace-Id": invoke.trace_id or "",
        "Lambda-Runtime-Client-Context": invoke.client_context or "",
    }
    return Reply(200, invoke.payload, "application/json", tuple((k, v) for k, v in headers.items() if v))


def reported_error_type(header: str | None) -> str | None:
    """The error type RAPID passes on for a runtime-supplied Lambda-Runtime-Function-Error-Type header."""
    if header is None or _VALID_ERROR_TYPE.search(header):
        return header
    return "Function.Unknown" if header.startswith("Function.") else "Runtime.Unknown"


def _route(path: str) -> tuple[str, str, str] | None:
    """(method, route name, request id) for a Runtime API path, or None if there is no such endpoint."""
    rest = path.removeprefix(PREFIX)
    if rest == path:
        return None
    if rest in _FIXED_ROUTES:
        method, name = _FIXED_ROUTES[rest]
        return method, name, ""
    match = _INVOCATION_PATH.fullmatch(rest)
    return ("POST", match[2], match[1]) if match else None


_FIXED_ROUTES = {
    "/runtime/invocation/next": ("GET", "next"),
    "/runtime/init/error": ("POST", "init/error"),
    "/ping": ("GET", "ping"),  # RAPID keeps it "to respect Hyrum's Law"
}


class RuntimeApiServer:
    """The Runtime API for one runtime process.

    Contract: start() once; then, per phase, the environment reads next_event() (RuntimeReady or InitErrorPosted
    during init; after each deliver(), a ResponsePosted, ErrorPosted or ResponseRejected). close() is idempotent,
    closes the listening socket and every connection, which ends every handler, those parked on /next included.
    """

    def __init__(self) -> None:
        self.state = RuntimeState.STARTED
        self._invokes: asyncio.Queue[InvokeInput] = asyncio.Queue()
        self._events: asyncio.Queue[RuntimeEvent] = asyncio.Queue()
        self._current_id: str | None = None
        self._polling = False
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> int:
        """Listen on an ephemeral loopback port and return it."""
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    @property
    def polling(self) -> bool:
        """Whether a GET /next is parked, waiting for an invoke."""
        return self._polling

    def deliver(self, invoke: InvokeInput) -> None:
        """Queue an invoke for the runtime's current or next GET /next."""
        self._invokes.put_nowait(invoke)

    async def next_event(self) -> RuntimeEvent:
        return await self._events.get()

    def pending_event(self) -> RuntimeEvent | None:
        """An event already posted, if any: one can land in the same loop turn as the process exiting."""
        return None if self._events.empty() else self._events.get_nowait()

    def close(self) -> None:
        if self._server is not None:
            self._server.close()
        # Closing a transport wakes its handler with EOF wherever it waits (a parked /next included), so every
        # handler ends by itself; cancelling them instead trips 3.11's client_connected_cb done-callback.
        for writer in self._writers:
            writer.close()

    def _move(self, target: RuntimeState) -> None:
        if target not in _MOVES[self.state]:
            raise StateTransitionError(self.state, target)
        self.state = target

    # -- connections ------------------------------------------------------------------------------------------------
    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            await self._converse(Channel(reader, writer))
        except (_Hangup, ConnectionError):
            pass  # the runtime went away mid-request; its process's fate decides the invoke
        finally:
            self._writers.discard(writer)
            writer.close()

    async def _converse(self, channel: Channel) -> None:
        while True:
            try:
                request = await channel.request()
            except h11.RemoteProtocolError as exc:
                await channel.refuse(exc.error_status_hint)
                return
            if request is None:
                return
            reply = await self._handle(request, channel)
            if reply is None:  # the runtime hung up on its /next
                return
            await channel.reply(reply)
            if not channel.next_cycle():
                return

    async def _handle(self, request: Request, channel: Channel) -> Reply | None:
        route = _route(request.path)
        if route is None:
            return _NOT_FOUND
        method, name, request_id = route
        if request.method != method:
            return _METHOD_NOT_ALLOWED
        try:
            if name == "next":
                return await self._next(channel)
            if name == "init/error":
                return self._init_error(request)
            if name == "response":
                return self._response(request_id, request)
            if name == "error":
                return self._error(request_id, request)
            return Reply(200, b"pong", "text/plain; charset=utf-8")
        except StateTransitionError as exc:
            return _api_error(403, "InvalidStateTransition", str(exc))

    # -- endpoints --------------------------------------------------------------------------------------------------
    async def _next(self, channel: Channel) -> Reply | None:
        if self._polling:  # a second parked /next could take an invoke its runtime never reads
            raise StateTransitionError(self.state, RuntimeState.READY)
        initialising = self.state is RuntimeState.STARTED
        self._move(RuntimeState.READY)
        if initialising:
            self._events.put_nowait(RuntimeReady())
        self._polling = True
        try:
            invoke = await channel.until_hangup(self._invokes.get())
        finally:
            self._polling = False
        if invoke is None:
            return None
        self._move(RuntimeState.RUNNING)
        self._current_id = invoke.request_id
        return _invocation_reply(invoke)

    def _init_error(self, request: Request) -> Reply:
        self._move(RuntimeState.INIT_ERROR)
        error_type = reported_error_type(request.headers.get("lambda-runtime-function-error-type"))
        self._events.put_nowait(InitErrorPosted(request.body, error_type))
        return _ACCEPTED

    def _response(self, request_id: str, request: Request) -> Reply:
        # RAPID's order: request id (400), state (403), response mode (400), size (413).
        if request_id != self._current_id:
            return _INVALID_REQUEST_ID
        self._move(RuntimeState.INVOCATION_RESPONSE)
        mode = request.headers.get("lambda-runtime-function-response-mode")
        if mode and mode != "streaming":
            self._answered(ResponseRejected("Runtime.InvalidResponseModeHeader", "Invalid function response mode"))
            return _api_error(400, "InvalidFunctionResponseMode", "Invalid function response mode")
        if request.size > MAX_RESPONSE_BYTES:
            self._answered(ResponseRejected("Function.ResponseSizeTooLarge", TOO_LARGE_MESSAGE))
            return _TOO_LARGE
        self._answered(ResponsePosted(request.body))  # a streamed body, buffered
        return _ACCEPTED

    def _error(self, request_id: str, request: Request) -> Reply:
        if request_id != self._current_id:
            return _INVALID_REQUEST_ID
        self._move(RuntimeState.INVOCATION_ERROR_RESPONSE)
        if request.size > MAX_RESPONSE_BYTES:
            self._answered(ResponseRejected("Function.ResponseSizeTooLarge", TOO_LARGE_MESSAGE))
            return _TOO_LARGE
        error_type = reported_error_type(request.headers.get("lambda-runtime-function-error-type"))
        self._answered(ErrorPosted(request.body, error_type))
        return _ACCEPTED

    def _answered(self, event: RuntimeEvent) -> None:
        self._move(RuntimeState.RESPONSE_SENT)
        self._events.put_nowait(event)
