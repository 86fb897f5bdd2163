"""`nimbus deploy`: create a function from a directory or a zip, or update it in place, and wait until it is ready.

An update is code first, then configuration, each waited out, because Lambda refuses a change while the previous
one is InProgress (ResourceConflictException). Code whose CodeSha256 already matches, and configuration that
already matches, are not sent again, so a repeated deploy of the same tree is quick and changes nothing.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import click
from rich.console import Console
from rich.markup import escape

from nimbus.cli.common import connect, console, endpoint_option, reports_errors
from nimbus.cli.packaging import PackageError, code_sha256, load_package
from nimbus.client import ClientError, FunctionInfo, FunctionSpec

Report = Callable[[str], None]


class FunctionsApi(Protocol):
    """The part of NimbusClient a deploy uses."""

    def find_function(self, name: str) -> FunctionInfo | None: ...
    def get_function(self, name: str) -> FunctionInfo: ...
    def create_function(self, spec: FunctionSpec, package: bytes) -> FunctionInfo: ...
    def update_code(self, name: str, package: bytes) -> FunctionInfo: ...
    def update_configuration(self, spec: FunctionSpec) -> FunctionInfo: ...


@dataclass(frozen=True)
class Waiting:
    poll: float = 0.2
    # As long as boto3's function_active_v2 / function_updated_v2 waiters allow (1 s x 300).
    timeout: float = 300.0
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic


def deploy_function(api: FunctionsApi, spec: FunctionSpec, package: bytes, report: Report,
                    waiting: Waiting = Waiting()) -> FunctionInfo:  # fmt: skip
    current = api.find_function(spec.name)
    if current is None:
        report(f"Creating {spec.name}")
        api.create_function(spec, package)
        return settle(api, spec.name, report, waiting)
    current = wait_idle(api, current, report, waiting)
    if current.failed or current.code_sha256 != code_sha256(package):
        report(f"Updating the code of {spec.name}")
        api.update_code(spec.name, package)
        current = settle(api, spec.name, report, waiting)
    else:
        report(f"Code of {spec.name} unchanged")
    if configuration_differs(current, spec):
        report(f"Updating the configuration of {spec.name}")
        api.update_configuration(spec)
        current = settle(api, spec.name, report, waiting)
    else:
        report(f"Configuration of {spec.name} unchanged")
    return current


def configuration_differs(current: FunctionInfo, spec: FunctionSpec) -> bool:
    wanted = (spec.runtime, spec.handler, spec.memory, spec.timeout, dict(spec.environment))
    if wanted != (current.runtime, current.handler, current.memory, current.timeout, dict(current.environment)):
        return True
    if spec.role is not None and spec.role != current.raw.get("Role"):
        return True
    return spec.description is not None and spec.description != current.description


def settle(api: FunctionsApi, name: str, report: Report, waiting: Waiting) -> FunctionInfo:
    """Wait until the function is neither Pending nor InProgress, then fail if it ended up Failed."""
    info = wait_idle(api, api.get_function(name), report, waiting)
    if info.failed:
        code = str(info.raw.get("LastUpdateStatusReasonCode") or info.raw.get("StateReasonCode") or "Failed")
        reason = info.last_update_reason or info.state_reason or "no reason given"
        raise ClientError(code, f"{name} is {info.state}, last update {info.last_update_status}: {reason}")
    return info


def wait_idle(api: FunctionsApi, info: FunctionInfo, report: Report, waiting: Waiting) -> FunctionInfo:
    deadline = waiting.clock() + waiting.timeout
    shown = ""
    while info.state == "Pending" or info.last_update_status == "InProgress":
        status = f"Waiting for {info.name}: State {info.state}, LastUpdateStatus {info.last_update_status or '-'}"
        if status != shown:
            report(status)
            shown = status
        if waiting.clock() > deadline:
            raise ClientError("WaiterTimeout", f"{info.name} was still busy after {waiting.timeout:g} s")
        waiting.sleep(waiting.poll)
        info = api.get_function(info.name)
    return info


@contextmanager
def progress(out: Console) -> Iterator[Report]:
    """A spinner showing the current step on a terminal; one plain line per step otherwise."""
    if not out.is_terminal:
        yield lambda message: out.print(message, markup=False, highlight=False, soft_wrap=True)
        return
    with out.status("Deploying") as status:
        yield lambda message: status.update(escape(message))


def parse_env(_: click.Context, __: click.Parameter, values: tuple[str, ...]) -> dict[str, str]:
    variables: dict[str, str] = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{item!r} is not KEY=VALUE")
        variables[key] = value
    return variables


@click.command(short_help="Create or update a function from a directory or zip.")
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@click.option("--name", "-n", required=True, help="Function name.")
@click.option("--handler", default="app.handler", show_default=True, help="module.function the runtime calls.")
@click.option("--runtime", default="python3.11", show_default=True, help="e.g. python3.12, provided.al2023.")
@click.option("--memory", type=int, default=128, show_default=True, help="MemorySize in MB.")
@click.option("--timeout", type=int, default=3, show_default=True, help="Timeout in seconds.")
@click.option("--env", "environment", multiple=True, metavar="KEY=VALUE", callback=parse_env,
              help="Environment variable; repeat for more. The deployed set replaces the previous one.")  # fmt: skip
@click.option("--role", default=None, metavar="ARN",
              help="Execution role [create: arn:aws:iam::<account>:role/nimbus-exec; update: unchanged].")  # fmt: skip
@click.option("--description", default=None, help="Function description [on update: unchanged unless given].")
@endpoint_option
@reports_errors
def deploy(path: Path, name: str, handler: str, runtime: str, memory: int, timeout: int,
           environment: Mapping[str, str], role: str | None, description: str | None,
           endpoint_url: str | None) -> None:  # fmt: skip
    """Create or update function --name from PATH, a directory (zipped for you) or a .zip file.

    Waits until the function is Active with its last update Successful, then prints its FunctionArn, CodeSha256
    and State. Handler, runtime, memory, timeout and environment are set to what the flags say on every deploy.
    """
    try:
        package = load_package(path)
    except PackageError as exc:
        raise click.BadParameter(str(exc), param_hint="PATH") from exc
    spec = FunctionSpec(name, runtime, handler, memory, timeout, environment, role, description)
    with connect(endpoint_url) as api, progress(console(stderr=True)) as report:
        info = deploy_function(api, spec, package, report)
    click.echo(f"FunctionArn: {info.arn}\nCodeSha256: {info.code_sha256}\nState: {info.state}")
