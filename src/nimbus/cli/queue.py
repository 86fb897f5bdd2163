"""`nimbus queue`: asynchronous invocation queue depth per function, as a table or as JSON."""

from __future__ import annotations

import dataclasses

import click
import orjson
from rich.table import Table

from nimbus.cli.common import connect, console, endpoint_option, reports_errors
from nimbus.client import QueueDepth

COLUMNS = ("Function", "Waiting", "Running", "Oldest")


def age(seconds: float) -> str:
    """A short age for a narrow column: 12s, 5m 3s, 2h 10m."""
    whole = int(seconds)
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m {whole % 60}s"
    return f"{whole // 3600}h {whole % 3600 // 60}m"


def queue_table(depths: list[QueueDepth]) -> Table:
    table = Table(*COLUMNS, box=None, header_style="bold", pad_edge=False)
    table.columns[0].no_wrap = True
    for column in table.columns[1:]:
        column.justify = "right"
    for entry in depths:
        table.add_row(entry.function_name, str(entry.queued), str(entry.in_flight), age(entry.oldest_age_seconds))
    return table


@click.command(short_help="Show asynchronous invocation queue depth per function.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array instead.")
@endpoint_option
@reports_errors
def queue(as_json: bool, endpoint_url: str | None) -> None:
    """Events accepted by Event invokes and not yet done, per function: waiting (including retries not yet due),
    running, and the age of the oldest."""
    with connect(endpoint_url) as api:
        depths = api.queues()
    if as_json:
        click.echo(orjson.dumps([dataclasses.asdict(d) for d in depths], option=orjson.OPT_INDENT_2).decode())
        return
    if not depths:
        click.echo("No queued events.", err=True)
        return
    console().print(queue_table(depths))
