"""The `nimbus` command."""

from __future__ import annotations

import click

from nimbus import __version__
from nimbus.cli.deploy import deploy
from nimbus.cli.invoke import invoke
from nimbus.cli.logs import logs
from nimbus.cli.ls import ls
from nimbus.cli.serve import serve


@click.group()
@click.version_option(__version__, prog_name="nimbus")
def cli() -> None:
    """nimbus: a self-hosted AWS Lambda.

    `serve` runs the server; the other commands are clients of its HTTP API, as boto3 and the aws cli are. They find
    it at --endpoint-url or NIMBUS_ENDPOINT_URL (default http://127.0.0.1:9009) and sign requests with
    NIMBUS_ACCESS_KEY_ID / NIMBUS_SECRET_ACCESS_KEY, else AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, else test/test.
    """


cli.add_command(serve)
for command in (deploy, invoke, logs, ls):
    cli.add_command(command)


def main() -> None:
    cli(prog_name="nimbus")
