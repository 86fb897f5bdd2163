"""Every environment is a sandbox, seen through boto3: a function that reads another's code or /tmp, exceeds its
memory, forks without end, loops forever or fills /tmp harms only its own environment, gets AWS's error, and the
next invoke works."""

from __future__ import annotations

import base64
import json
import re
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import psutil
import pytest

from nimbus.runtime import cgroups
from tests.support import Server, create_function, invoke_json, unique, wait_until

PROBE = r"""
import errno, os, tempfile, time

def _try_read(path):
    try:
        with open(path) as handle:
            return handle.read()
    except OSError as exc:
        return errno.errorcode[exc.errno]

def _bomb(limit):
    hold_read, hold_write = os.pipe()
    started = failed = 0
    for _ in range(limit):
        try:
            child = os.fork()
        except OSError:
            failed += 1
            if failed >= 50:
                break
            continue
        if child == 0:
            os.close(hold_write)
            os.read(hold_read, 1)  # until the bomb is over
            os._exit(0)
        started += 1
    os.close(hold_write)
    return {"started": started, "failed": failed}

def _fill_tmp():
    written = 0
    try:
        with open("/tmp/fill", "wb") as handle:
            while True:
                written += handle.write(b"x" * (16 << 20))
                handle.flush()
    except OSError as exc:
        return {"errno": errno.errorcode[exc.errno], "mb": written >> 20}
    finally:
        os.remove("/tmp/fill")

def _allocate_in_child(mb):
    child = os.fork()
    if child == 0:
        block = bytearray(mb << 20)
        for offset in range(0, len(block), 4096):
            block[offset] = 1
        os._exit(0)
    os.waitpid(child, 0)

def handler(event, context):
    kind = event.get("kind")
    if kind == "read":
        return {path: _try_read(path) for path in event["paths"]}
    if kind == "write-tmp":
        path = os.path.join(tempfile.gettempdir(), event["name"])
        with open(path, "w") as handle:
            handle.write(event["text"])
        return {"path": os.path.realpath(path)}
    if kind == "write-code":
        try:
            open(os.path.join(os.environ["LAMBDA_TASK_ROOT"], "new.py"), "w").close()
        except OSError as exc:
            return {"errno": errno.errorcode[exc.errno]}
        return {"errno": None}
    if kind == "where":
        return {"cwd": os.getcwd(), "root": os.environ["LAMBDA_TASK_ROOT"], "tmp": tempfile.gettempdir()}
    if kind == "environ":
        found, pids = [], []
        for name in os.listdir("/proc"):
            if name.isdigit():
                pids.append(int(name))
                try:
                    with open("/proc/%s/environ" % name, "rb") as handle:
                        if event["token"].encode() in handle.read():
                            found.append(int(name))
                except OSError:
                    pass
        return {"found": found, "pids": sorted(pids), "me": os.getpid()}
    if kind == "allocate":
        block = bytearray(event["mb"] << 20)
        for offset in range(0, len(block), 4096):
            block[offset] = 1
    if kind == "allocate-in-child":
        _allocate_in_child(event["mb"])
    if kind == "bomb":
        return _bomb(event["limit"])
    if kind == "fill-tmp":
        return _fill_tmp()
    if kind == "loop":
        while True:
            pass
    return {"ok": True, "pid": os.getpid()}
"""


def report_of(response: dict[str, Any]) -> str:
    text = base64.b64decode(response["LogResult"]).decode()
    return next(line for line in text.split("\n") if line.startswith("REPORT "))


def probe_function(client: Any, **config: Any) -> str:
    return create_function(client, {"app.py": PROBE}, **config)


def assert_still_works(client: Any, name: str) -> None:
    response, body = invoke_json(client, name, {})
    assert "FunctionError" not in response
    assert body["ok"] is True


# -- files --------------------------------------------------------------------------------------------------------
def test_isolation_level_is_logged_at_start(server: Server) -> None:
    assert re.search(r"isolation: (namespaces|process|none) \(", server.log_text())


def test_code_is_read_only_at_var_task(client: Any) -> None:
    name = probe_function(client)
    assert invoke_json(client, name, {"kind": "where"})[1] == {"cwd": "/var/task", "root": "/var/task", "tmp": "/tmp"}
    assert invoke_json(client, name, {"kind": "write-code"})[1] == {"errno": "EROFS"}
    assert_still_works(client, name)


def test_another_functions_code_cannot_be_read(server: Server, client: Any) -> None:
    secret = unique("secret")
    other = create_function(client, {"app.py": PROBE, "secret.txt": secret})
    sha = base64.b64decode(client.get_function(FunctionName=other)["Configuration"]["CodeSha256"]).hex()
    paths = [str(server.data_dir / "code" / sha / "secret.txt"), str(server.data_dir / "code" / f"{sha}.zip")]
    assert secret in (server.data_dir / "code" / sha / "secret.txt").read_text()  # it is there, on the host
    reader = probe_function(client)
    seen = invoke_json(client, reader, {"kind": "read", "paths": paths})[1]
    assert set(seen.values()) <= {"ENOENT", "EACCES"}
    assert_still_works(client, reader)


def test_another_environments_tmp_cannot_be_read(client: Any) -> None:
    writer, reader = probe_function(client), probe_function(client)
    token = unique("tmp")
    written = invoke_json(client, writer, {"kind": "write-tmp", "name": token, "text": token})[1]["path"]
    seen = invoke_json(client, reader, {"kind": "read", "paths": [written, f"/tmp/{token}"]})[1]
    assert set(seen.values()) <= {"ENOENT", "EACCES"}
    # The writer's own environment still has it.
    assert invoke_json(client, writer, {"kind": "read", "paths": [written]})[1] == {written: token}


def test_writing_past_ephemeral_storage_fails_with_enospc(client: Any) -> None:
    # /tmp is memory in a sandbox: give the function room for all of it.
    name = probe_function(client, MemorySize=1024, EphemeralStorage={"Size": 512}, Timeout=60)
    seen = invoke_json(client, name, {"kind": "fill-tmp"})[1]
    assert seen["errno"] == "ENOSPC"
    assert 496 <= seen["mb"] <= 512
    assert_still_works(client, name)


def test_the_aws_cli_sees_the_sandboxed_view(server: Server, client: Any, tmp_path: Path) -> None:
    name = probe_function(client)
    out = tmp_path / "out.json"
    result = server.aws("lambda", "invoke", "--function-name", name, "--payload", '{"kind": "write-code"}', str(out))
    assert result.returncode == 0, result.stderr
    assert json.loads(out.read_text()) == {"errno": "EROFS"}


# -- environments started as programs ---------------------------------------------------------------------------
def launched_probe(client: Any, how: str) -> str:
    """A function whose environment is started as a program, not forked from a zygote."""
    if how == "interpreter":  # a variable the interpreter reads at start: an interpreter of its own
        return probe_function(client, Environment={"Variables": {"PYTHONDONTWRITEBYTECODE": "1"}})
    bootstrap = f"#!/bin/sh\nexec {sys.executable} -m awslambdaric app.handler\n"
    return create_function(client, {"app.py": PROBE, "bootstrap": bootstrap}, runtime="provided.al2023",
                           modes={"bootstrap": 0o755})  # fmt: skip


@pytest.mark.parametrize("how", ["interpreter", "custom-runtime"])
def test_environments_started_as_programs_get_the_same_sandbox(server: Server, client: Any, how: str) -> None:
    if "isolation: namespaces (" not in server.log_text():
        pytest.skip("this host does not allow namespaces")
    name = launched_probe(client, how)
    assert invoke_json(client, name, {"kind": "where"})[1] == {"cwd": "/var/task", "root": "/var/task", "tmp": "/tmp"}
    assert invoke_json(client, name, {"kind": "write-code"})[1] == {"errno": "EROFS"}
    seen = invoke_json(client, name, {"kind": "environ", "token": unique("nothing")})[1]
    assert seen["pids"] == [1, 2]


@pytest.mark.parametrize("how", ["interpreter", "custom-runtime"])
def test_a_program_that_exceeds_its_memory_ends_only_its_environment(server: Server, client: Any, how: str) -> None:
    if "no writable memory cgroup" in server.log_text():
        pytest.skip("this host has no writable memory cgroup: MemorySize is not enforced")
    name = launched_probe(client, how)
    client.update_function_configuration(FunctionName=name, MemorySize=128, Timeout=30)
    client.get_waiter("function_updated_v2").wait(FunctionName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    response, body = invoke_json(client, name, {"kind": "allocate", "mb": 400}, LogType="Tail")
    assert response["FunctionError"] == "Unhandled"
    assert body["errorType"] == "Runtime.ExitError"
    assert report_of(response).endswith("\tStatus: error\tError Type: Runtime.OutOfMemory")
    assert_still_works(client, name)


# -- processes and environment variables -------------------------------------------------------------------------
def test_processes_and_variables_of_other_environments_are_invisible(client: Any) -> None:
    token = unique("variable")
    other = probe_function(client, Environment={"Variables": {"OTHER_SECRET": token}})
    assert_still_works(client, other)  # warm, holding its variables
    looker = probe_function(client)
    seen = invoke_json(client, looker, {"kind": "environ", "token": token})[1]
    assert seen["found"] == []
    assert seen["pids"] == [1, 2]  # the PID namespace's init and the function: nothing of anyone else's


# -- resources ------------------------------------------------------------------------------------------------------
def test_exceeding_memory_ends_only_that_environment(server: Server, client: Any) -> None:
    if "no writable memory cgroup" in server.log_text():
        pytest.skip("this host has no writable memory cgroup: MemorySize is not enforced")
    hog, bystander = probe_function(client, MemorySize=128, Timeout=30), probe_function(client)
    before = invoke_json(client, bystander, {})[1]["pid"]
    response, body = invoke_json(client, hog, {"kind": "allocate", "mb": 400}, LogType="Tail")
    assert response["FunctionError"] == "Unhandled"
    assert body["errorType"] == "Runtime.ExitError"
    assert body["errorMessage"].endswith("Error: Runtime exited with error: signal: killed")
    assert report_of(response).endswith("\tStatus: error\tError Type: Runtime.OutOfMemory")
    assert_still_works(client, hog)
    assert invoke_json(client, bystander, {})[1]["pid"] == before  # its warm environment was untouched


def test_max_memory_used_includes_processes_the_function_forks(server: Server, client: Any) -> None:
    if "no writable memory cgroup" in server.log_text():
        pytest.skip("without a memory cgroup Max Memory Used is the handler process's own peak")
    name = probe_function(client, MemorySize=512, Timeout=30)
    response, _ = invoke_json(client, name, {"kind": "allocate-in-child", "mb": 200}, LogType="Tail")
    used = int(re.search(r"\tMax Memory Used: (\d+) MB", report_of(response))[1])  # type: ignore[index]
    assert 200 <= used <= 512


def test_a_fork_bomb_harms_only_its_own_environment(client: Any) -> None:
    # A vCPU and room for a thousand small processes: the process limit is what stops this bomb (at 128 MB the
    # memory limit would, slowly, at a fraction of a CPU).
    bomb, bystander = probe_function(client, MemorySize=1769, Timeout=120), probe_function(client)
    with ThreadPoolExecutor(1) as pool:
        exploding = pool.submit(invoke_json, client, bomb, {"kind": "bomb", "limit": 5000})
        while not exploding.done():
            assert_still_works(client, bystander)
        response, seen = exploding.result()
    assert "FunctionError" not in response
    assert seen["failed"] > 0
    assert seen["started"] < 1024  # AWS's limit of processes and threads per environment
    assert_still_works(client, bomb)


def test_an_infinite_loop_times_out_and_harms_no_one(client: Any) -> None:
    looper, bystander = probe_function(client, Timeout=2), probe_function(client)
    with ThreadPoolExecutor(1) as pool:
        looping = pool.submit(invoke_json, client, looper, {"kind": "loop"})
        while not looping.done():
            assert_still_works(client, bystander)
        response, body = looping.result()
    request_id = response["ResponseMetadata"]["RequestId"]
    assert response["FunctionError"] == "Unhandled"
    assert body == {
        "errorMessage": f"RequestId: {request_id} Error: Task timed out after 2.00 seconds",
        "errorType": "Sandbox.Timedout",
    }
    assert_still_works(client, looper)


# -- choosing the level and the server's lifetime -------------------------------------------------------------------
@pytest.mark.parametrize("level", ["process", "none"])
def test_isolation_setting_chooses_the_level(fresh_server: Server, level: str) -> None:
    fresh_server.extra_env = {"NIMBUS_ISOLATION": level}
    client = fresh_server.start().lambda_client()
    assert f"isolation: {level} (" in fresh_server.log_text()
    name = probe_function(client)
    where = invoke_json(client, name, {"kind": "where"})[1]
    assert where["root"] == where["cwd"] != "/var/task"  # the code at its own path in the data dir
    if level == "process":
        assert where["tmp"].startswith(str(fresh_server.data_dir / "tmp"))


def test_environments_die_with_the_server(fresh_server: Server) -> None:
    client = fresh_server.start().lambda_client()
    names = [probe_function(client) for _ in range(2)]
    for name in names:
        assert_still_works(client, name)
    assert fresh_server.process is not None
    tree = psutil.Process(fresh_server.process.pid).children(recursive=True)
    assert tree
    fresh_server.process.kill()
    fresh_server.process.wait()
    wait_until(lambda: not [p for p in tree if p.is_running() and p.status() != psutil.STATUS_ZOMBIE])
    # A server killed with -9 cannot remove its cgroups; the next one to start would sweep them: do it now.
    for hierarchy in Path("/sys/fs/cgroup").iterdir():
        cgroups.sweep_stale(hierarchy, "nimbus")
    assert not list(Path("/sys/fs/cgroup").glob(f"*/nimbus-{fresh_server.process.pid}"))


CPU_QUOTA = r"""
def _cpu_quota():
    # Seen from inside: the cpu cgroup /proc/self/cgroup names, read through /sys (cgroup v1 or v2).
    for line in open("/proc/self/cgroup"):
        _, controllers, path = line.rstrip("\n").split(":", 2)
        if "cpu" in controllers.split(","):
            return open("/sys/fs/cgroup/cpu" + path + "/cpu.cfs_quota_us").read().split()[0]
        if controllers == "":
            try:
                return open("/sys/fs/cgroup" + path + "/cpu.max").read().split()[0]
            except OSError:
                continue
    return None

AT_INIT = _cpu_quota()

def handler(event, context):
    return {"init": AT_INIT, "invoke": _cpu_quota()}
"""


def test_init_runs_with_burst_cpu_and_invokes_with_a_share_of_memory(server: Server, client: Any) -> None:
    if not re.search(r"isolation: .*cgroups: [a-z, ]*\bcpu\b", server.log_text()):
        pytest.skip("this host has no writable cpu cgroup")
    name = create_function(client, {"app.py": CPU_QUOTA}, MemorySize=128)
    _, quotas = invoke_json(client, name)
    assert quotas["init"] in ("-1", "max")  # AWS: "up to 10 seconds for function initialization with burst CPU"
    assert quotas["invoke"] == str(cgroups.cpu_quota_us(128))  # 128/1,769 of a vCPU per 100 ms period
