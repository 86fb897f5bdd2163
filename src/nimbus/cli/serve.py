"""`nimbus serve`: run the server on uvicorn until SIGTERM/SIGINT, then drain in-flight invokes and exit 0."""

from __future__ import annotations

import logging
import signal
import sys
from pathlib import Path
from typing import Any

import click
import uvicorn

from nimbus.app import AsgiApp, build
from nimbus.settings import ISOLATION_CHOICES, Settings, SettingsError, load_settings


@click.command()
@click.option("--host", default=None, help="Address to bind [NIMBUS_HOST, default 127.0.0.1].")
@click.option("--port", type=int, default=None, help="Port [NIMBUS_PORT, default 9009].")
@click.option("--data-dir", type=click.Path(path_type=Path), default=None, help="State directory [NIMBUS_DATA_DIR].")
@click.option("--region", default=None, help="Region in ARNs [NIMBUS_REGION, default us-east-1].")
@click.option("--account-id", default=None, help="12-digit account in ARNs [NIMBUS_ACCOUNT_ID].")
@click.option("--access-key-id", default=None, help="Root access key [NIMBUS_ACCESS_KEY_ID].")
@click.option("--secret-access-key", default=None, help="Root secret key [NIMBUS_SECRET_ACCESS_KEY].")
@click.option("--keep-alive", type=float, default=None, help="Seconds idle environments stay warm [NIMBUS_KEEP_ALIVE].")
@click.option("--init-timeout", type=float, default=None, help="Seconds allowed for init [NIMBUS_INIT_TIMEOUT].")
@click.option("--account-concurrency", type=int, default=None, help="Account concurrency [NIMBUS_ACCOUNT_CONCURRENCY].")
@click.option("--drain-timeout", type=float, default=None, help="Seconds SIGTERM waits [NIMBUS_DRAIN_TIMEOUT].")
@click.option("--async-retry-scale", type=float, default=None,
              help="Multiplier of async retry delays, event ages [NIMBUS_ASYNC_RETRY_SCALE, default 1].")  # fmt: skip
@click.option("--public-url", default=None, help="Base URL clients reach this server at [NIMBUS_PUBLIC_URL].")
@click.option("--log-level", default=None, help="Platform log level [NIMBUS_LOG_LEVEL, default info].")
@click.option("--zygote-preload", default=None, help="Packages zygotes import [NIMBUS_ZYGOTE_PRELOAD, default boto3].")
@click.option("--cold-start-concurrency", type=int, default=None,
              help="Cold starts at once [NIMBUS_COLD_START_CONCURRENCY, default 2 x cores].")  # fmt: skip
@click.option(
    "--isolation", type=click.Choice(ISOLATION_CHOICES), default=None,
    help="Environment sandbox: auto (the best the host allows), namespaces, process or none [NIMBUS_ISOLATION].",
)  # fmt: skip
def serve(**flags: Any) -> None:
    """Start nimbus on one port: the Lambda API, function URLs and /_nimbus/ endpoints."""
    try:
        settings = load_settings(flags).with_defaults()
    except SettingsError as exc:
        raise click.UsageError(str(exc)) from exc
    _configure_logging(settings.log_level)
    _announce(settings)
    nimbus = build(settings)
    config = uvicorn.Config(
        AsgiApp(nimbus), host=settings.host, port=settings.port, loop="uvloop", http="httptools",
        lifespan="on", log_level=settings.log_level.lower(), access_log=False,
        timeout_graceful_shutdown=int(settings.drain_timeout), server_header=False,
    )  # fmt: skip
    server = uvicorn.Server(config)
    # uvicorn re-raises the signal it shut down on under the handlers installed before it started (by default that
    # kills the process: exit status -15). With no-op handlers there, `nimbus serve` drains and exits 0 as promised.
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: None)
    server.run()
    if not server.started:
        sys.exit(1)


def _configure_logging(level: str) -> None:
    logging.basicConfig(
        level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )


def _announce(settings: Settings) -> None:
    if settings.credentials_defaulted:
        click.echo(
            "nimbus: no NIMBUS_ACCESS_KEY_ID set; on loopback the key pair is test/test. Clients need:\n"
            f"  export AWS_ACCESS_KEY_ID={settings.access_key_id} AWS_SECRET_ACCESS_KEY={settings.secret_access_key}"
            f" AWS_DEFAULT_REGION={settings.region}\n  endpoint: {settings.base_url}",
            err=True,
        )
