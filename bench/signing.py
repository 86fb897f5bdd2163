"""Invoke requests signed exactly as boto3 signs them, captured once and replayed as raw bytes.

boto3 builds, serialises and SigV4-signs the request; a `before-send` hook stops it before it reaches the
network and hands the prepared request back. A signature stays valid for five minutes (the server's clock
skew window), far longer than any phase of the benchmark, so one capture serves every request of a phase:
the client then spends nothing per request on signing and cannot be what limits the rate.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import boto3
from botocore.config import Config

from bench.connection import build_request

ACCESS_KEY = "test"
SECRET_KEY = "test"
REGION = "us-east-1"


class _Captured(Exception):
    def __init__(self, request: Any) -> None:
        super().__init__("captured")
        self.request = request


def _capture(request: Any, **_: Any) -> None:
    raise _Captured(request)


def lambda_client(endpoint: str) -> Any:
    """A boto3 Lambda client for the control plane (create, wait, delete): no retries, loopback credentials."""
    return boto3.client(
        "lambda",
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
        config=Config(retries={"max_attempts": 0}, read_timeout=120, connect_timeout=5),
    )


class InvokeSigner:
    """Turns (function, payload, options) into the raw bytes boto3 would put on the wire for Invoke."""

    def __init__(self, endpoint: str) -> None:
        self._host = urlsplit(endpoint).netloc
        self._client = lambda_client(endpoint)
        self._client.meta.events.register("before-send.lambda.Invoke", _capture)

    def invoke(self, function_name: str, payload: bytes, *, tail: bool = False, event: bool = False) -> bytes:
        extra = {"LogType": "Tail"} if tail else {}
        if event:
            extra["InvocationType"] = "Event"
        try:
            self._client.invoke(FunctionName=function_name, Payload=payload, **extra)
        except _Captured as captured:
            request = captured.request
        else:
            raise AssertionError("the before-send hook did not run")
        split = urlsplit(request.url)
        path = split.path + (f"?{split.query}" if split.query else "")
        headers = {key: _text(value) for key, value in request.headers.items()}
        return build_request(request.method, path, self._host, headers, request.body or b"")


def _text(value: str | bytes) -> str:
    return value.decode("latin-1") if isinstance(value, bytes) else value
