"""SnapStart environments are sandboxes of their own, through boto3 and the aws cli: two environments restored from
one snapshot each see only their own processes and their own /tmp (holding what init wrote), /tmp is limited to
EphemeralStorage, a deleted version's snapshot process ends, a version a crash left Pending is snapshotted again at
start, and an asynchronous invoke sent while the snapshot is made runs once it is Active."""

from __future__ import annotations

import concurrent.futures
import json
import signal
from pathlib import Path
from typing import Any

import psutil
import pytest

from nimbus.runtime.isolation import kept_in_tmp, python_paths
from tests.support import Server, create_function, invoke_json, unique, wait_until

SNAP = {"ApplyOn": "PublishedVersions"}
# Where nimbus itself is installed under /tmp (a checkout there), its directories are bound into every /tmp.
NIMBUS_IN_TMP = {Path(path).relative_to("/tmp").parts[0] for path in kept_in_tmp(python_paths())}


def own(tmp: list[str]) -> list[str]:
    """A /tmp listing without nimbus's own directories."""
    return [name for name in tmp if name not in NIMBUS_IN_TMP]


APP = r"""
import errno, os, time, uuid

with open("/tmp/from-init", "w") as handle:
    handle.write("init")
time.sleep(float(os.environ.get("INIT_SECONDS", "0")))
ENVIRONMENT = None

def _fill_tmp(name):
    written = 0
    try:
        with open("/tmp/" + name, "wb") as handle:
            while True:
                written += handle.write(b"x" * (16 << 20))
                handle.flush()
    except OSError as exc:
        return {"errno": errno.errorcode[exc.errno], "mb": written >> 20}

def handler(event, context):
    global ENVIRONMENT
    ENVIRONMENT = ENVIRONMENT or str(uuid.uuid4())  # after the restore: each environment's own
    if event.get("write"):
        with open("/tmp/" + event["write"], "w") as handle:
            handle.write("mine")
    time.sleep(event.get("sleep", 0))
    result = {"environment": ENVIRONMENT, "tmp": sorted(os.listdir("/tmp")),
              "pids": sorted(int(name) for name in os.listdir("/proc") if name.isdigit())}
    if event.get("fill"):
        result.update(_fill_tmp(event["fill"]))
    return result
"""


def publish_active(client: Any, name: str) -> str:
    version: str = client.publish_version(FunctionName=name)["Version"]
    client.get_waiter("published_version_active").wait(
        FunctionName=name, Qualifier=version, WaiterConfig={"Delay": 1, "MaxAttempts": 120}
    )
    return version


def snapstart_function(client: Any, **config: Any) -> tuple[str, str]:
    """A function whose code carries a file named after it (to find its snapshot process), and its version."""
    name = unique("snapiso")
    create_function(client, {"app.py": APP, f"{name}.marker": name}, name=name, SnapStart=SNAP, **config)
    return name, publish_active(client, name)


def concurrently(client: Any, name: str, version: str, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Invokes running at the same time, so each is served by an environment of its own."""
    with concurrent.futures.ThreadPoolExecutor(len(events)) as pool:
        return list(pool.map(lambda event: invoke_json(client, name, event, Qualifier=version)[1], events))


def snapshot_processes(server: Server, name: str) -> list[psutil.Process]:
    """The server's snapshot processes of function `name` (their /var/task holds its marker file)."""
    assert server.process is not None
    found = []
    for process in psutil.Process(server.process.pid).children(recursive=True):
        try:
            if "snapshot" in process.cmdline() and Path(f"/proc/{process.pid}/root/var/task/{name}.marker").exists():
                found.append(process)
        except (psutil.Error, OSError):
            continue
    return found


@pytest.fixture
def namespaces(server: Server) -> None:
    if "isolation: namespaces" not in server.log_text():
        pytest.skip("restored environments get namespaces of their own only at isolation level namespaces")
    if "SnapStart: restored environments share" in server.log_text():
        pytest.skip("this host has no unprivileged user namespaces")


@pytest.mark.usefixtures("namespaces")
def test_restored_environments_see_only_their_own_processes(client: Any) -> None:
    name, version = snapstart_function(client)
    results = concurrently(client, name, version, [{"sleep": 1}, {"sleep": 1}])
    assert results[0]["environment"] != results[1]["environment"]
    # The PID namespace's init and the function: not the snapshot, the other environment, nor the host's processes.
    assert [result["pids"] for result in results] == [[1, 2], [1, 2]]


@pytest.mark.usefixtures("namespaces")
def test_each_restored_environment_has_its_own_tmp_with_what_init_wrote(client: Any) -> None:
    name, version = snapstart_function(client)
    first = invoke_json(client, name, {"write": "first-env"}, Qualifier=version)[1]
    assert own(first["tmp"]) == ["first-env", "from-init"]
    # Two at once: the warm environment and a second one restored from the snapshot.
    results = concurrently(client, name, version, [{"sleep": 1}, {"sleep": 1}])
    by_environment = {result["environment"]: result["tmp"] for result in results}
    assert len(by_environment) == 2 and first["environment"] in by_environment
    assert own(by_environment.pop(first["environment"])) == ["first-env", "from-init"]
    assert [own(tmp) for tmp in by_environment.values()] == [["from-init"]]


@pytest.mark.usefixtures("namespaces")
def test_each_restored_environment_has_ephemeral_storage_of_its_own(client: Any) -> None:
    # /tmp is memory in a sandbox: room for all of it. Shared, the two would fill 512 MB together.
    name, version = snapstart_function(client, MemorySize=1024, EphemeralStorage={"Size": 512}, Timeout=60)
    results = concurrently(client, name, version, [{"sleep": 1, "fill": "a"}, {"sleep": 1, "fill": "b"}])
    assert results[0]["environment"] != results[1]["environment"]
    for result in results:
        assert result["errno"] == "ENOSPC"
        assert 496 <= result["mb"] <= 512


def test_deleting_a_version_or_its_function_ends_its_snapshot_process(server: Server, client: Any) -> None:
    name, first = snapstart_function(client)
    client.update_function_configuration(FunctionName=name, Description="second")
    wait_until(lambda: client.get_function_configuration(FunctionName=name)["LastUpdateStatus"] == "Successful")
    second = publish_active(client, name)
    assert len(snapshot_processes(server, name)) == 2
    assert own(invoke_json(client, name, {}, Qualifier=first)[1]["tmp"]) == ["from-init"]  # a restored environment too

    server.aws("lambda", "delete-function", "--function-name", name, "--qualifier", first, check=True)
    wait_until(lambda: len(snapshot_processes(server, name)) == 1)
    assert "from-init" in invoke_json(client, name, {}, Qualifier=second)[1]["tmp"]  # the other version's lives on

    client.delete_function(FunctionName=name)
    wait_until(lambda: snapshot_processes(server, name) == [])


def test_a_version_left_pending_by_a_crash_is_snapshotted_again_at_start(fresh_server: Server) -> None:
    fresh_server.start()
    client = fresh_server.lambda_client()
    name = create_function(client, {"app.py": APP}, SnapStart=SNAP, Environment={"Variables": {"INIT_SECONDS": "3"}})
    version = client.publish_version(FunctionName=name)["Version"]
    assert client.get_function_configuration(FunctionName=name, Qualifier=version)["State"] == "Pending"
    fresh_server.stop(signal.SIGKILL)

    fresh_server.start()
    client = fresh_server.lambda_client()
    client.get_waiter("published_version_active").wait(
        FunctionName=name, Qualifier=version, WaiterConfig={"Delay": 1, "MaxAttempts": 60}
    )
    assert "from-init" in invoke_json(client, name, {}, Qualifier=version)[1]["tmp"]


def test_an_event_sent_while_the_snapshot_is_made_runs_once_it_is_active(server: Server, client: Any) -> None:
    name = create_function(client, {"app.py": APP}, SnapStart=SNAP, Environment={"Variables": {"INIT_SECONDS": "2"}})
    version = client.publish_version(FunctionName=name)["Version"]
    result = server.aws(
        "lambda", "invoke", "--function-name", name, "--qualifier", version, "--invocation-type", "Event",
        "--payload", json.dumps({"write": "async"}), "/dev/stdout",
        check=True,
    )  # fmt: skip
    assert '"StatusCode": 202' in result.stdout
    assert client.get_function_configuration(FunctionName=name, Qualifier=version)["State"] == "Pending"

    def ran() -> bool:
        logs = server.nimbus("logs", name, "--raw").stdout
        return "RESTORE_REPORT" in logs and "END RequestId" in logs

    wait_until(ran, timeout=120, interval=0.5)
