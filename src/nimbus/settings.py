"""One typed, frozen settings object, built from NIMBUS_* environment variables and `nimbus serve` flags.

Every field has an environment variable named NIMBUS_<FIELD> and a flag --<field-with-dashes>; docs/configuration.md
lists them. Settings are injected by the composition root (app.py), never read globally.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

LOOPBACK_DEFAULT_KEY = "test"
ISOLATION_CHOICES = ("auto", "namespaces", "process", "none")


class SettingsError(ValueError):
    """A setting has a value nimbus cannot start with."""


@dataclass(frozen=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 9009
    data_dir: Path = Path(".nimbus")
    region: str = "us-east-1"
    account_id: str = "000000000000"
    access_key_id: str = ""
    secret_access_key: str = ""
    # Seconds an idle execution environment is kept warm before it is reaped.
    keep_alive: float = 300.0
    # Seconds an environment may spend in init before the invoke fails (AWS allows 10 s for on-demand init).
    init_timeout: float = 10.0
    # Concurrent executions across all functions (AWS's default account limit).
    account_concurrency: int = 1000
    # Seconds SIGTERM waits for in-flight invokes before environments are killed.
    drain_timeout: float = 30.0
    # Multiplies asynchronous invocation's retry delays (1 and 2 minutes, throttle backoff) and event age limits;
    # 1 is AWS's timing, tests use 0.01 to see them pass in seconds.
    async_retry_scale: float = 1.0
    # Packages each interpreter's zygote imports once, so environments forked from it need not (comma-separated;
    # what an interpreter does not have is skipped).
    zygote_preload: str = "boto3"
    # Cold starts running at once across all functions; 0 means twice the CPU count (see runtime/pool.py).
    cold_start_concurrency: int = 0
    # Public base URL of this server, used in Code.Location; derived from host and port when empty.
    public_url: str = ""
    log_level: str = "info"
    # How environments are sandboxed: auto (the best the host allows), namespaces, process or none (see
    # runtime/isolation.py).
    isolation: str = "auto"
    extra: Mapping[str, str] = field(default_factory=dict)

    @property
    def base_url(self) -> str:
        if self.public_url:
            return self.public_url.rstrip("/")
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::") else self.host
        return f"http://{host}:{self.port}"

    @property
    def preload(self) -> list[str]:
        return [name.strip() for name in self.zygote_preload.split(",") if name.strip()]

    @property
    def is_loopback(self) -> bool:
        if self.host == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return False

    @property
    def credentials_defaulted(self) -> bool:
        return not os.environ.get("NIMBUS_ACCESS_KEY_ID") and self.access_key_id == LOOPBACK_DEFAULT_KEY

    def with_defaults(self) -> Settings:
        """Apply the loopback credential convention and check what cannot be defaulted."""
        if self.access_key_id and self.secret_access_key:
            return self
        if not self.is_loopback:
            raise SettingsError(
                "a non-loopback bind needs NIMBUS_ACCESS_KEY_ID and NIMBUS_SECRET_ACCESS_KEY (or the flags)"
            )
        return dataclasses.replace(self, access_key_id=LOOPBACK_DEFAULT_KEY, secret_access_key=LOOPBACK_DEFAULT_KEY)


def _convert(raw: str, kind: Any) -> Any:
    if kind in (int, "int"):
        return int(raw)
    if kind in (float, "float"):
        return float(raw)
    if kind in (Path, "Path"):
        return Path(raw)
    return raw


def load_settings(overrides: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None) -> Settings:
    """Build Settings from NIMBUS_* variables, then flag overrides (flags win); None overrides are ignored."""
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    for f in fields(Settings):
        if f.name == "extra":
            continue
        raw = env.get(f"NIMBUS_{f.name.upper()}")
        if raw is not None and raw != "":
            try:
                values[f.name] = _convert(raw, f.type)
            except ValueError as exc:
                raise SettingsError(f"NIMBUS_{f.name.upper()}={raw!r}: {exc}") from exc
    for name, value in (overrides or {}).items():
        if value is not None:
            values[name] = value
    settings = Settings(**values)
    _check(settings)
    return settings


def _check(settings: Settings) -> None:
    if not (len(settings.account_id) == 12 and settings.account_id.isdigit()):
        raise SettingsError(f"NIMBUS_ACCOUNT_ID must be 12 digits, got {settings.account_id!r}")
    if not 0 < settings.port < 65536:
        raise SettingsError(f"port must be 1-65535, got {settings.port}")
    if settings.keep_alive <= 0:
        raise SettingsError("keep_alive must be positive")
    if settings.async_retry_scale <= 0:
        raise SettingsError("async_retry_scale must be positive")
    if settings.isolation not in ISOLATION_CHOICES:
        raise SettingsError(f"isolation must be one of {', '.join(ISOLATION_CHOICES)}, got {settings.isolation!r}")
    if settings.cold_start_concurrency < 0:
        raise SettingsError("cold_start_concurrency must be 0 (automatic) or positive")
