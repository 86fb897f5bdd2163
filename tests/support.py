"""Helpers tests share: zips of handler code, a real `nimbus serve` process, and clients pointed at it."""

from __future__ import annotations

import io
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

ACCESS_KEY = "test"
SECRET_KEY = "test"
REGION = "us-east-1"
ROLE = "arn:aws:iam::000000000000:role/lambda-exec-role"
NIMBUS = [sys.executable, "-m", "nimbus"]
ECHO_APP = "def handler(event, context):\n    return event\n"


def make_zip(files: Mapping[str, str | bytes], modes: Mapping[str, int] | None = None) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in files.items():
            info = zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0))
            info.external_attr = ((modes or {}).get(name, 0o644) & 0xFFFF) << 16
            archive.writestr(info, content)
    return buffer.getvalue()


def unique(prefix: str = "fn") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(predicate: Callable[[], Any], timeout: float = 30.0, interval: float = 0.05) -> Any:
    """Poll with a deadline; returns the first truthy result, fails the test when time runs out."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(interval)


@dataclass
class Server:
    """A `nimbus serve` subprocess on a free port with its own data dir."""

    data_dir: Path
    port: int = field(default_factory=free_port)
    extra_env: Mapping[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("NIMBUS_", "AWS_"))}
        env.update({"NIMBUS_PORT": str(self.port), "NIMBUS_DATA_DIR": str(self.data_dir), **self.extra_env})
        return env

    def start(self) -> Server:
        log = open(self.data_dir.parent / f"serve-{self.port}.log", "ab")  # noqa: SIM115 - lives with the process
        self.process = subprocess.Popen([*NIMBUS, "serve"], env=self.env, stdout=log, stderr=log)
        wait_until(self.healthy, timeout=60)
        return self

    def healthy(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise AssertionError(f"nimbus serve exited with {self.process.returncode}: {self.log_text()}")
        try:
            return httpx.get(f"{self.url}/_nimbus/health", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60) -> int:
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(sig)
        return self.process.wait(timeout=timeout)

    def log_text(self) -> str:
        path = self.data_dir.parent / f"serve-{self.port}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def lambda_client(self, **config: Any) -> Any:
        settings = {"retries": {"max_attempts": 0}, "read_timeout": 120, "connect_timeout": 5, **config}
        return boto3.client(
            "lambda", endpoint_url=self.url, region_name=REGION, aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY, config=Config(**settings),
        )  # fmt: skip

    def aws(self, *args: str, check: bool = False) -> subprocess.CompletedProcess[str]:
        """Run the aws cli (v1, from this venv) against the server."""
        env = {**self.env, "AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
               "AWS_DEFAULT_REGION": REGION, "AWS_MAX_ATTEMPTS": "1"}  # fmt: skip
        aws = str(Path(sys.executable).with_name("aws"))
        return subprocess.run(
            [sys.executable, aws, *args, "--endpoint-url", self.url], env=env, capture_output=True, text=True,
            check=check, timeout=120,
        )  # fmt: skip

    def nimbus(self, *args: str, input_text: str | None = None) -> subprocess.CompletedProcess[str]:
        """Run a `nimbus` client command against the server."""
        env = {**self.env, "NIMBUS_ENDPOINT_URL": self.url}
        return subprocess.run([*NIMBUS, *args], env=env, capture_output=True, text=True, timeout=120,
                              input=input_text, check=False)  # fmt: skip


def create_function(client: Any, files: Mapping[str, str | bytes], *, name: str | None = None,
                    runtime: str = "python3.11", handler: str = "app.handler",
                    modes: Mapping[str, int] | None = None, **extra: Any) -> str:  # fmt: skip
    """Create a function and wait until it is Active; returns its name."""
    name = name or unique()
    client.create_function(
        FunctionName=name,
        Runtime=runtime,
        Role=ROLE,
        Handler=handler,
        Code={"ZipFile": make_zip(files, modes)},
        **extra,
    )
    client.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    return name


def invoke_json(client: Any, name: str, event: Any = None, **extra: Any) -> tuple[dict[str, Any], Any]:
    response = client.invoke(FunctionName=name, Payload=json.dumps(event if event is not None else {}), **extra)
    payload = response["Payload"].read()
    return response, json.loads(payload) if payload else None


def function_arn(name: str) -> str:
    """The unqualified ARN of a function created on the test server."""
    return f"arn:aws:lambda:{REGION}:000000000000:function:{name}"


def error(caught: pytest.ExceptionInfo[ClientError]) -> tuple[str, str, int]:
    """The AWS error a boto3 call raised: its code, its message and the HTTP status."""
    response = caught.value.response
    return response["Error"]["Code"], response["Error"]["Message"], response["ResponseMetadata"]["HTTPStatusCode"]


def cli_failure(result: subprocess.CompletedProcess[str]) -> str:
    """The stderr of an aws cli (or nimbus) command that must have failed."""
    assert result.returncode != 0, result.stdout
    return result.stderr
