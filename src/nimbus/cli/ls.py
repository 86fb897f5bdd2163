"""`nimbus ls`: the functions on the server, as a table or as JSON."""

from __future__ import annotations

import dataclasses

import click
import orjson
from rich.table import Table

from nimbus.cli.common import connect, console, endpoint_option, reports_errors
from nimbus.client import FunctionInfo

COLUMNS = ("Name", "Runtime", "Memory (MB)", "Timeout (s)", "Last modified (UTC)", "State")


def with_states(listed: list[FunctionInfo], described: list[FunctionInfo | None]) -> list[FunctionInfo]:
    """ListFunctions items with State and LastUpdateStatus filled in from GetFunctionConfiguration."""
    merged = []
    for item, detail in zip(listed, described, strict=True):
        if detail is None:  # deleted between the two calls
            continue
        raw = {**item.raw, **{k: v for k, v in detail.raw.items() if k.startswith(("State", "LastUpdateStatus"))}}
        merged.append(dataclasses.replace(item, state=detail.state, last_update_status=detail.last_update_status,
                                          state_reason=detail.state_reason, raw=raw))  # fmt: skip
    return merged


def short_time(last_modified: str) -> str:
    """`2024-05-01T12:00:00.000+0000` (Lambda's LastModified) as `2024-05-01 12:00:00` for a narrow column."""
    return last_modified[:19].replace("T", " ")


def function_table(functions: list[FunctionInfo]) -> Table:
    table = Table(*COLUMNS, box=None, header_style="bold", pad_edge=False)
    table.columns[0].no_wrap = True  # a name is what the user types next: never cut it
    for column in table.columns[2:4]:
        column.justify = "right"
    for info in functions:
        state = info.state or "-"
        if info.last_update_status not in (None, "Successful"):
            state = f"{state} ({info.last_update_status})"
        table.add_row(
            info.name, info.runtime, str(info.memory), str(info.timeout), short_time(info.last_modified), state
        )
    return table


@click.command(short_help="List functions.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array of function configurations instead.")
@endpoint_option
@reports_errors
def ls(as_json: bool, endpoint_url: str | None) -> None:
    """List the functions: name, runtime, memory, timeout, last modified and state."""
    with connect(endpoint_url) as api:
        listed = list(api.list_functions())
        functions = with_states(listed, api.describe_all([info.name for info in listed]))
    functions.sort(key=lambda info: info.name)
    if as_json:
        click.echo(orjson.dumps([info.raw for info in functions], option=orjson.OPT_INDENT_2).decode())
        return
    out = console()
    if not functions:
        click.echo("No functions.", err=True)
        return
    out.print(function_table(functions))
