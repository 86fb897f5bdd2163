"""The `nimbus` client commands against a real server, run as a user runs them (`python -m nimbus ...`)."""

from __future__ import annotations

import io
import json
import queue
import signal
import subprocess
import threading
import time
import zipfile
from pathlib import Path
from typing import IO, Any

import httpx

from tests.support import NIMBUS, Server, make_zip, unique

HANDLER = """import os

def handler(event, context):
    print("handled", event.get("marker", "-"))
    return {"version": VERSION, "greeting": os.environ.get("GREETING"), "event": event}

VERSION = {version}
"""
FAILING = "def handler(event, context):\n    raise ValueError('no good')\n"


def function_dir(root: Path, version: int = 1, source: str | None = None) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "app.py").write_text(source or HANDLER.replace("{version}", str(version)))
    return root


def deploy(server: Server, path: Path, name: str, *extra: str) -> subprocess.CompletedProcess[str]:
    result = server.nimbus("deploy", str(path), "--name", name, *extra)
    assert result.returncode == 0, result.stderr
    return result


def invoke(server: Server, name: str, *args: str, input_text: str | None = None) -> Any:
    result = server.nimbus("invoke", name, *args, input_text=input_text)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_deploy_directory_creates_an_active_function(server: Server, client: Any, tmp_path: Path) -> None:
    name = unique("cli")
    result = deploy(server, function_dir(tmp_path / "fn"), name)
    config = client.get_function_configuration(FunctionName=name)
    assert f"FunctionArn: {config['FunctionArn']}" in result.stdout
    assert f"CodeSha256: {config['CodeSha256']}" in result.stdout
    assert "State: Active" in result.stdout
    assert (config["State"], config["LastUpdateStatus"], config["Handler"]) == ("Active", "Successful", "app.handler")
    assert config["Role"] == "arn:aws:iam::000000000000:role/nimbus-exec"
    assert "Traceback" not in result.stderr


def test_redeploy_updates_code_and_environment(server: Server, client: Any, tmp_path: Path) -> None:
    name = unique("cli")
    deploy(server, function_dir(tmp_path / "fn", version=1), name, "--env", "GREETING=hello")
    assert invoke(server, name)["version"] == 1
    deploy(server, function_dir(tmp_path / "fn", version=2), name, "--env", "GREETING=bonjour", "--memory", "256")
    body = invoke(server, name)
    assert (body["version"], body["greeting"]) == (2, "bonjour")
    config = client.get_function_configuration(FunctionName=name)
    assert (config["MemorySize"], config["LastUpdateStatus"]) == (256, "Successful")


def test_deploy_of_an_existing_zip(server: Server, client: Any, tmp_path: Path) -> None:
    name = unique("cli")
    package = tmp_path / "function.zip"
    package.write_bytes(make_zip({"app.py": HANDLER.replace("{version}", "7")}))
    deploy(server, package, name)
    assert invoke(server, name)["version"] == 7


def test_invoke_with_payload_argument_and_stdin(server: Server, tmp_path: Path) -> None:
    name = unique("cli")
    deploy(server, function_dir(tmp_path / "fn"), name)
    assert invoke(server, name, '{"marker": "arg"}')["event"] == {"marker": "arg"}
    assert invoke(server, name, "-", input_text='{"marker": "stdin"}')["event"] == {"marker": "stdin"}
    assert invoke(server, name)["event"] == {}


def test_async_invoke_prints_a_request_id(server: Server, tmp_path: Path) -> None:
    name = unique("cli")
    deploy(server, function_dir(tmp_path / "fn"), name)
    result = server.nimbus("invoke", name, "--async")
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.strip()) == 36  # a request id (UUID)


def test_function_error_exits_1_with_error_type(server: Server, tmp_path: Path) -> None:
    name = unique("cli")
    deploy(server, function_dir(tmp_path / "fn", source=FAILING), name)
    result = server.nimbus("invoke", name)
    assert result.returncode == 1
    assert json.loads(result.stdout)["errorType"] == "ValueError"
    assert "ValueError: no good" in result.stderr
    assert "Traceback" not in result.stderr


def test_invoke_logs_prints_start_end_report_to_stderr(server: Server, tmp_path: Path) -> None:
    name = unique("cli")
    deploy(server, function_dir(tmp_path / "fn"), name)
    result = server.nimbus("invoke", name, '{"marker": "tail-me"}', "--logs")
    assert result.returncode == 0, result.stderr
    assert "handled tail-me" in result.stderr
    for word in ("START RequestId:", "END RequestId:", "REPORT RequestId:"):
        assert word in result.stderr
    assert "START" not in result.stdout


def test_logs_shows_handler_output_and_report(server: Server, tmp_path: Path) -> None:
    name = unique("cli")
    deploy(server, function_dir(tmp_path / "fn"), name)
    invoke(server, name, '{"marker": "logged-line"}')
    result = server.nimbus("logs", name)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert any(line.endswith("handled logged-line") for line in lines)
    assert any("REPORT RequestId:" in line for line in lines)
    raw = server.nimbus("logs", name, "--raw", "--since", "1h")
    assert "handled logged-line" in raw.stdout.splitlines()


def test_logs_follow_picks_up_a_new_invoke(server: Server, tmp_path: Path) -> None:
    name = unique("cli")
    deploy(server, function_dir(tmp_path / "fn"), name)
    invoke(server, name, '{"marker": "before-follow"}')
    env = {**server.env, "NIMBUS_ENDPOINT_URL": server.url}
    follower = subprocess.Popen([*NIMBUS, "logs", name, "--follow", "--raw"], env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        lines = LineReader(follower)
        lines.wait_for("handled before-follow")
        invoke(server, name, '{"marker": "while-following"}')
        lines.wait_for("handled while-following")
        follower.send_signal(signal.SIGINT)  # Ctrl-C ends a follow cleanly
        assert follower.wait(timeout=30) == 0
    finally:
        if follower.poll() is None:
            follower.terminate()
            follower.wait(timeout=30)


def test_ls_lists_deployed_function(server: Server, tmp_path: Path) -> None:
    name = unique("cli")
    deploy(server, function_dir(tmp_path / "fn"), name, "--memory", "192", "--timeout", "9")
    table = server.nimbus("ls")
    assert table.returncode == 0, table.stderr
    [row] = [line.split() for line in table.stdout.splitlines() if line.startswith(name)]
    assert row[:4] == [name, "python3.11", "192", "9"]
    assert row[-1] == "Active"
    listed = server.nimbus("ls", "--json")
    [config] = [item for item in json.loads(listed.stdout) if item["FunctionName"] == name]
    assert (config["MemorySize"], config["State"]) == (192, "Active")


def test_unknown_function_is_a_clear_error(server: Server) -> None:
    name = unique("missing")
    for command in (["invoke", name], ["logs", name]):
        result = server.nimbus(*command)
        assert result.returncode != 0
        assert result.stderr.startswith("Error: ResourceNotFoundException: Function not found: ")
        assert "Traceback" not in result.stderr


def test_unreachable_server_is_a_clear_error(server: Server) -> None:
    result = subprocess.run([*NIMBUS, "ls", "--endpoint-url", "http://127.0.0.1:9"], env=server.env,
                            capture_output=True, text=True, timeout=120, check=False)  # fmt: skip
    assert result.returncode == 1
    assert "nimbus serve" in result.stderr
    assert "Traceback" not in result.stderr


def test_custom_runtime_bootstrap_stays_executable(server: Server, client: Any, tmp_path: Path) -> None:
    name = unique("cli")
    root = tmp_path / "custom"
    root.mkdir()
    (root / "bootstrap").write_text('#!/bin/sh\nexec python3 "$LAMBDA_TASK_ROOT/runtime.py"\n')
    (root / "bootstrap").chmod(0o755)
    (root / "runtime.py").write_text("print('unused')\n")
    deploy(server, root, name, "--runtime", "provided.al2023", "--handler", "function.handler")
    location = client.get_function(FunctionName=name)["Code"]["Location"]
    package = httpx.get(location, timeout=30).raise_for_status().content
    with zipfile.ZipFile(io.BytesIO(package)) as archive:
        modes = {info.filename: info.external_attr >> 16 for info in archive.infolist()}
    assert modes["bootstrap"] & 0o111 == 0o111
    assert modes["runtime.py"] & 0o111 == 0


class LineReader:
    """Lines of a subprocess's stdout, read on a thread so the test can wait for one with a deadline."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self._lines: queue.Queue[str | None] = queue.Queue()
        self.seen: list[str] = []
        assert process.stdout is not None
        stream = process.stdout
        threading.Thread(target=self._pump, args=(stream,), daemon=True).start()

    def _pump(self, stream: IO[str]) -> None:
        for line in stream:
            self._lines.put(line.rstrip("\n"))
        self._lines.put(None)

    def wait_for(self, wanted: str, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while wanted not in self.seen:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"{wanted!r} not printed within {timeout} s; saw {self.seen}")
            try:
                line = self._lines.get(timeout=remaining)
            except queue.Empty:
                continue
            if line is None:
                raise AssertionError(f"follower exited before printing {wanted!r}; saw {self.seen}")
            self.seen.append(line)
