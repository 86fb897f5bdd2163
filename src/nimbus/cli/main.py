"""The `nimbus` command."""

from __future__ import annotations

import click

from nimbus import __version__
from nimbus.cli.serve import serve


@click.group()
@click.version_option(__version__, prog_name="nimbus")
def cli() -> None:
    """nimbus: a self-hosted AWS Lambda."""


cli.add_command(serve)


def main() -> None:
    cli()
