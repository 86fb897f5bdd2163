"""Argument parsing of the client commands, against a fake API (no server)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from nimbus.cli import deploy, invoke, logs, ls
from nimbus.cli.main import cli
from nimbus.client import InvokeResult
from tests.unit.cli.fakes import FakeApi


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch) -> FakeApi:
    fake = FakeApi(busy_reads=0)
    for module in (deploy, invoke, logs, ls):
        monkeypatch.setattr(module, "connect", lambda _endpoint: fake)
    return fake


def run(*args: str, stdin: str | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args), input=stdin)
    return result.exit_code, result.stdout, result.stderr


def test_invoke_defaults_to_an_empty_object(api: FakeApi) -> None:
    code, out, _ = run("invoke", "fn")
    assert code == 0
    assert api.invocations == [{"name": "fn", "payload": b"{}", "qualifier": None,
                                "invocation_type": "RequestResponse", "tail_logs": False}]  # fmt: skip
    assert json.loads(out) == {"ok": True}


def test_invoke_reads_payload_from_stdin_and_files(api: FakeApi, tmp_path: Path) -> None:
    (tmp_path / "event.json").write_text('{"from": "file"}')
    assert run("invoke", "fn", "-", stdin='{"from": "stdin"}')[0] == 0
    assert run("invoke", "fn", f"@{tmp_path / 'event.json'}")[0] == 0
    assert [call["payload"] for call in api.invocations] == [b'{"from": "stdin"}', b'{"from": "file"}']


def test_invoke_missing_payload_file_is_a_usage_error(api: FakeApi, tmp_path: Path) -> None:
    code, _, err = run("invoke", "fn", f"@{tmp_path / 'absent.json'}")
    assert code == 2
    assert "cannot read" in err


def test_async_invoke_prints_the_request_id(api: FakeApi) -> None:
    api.invoke_result = InvokeResult(202, b"", "req-42")
    code, out, _ = run("invoke", "fn", "--async", "--qualifier", "live")
    assert (code, out) == (0, "req-42\n")
    assert api.invocations[0]["invocation_type"] == "Event"
    assert api.invocations[0]["qualifier"] == "live"


def test_async_with_logs_is_refused(api: FakeApi) -> None:
    code, _, err = run("invoke", "fn", "--async", "--logs")
    assert code == 2
    assert "--logs" in err


def test_function_error_exits_1_with_type_and_message(api: FakeApi) -> None:
    error = b'{"errorType": "ValueError", "errorMessage": "boom"}'
    api.invoke_result = InvokeResult(200, error, "req-1", function_error="Unhandled", log_tail="START\nEND\n")
    code, out, err = run("invoke", "fn", "--logs")
    assert code == 1
    assert json.loads(out) == {"errorType": "ValueError", "errorMessage": "boom"}
    assert "START\nEND\n" in err
    assert "ValueError: boom" in err


def test_non_json_response_is_printed_unchanged(api: FakeApi) -> None:
    api.invoke_result = InvokeResult(200, b"plain text", "req-1")
    assert run("invoke", "fn")[1] == "plain text\n"


def test_deploy_parses_env_and_options(api: FakeApi, tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text("def handler(e, c): return e\n")
    code, out, _ = run("deploy", str(tmp_path), "--name", "fn", "--env", "A1=x=y", "--env", "B2=", "--memory", "256",
                       "--timeout", "30", "--runtime", "python3.12", "--handler", "main.run")  # fmt: skip
    assert code == 0, out
    config = api.functions["fn"]
    assert config["Environment"] == {"Variables": {"A1": "x=y", "B2": ""}}
    assert (config["MemorySize"], config["Timeout"], config["Runtime"], config["Handler"]) == (
        256, 30, "python3.12", "main.run",
    )  # fmt: skip
    assert "Role" not in config  # the client fills in the default role on create
    assert "FunctionArn: arn:aws:lambda:us-east-1:000000000000:function:fn" in out


@pytest.mark.parametrize(
    ("args", "complaint"),
    [(["--name", "fn", "--env", "NOEQUALS"], "is not KEY=VALUE"), (["--env", "A=1"], "Missing option '--name'")],
)
def test_deploy_usage_errors(api: FakeApi, tmp_path: Path, args: list[str], complaint: str) -> None:
    code, _, err = run("deploy", str(tmp_path), *args)
    assert code == 2
    assert complaint in err


def test_deploy_of_a_plain_file_is_refused(api: FakeApi, tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text("")
    code, _, err = run("deploy", str(tmp_path / "app.py"), "--name", "fn")
    assert code == 2
    assert "neither a directory nor a .zip file" in err


def test_logs_of_unknown_function_is_an_aws_error(api: FakeApi) -> None:
    code, out, err = run("logs", "ghost")
    assert (code, out) == (1, "")
    assert err.startswith("Error: ResourceNotFoundException: ")


def test_logs_bad_since_is_a_usage_error(api: FakeApi) -> None:
    assert run("logs", "fn", "--since", "soon")[0] == 2


def test_ls_json_lists_configurations_with_state(api: FakeApi, tmp_path: Path) -> None:
    assert run("deploy", str(tmp_path), "--name", "fn")[0] == 0
    code, out, _ = run("ls", "--json")
    assert code == 0
    [listed] = json.loads(out)
    assert (listed["FunctionName"], listed["State"]) == ("fn", "Active")


def test_version_is_printed() -> None:
    assert run("--version")[1].startswith("nimbus, version ")
