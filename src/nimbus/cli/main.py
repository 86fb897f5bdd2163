"""The `nimbus` command.

Subcommands load on first use: `nimbus serve` must not pay for the client's boto3 import, nor `nimbus invoke`
for the server's.
"""

from __future__ import annotations

import importlib

import click

from nimbus import __version__

# command name -> "module:attribute"
COMMANDS = {
    "serve": "nimbus.cli.serve:serve",
    "deploy": "nimbus.cli.deploy:deploy",
    "invoke": "nimbus.cli.invoke:invoke",
    "logs": "nimbus.cli.logs:logs",
    "ls": "nimbus.cli.ls:ls",
    "queue": "nimbus.cli.queue:queue",
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module, attribute = target.split(":")
        command = getattr(importlib.import_module(module), attribute)
        assert isinstance(command, click.Command)
        return command


@click.group(cls=LazyGroup)
@click.version_option(__version__, prog_name="nimbus")
def cli() -> None:
    """nimbus: a self-hosted AWS Lambda.

    `serve` runs the server; the other commands are clients of its HTTP API, as boto3 and the aws cli are. They find
    it at --endpoint-url or NIMBUS_ENDPOINT_URL (default http://127.0.0.1:9009) and sign requests with
    NIMBUS_ACCESS_KEY_ID / NIMBUS_SECRET_ACCESS_KEY, else AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, else test/test.
    """


def main() -> None:
    cli(prog_name="nimbus")
