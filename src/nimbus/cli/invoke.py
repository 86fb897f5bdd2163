"""`nimbus invoke`: run a function once and print what it returned."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import IO

import click
import orjson

from nimbus.cli.common import connect, endpoint_option, fail, reports_errors
from nimbus.client import InvokeResult


def read_payload(argument: str, stdin: IO[bytes]) -> bytes:
    """PAYLOAD as given: `-` reads stdin, `@path` reads a file, anything else is the payload itself."""
    if argument == "-":
        return stdin.read()
    if argument.startswith("@"):
        try:
            return Path(argument[1:]).read_bytes()
        except OSError as exc:
            raise click.BadParameter(f"cannot read {argument[1:]}: {exc.strerror}", param_hint="PAYLOAD") from exc
    return argument.encode()


def render_payload(payload: bytes) -> bytes:
    """Pretty JSON when the payload is JSON; the bytes unchanged when it is not."""
    try:
        document = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return payload
    return orjson.dumps(document, option=orjson.OPT_INDENT_2)


def describe_error(result: InvokeResult) -> str:
    """`errorType: errorMessage` from a function error's payload, as far as it has them."""
    try:
        document = orjson.loads(result.payload)
    except orjson.JSONDecodeError:
        document = None
    if not isinstance(document, dict):
        return f"{result.function_error} function error"
    kind, message = document.get("errorType"), document.get("errorMessage")
    return ": ".join(str(part) for part in (kind, message) if part is not None) or f"{result.function_error}"


@click.command(short_help="Invoke a function and print its response.")
@click.argument("name")
@click.argument("payload", default="{}")
@click.option("--qualifier", "-q", default=None, help="Version or alias to invoke [default $LATEST].")
@click.option("--async", "is_async", is_flag=True, help="Invoke asynchronously (Event); prints the request id.")
@click.option("--logs", is_flag=True, help="Print the invocation's log tail (START ... REPORT) to stderr.")
@endpoint_option
@reports_errors
def invoke(name: str, payload: str, qualifier: str | None, is_async: bool, logs: bool,
           endpoint_url: str | None) -> None:  # fmt: skip
    """Invoke function NAME with PAYLOAD: a JSON document, `-` for stdin or `@file` [default {}].

    Prints the function's response to stdout, pretty when it is JSON. Exits 1 when the function fails
    (X-Amz-Function-Error), with its errorType and errorMessage on stderr.
    """
    if is_async and logs:
        raise click.UsageError("--logs needs a synchronous invoke; it cannot be used with --async")
    body = read_payload(payload, sys.stdin.buffer)
    with connect(endpoint_url) as api:
        result = api.invoke(name, body, qualifier=qualifier, invocation_type="Event" if is_async else "RequestResponse",
                            tail_logs=logs)  # fmt: skip
    if is_async:
        click.echo(result.request_id)
        return
    if result.log_tail is not None:
        click.echo(result.log_tail, err=True, nl=not result.log_tail.endswith("\n"))
    sys.stdout.buffer.write(render_payload(result.payload) + b"\n")
    sys.stdout.flush()
    if result.function_error:
        fail(describe_error(result))
