"""`nimbus logs`: print a function's stored log lines, and with --follow keep printing new ones until Ctrl-C."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from typing import Protocol

import click

from nimbus.cli.common import connect, endpoint_option, reports_errors
from nimbus.client import FunctionInfo, LogLine, LogPage

# Each follow request long-polls this long for new lines; the server caps a wait at 10 s anyway.
FOLLOW_WAIT = 10.0
_DURATION = re.compile(r"(\d+)\s*([smhdw])")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


class LogsApi(Protocol):
    def get_function(self, name: str) -> FunctionInfo: ...
    def function_logs(self, name: str, after: int = 0, wait: float = 0) -> LogPage: ...


def since_cutoff(text: str, now: dt.datetime) -> int:
    """Epoch milliseconds from `--since`: a duration back from now (30s, 10m, 2h, 1d, 1w) or an ISO 8601 time."""
    duration = _DURATION.fullmatch(text.strip())
    if duration is not None:
        moment = now - dt.timedelta(seconds=int(duration[1]) * _UNIT_SECONDS[duration[2]])
    else:
        try:
            moment = dt.datetime.fromisoformat(text.strip())
        except ValueError:
            raise click.BadParameter(f"{text!r} is neither a duration like 10m nor an ISO 8601 time") from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=dt.UTC)
    return int(moment.timestamp() * 1000)


def format_line(line: LogLine, raw: bool) -> str:
    """`timestamp stream message`, or the message alone when raw.

    Lambda writes a multi-line message (a traceback) with `\\r` between its lines so that it stays one event; off
    raw, they become newlines so a terminal shows every line instead of overprinting them.
    """
    message = line.message.rstrip("\n")
    if raw:
        return message
    stamp = dt.datetime.fromtimestamp(line.timestamp_ms / 1000, dt.UTC).isoformat(timespec="milliseconds")
    return f"{stamp.replace('+00:00', 'Z')} {line.stream} {message.replace(chr(13), chr(10))}"


def tail(api: LogsApi, name: str, since_ms: int, follow: bool, emit: Callable[[LogLine], None]) -> None:
    """Emit every stored line at or after `since_ms`, page by page; when following, long-poll for more forever."""
    after = 0
    while True:
        page = api.function_logs(name, after=after, wait=FOLLOW_WAIT if follow else 0)
        for line in page.events:
            if line.timestamp_ms >= since_ms:
                emit(line)
        if page.events:
            after = page.events[-1].id
        elif not follow:
            return


@click.command(short_help="Print (or follow) a function's log lines.")
@click.argument("name")
@click.option("--follow", "-f", is_flag=True, help="Keep printing new lines as they arrive, until Ctrl-C.")
@click.option(
    "--since",
    default=None,
    metavar="WHEN",
    help="Only lines from this long ago (30s, 10m, 2h, 1d) or since an ISO 8601 time [default all].",
)
@click.option("--raw", is_flag=True, help="Print each message alone, without timestamp and log stream.")
@endpoint_option
@reports_errors
def logs(name: str, follow: bool, since: str | None, raw: bool, endpoint_url: str | None) -> None:
    """Print the log lines of function NAME: its output and the START, END and REPORT lines of each invoke."""
    since_ms = since_cutoff(since, dt.datetime.now(dt.UTC)) if since else 0
    with connect(endpoint_url) as api:
        api.get_function(name)  # an unknown function is an error, not an empty log
        try:
            tail(api, name, since_ms, follow, lambda line: click.echo(format_line(line, raw)))
        except KeyboardInterrupt:
            return
