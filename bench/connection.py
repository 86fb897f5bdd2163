"""A minimal HTTP/1.1 keep-alive client over an asyncio Protocol: one request in flight per connection.

A general client (httpx, botocore) costs more per request than the server under test does on a warm invoke, so
the benchmark sends pre-built request bytes and parses only the status line and Content-Length. Both servers
under test answer with a Content-Length; anything else is reported as an error rather than guessed at.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from typing import cast


class ProtocolError(Exception):
    """The server answered with something this client does not parse, or closed the connection."""


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    head: bytes  # status line and headers, without the blank line
    body: bytes

    def header(self, name: str) -> str | None:
        wanted = name.lower().encode()
        for line in self.head.split(b"\r\n")[1:]:
            key, _, value = line.partition(b":")
            if key.strip().lower() == wanted:
                return value.strip().decode("latin-1")
        return None


def build_request(method: str, path: str, host: str, headers: Mapping[str, str], body: bytes) -> bytes:
    """The bytes of one request; Host and Content-Length are added when the headers lack them."""
    lines = [f"{method} {path} HTTP/1.1"]
    names = {key.lower() for key in headers}
    if "host" not in names:
        lines.append(f"Host: {host}")
    lines.extend(f"{key}: {value}" for key, value in headers.items())
    if "content-length" not in names:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


class Connection(asyncio.Protocol):
    def __init__(self) -> None:
        self._buffer = bytearray()
        self._transport: asyncio.Transport | None = None
        self._waiter: asyncio.Future[Response] | None = None
        self._closed: Exception | None = None

    @classmethod
    async def open(cls, host: str, port: int) -> Connection:
        loop = asyncio.get_running_loop()
        _, protocol = await loop.create_connection(cls, host, port)
        return protocol

    def request(self, data: bytes) -> asyncio.Future[Response]:
        """Send one request; the future resolves with its response. Only one may be in flight."""
        assert self._transport is not None and self._waiter is None, "one request at a time"
        waiter = asyncio.get_running_loop().create_future()
        if self._closed is not None:
            waiter.set_exception(self._closed)
            return waiter
        self._waiter = waiter
        self._transport.write(data)
        return waiter

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()

    # -- asyncio.Protocol --------------------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's transports do not subclass it

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        end = self._buffer.find(b"\r\n\r\n")
        if end < 0 or self._waiter is None:
            return
        head = bytes(self._buffer[:end])
        try:
            length = _content_length(head)
        except ProtocolError as exc:
            self._fail(exc)
            return
        total = end + 4 + length
        if len(self._buffer) < total:
            return
        body = bytes(self._buffer[end + 4 : total])
        del self._buffer[:total]
        waiter, self._waiter = self._waiter, None
        if not waiter.done():
            waiter.set_result(Response(int(head[9:12]), head, body))

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail(ProtocolError(f"connection closed: {exc}"))

    def _fail(self, error: Exception) -> None:
        self._closed = error
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_exception(error)


def _content_length(head: bytes) -> int:
    lowered = head.lower()
    start = lowered.find(b"\r\ncontent-length:")
    if start < 0:
        raise ProtocolError(f"response without Content-Length: {head[:200]!r}")
    start += len(b"\r\ncontent-length:")
    end = lowered.find(b"\r\n", start)
    return int(lowered[start : end if end >= 0 else None])
