"""The built-in runtime transport: length-prefixed frames over a Unix socket.

A frame is an 8-byte prelude (header length, body length; both u32 big-endian), a JSON header and raw body bytes.
The body carries payloads untouched, so an event or a result is never JSON-encoded twice. The same layout is
read and written by runtime/python_bootstrap.py, which cannot import nimbus (it runs on any python3.9+).
"""

from __future__ import annotations

import asyncio
import struct
from typing import Any

import orjson

PRELUDE = struct.Struct(">II")
# A header is a few hundred bytes; a body is at most a 6 MB payload plus slack. Anything larger is a broken peer.
MAX_HEADER = 1 << 20
MAX_BODY = 64 << 20
# Bodies up to this size are read together with their header (splitting them after costs a copy of the body).
_JOINED_READ = 64 << 10


class FrameError(Exception):
    """The peer sent something that is not a frame, or closed mid-frame."""


def encode(header: dict[str, Any], body: bytes = b"") -> bytes:
    head = orjson.dumps(header)
    return PRELUDE.pack(len(head), len(body)) + head + body


async def read_frame(reader: asyncio.StreamReader) -> tuple[dict[str, Any], bytes]:
    try:
        prelude = await reader.readexactly(PRELUDE.size)
        head_len, body_len = PRELUDE.unpack(prelude)
        if head_len > MAX_HEADER or body_len > MAX_BODY:
            raise FrameError(f"frame too large: header {head_len}, body {body_len}")
        if body_len <= _JOINED_READ:
            # One read for header and body: a warm invoke's reply is small, and each read is a coroutine call.
            rest = await reader.readexactly(head_len + body_len)
            head, body = rest[:head_len], rest[head_len:]
        else:
            head = await reader.readexactly(head_len)
            body = await reader.readexactly(body_len)
    except asyncio.IncompleteReadError as exc:
        raise FrameError("peer closed the channel") from exc
    header = orjson.loads(head)
    if not isinstance(header, dict):
        raise FrameError("frame header is not an object")
    return header, body
