"""What every client command shares: where the server is, how errors are shown, and the consoles."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import NoReturn, ParamSpec, TypeVar

import click
from rich.console import Console

from nimbus.client import ClientConfig, ClientError, EndpointError, NimbusClient

P = ParamSpec("P")
T = TypeVar("T")

# Off a terminal nothing reads the width, and rich would otherwise fold long names at 80 columns.
PIPE_WIDTH = 1000

UNREACHABLE_HINT = "Is `nimbus serve` running there? Point at it with --endpoint-url or NIMBUS_ENDPOINT_URL."

endpoint_option = click.option(
    "--endpoint-url",
    metavar="URL",
    default=None,
    help="nimbus server to talk to [NIMBUS_ENDPOINT_URL, default http://127.0.0.1:9009].",
)


def connect(endpoint_url: str | None) -> NimbusClient:
    return NimbusClient(ClientConfig.from_env(endpoint_url=endpoint_url))


def console(stderr: bool = False) -> Console:
    probe = Console(stderr=stderr)
    return probe if probe.is_terminal else Console(stderr=stderr, width=PIPE_WIDTH)


def reports_errors(command: Callable[P, T]) -> Callable[P, T]:
    """Show a client error as `Error: <AWS code>: <message>` on stderr and exit 1, never as a traceback."""

    @functools.wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return command(*args, **kwargs)
        except EndpointError as error:
            fail(f"{error.code}: {error.message}\n{UNREACHABLE_HINT}")
        except ClientError as error:
            fail(f"{error.code}: {error.message}")

    return wrapper


def fail(message: str, exit_code: int = 1) -> NoReturn:
    click.echo(f"Error: {message}", err=True)
    sys.exit(exit_code)
