"""Environments forked from zygotes: what they inherit and what they must not, how they end, and what happens when a
zygote dies."""

from __future__ import annotations

import os
import sys
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import psutil

from tests.integration.processes import IDENTITY, creator_of, host_pid, in_namespace, shared_directory
from tests.support import Server, create_function, invoke_json, unique, wait_until

OWN_LABEL = f"zygote-python{sys.version_info[0]}.{sys.version_info[1]}"
RUNTIME = f"python{sys.version_info[0]}.{sys.version_info[1]}"  # runs on the server's own interpreter

INSPECT = (
    IDENTITY
    + """
import os, random, sys, tempfile, time, uuid

def handler(event, context):
    links = []
    for fd in sorted(os.listdir("/proc/self/fd"), key=int):
        try:
            links.append(os.readlink("/proc/self/fd/" + fd))
        except OSError:
            pass
    return {
        **where(),
        "random": random.random(),
        "tempname": next(tempfile._get_candidate_names()),
        "uuid": str(uuid.uuid4()),
        "descriptors": links,
        "path": sys.path[:3],
        "tzname": list(time.tzname),
        "dont_write_bytecode": sys.flags.dont_write_bytecode,
        "sid": os.getsid(0),
    }
"""
)


def zygote_of(server: Server) -> psutil.Process:
    """The server's zygote for its own interpreter (a direct child; its blanks and environments are below it)."""
    assert server.process is not None
    server_pid = server.process.pid

    def find() -> psutil.Process | None:
        for child in psutil.Process(server_pid).children():
            try:
                if OWN_LABEL in child.cmdline():
                    return child
            except psutil.NoSuchProcess:
                continue
        return None

    found: psutil.Process = wait_until(find)
    return found


def test_cold_start_forks_the_environment_from_its_interpreters_zygote(server: Server, client: Any) -> None:
    name = create_function(client, {"app.py": INSPECT}, runtime=RUNTIME)
    body = invoke_json(client, name)[1]
    pid = host_pid(server, body)
    zygote = zygote_of(server)
    assert creator_of(pid) == zygote.pid
    # A session of its own (led by it, or by the sandbox's relay), so kill() ends its whole tree.
    assert os.getsid(pid) in {pid, psutil.Process(pid).ppid()} - {os.getsid(zygote.pid)}
    assert "python_bootstrap.py" in " ".join(psutil.Process(pid).cmdline())


def test_forked_environments_share_no_random_state(client: Any) -> None:
    names = [create_function(client, {"app.py": INSPECT}, runtime=RUNTIME) for _ in range(3)]
    bodies = [invoke_json(client, name)[1] for name in names]
    for key in ("random", "tempname", "uuid"):
        assert len({body[key] for body in bodies}) == len(bodies), key


def test_forked_environment_holds_only_its_own_descriptors(server: Server, client: Any) -> None:
    name = create_function(client, {"app.py": INSPECT}, runtime=RUNTIME)
    body = invoke_json(client, name)[1]
    links = body["descriptors"]
    assert links[0] == "/dev/null"
    assert links[1] == links[2] and links[1].startswith("pipe:")  # stdout and stderr: its own output pipe
    sockets = [link for link in links if link.startswith("socket:")]
    assert len(sockets) == 1  # its control socket; never the zygote's
    # No other pipe, but where the zygote made the environment's PID namespace: the write end of the pipe its init
    # reads, which ends the namespace once no process of the environment holds it.
    init = in_namespace(server, body["pidns"], 1) if body["pid"] == 2 else None
    init_pipe = [os.readlink(f"/proc/{init}/fd/0")] if init is not None else []
    assert [link for link in links[3:] if link.startswith("pipe:")] in ([], init_pipe)


def test_pythonpath_of_the_function_applies_in_a_forked_environment(client: Any) -> None:
    variables = {"PYTHONPATH": "/opt/first:/opt/second"}
    name = create_function(client, {"app.py": INSPECT}, runtime=RUNTIME, Environment={"Variables": variables})
    body = invoke_json(client, name)[1]
    assert body["path"][1:] == ["/opt/first", "/opt/second"]
    assert body["tzname"] == ["UTC", "UTC"]


def test_interpreter_start_variables_get_an_interpreter_of_their_own(server: Server, client: Any) -> None:
    variables = {"PYTHONDONTWRITEBYTECODE": "1"}
    name = create_function(client, {"app.py": INSPECT}, runtime=RUNTIME, Environment={"Variables": variables})
    body = invoke_json(client, name)[1]
    assert body["dont_write_bytecode"] == 1
    assert server.process is not None and creator_of(host_pid(server, body)) == server.process.pid


def test_a_package_with_a_lib_directory_gets_an_interpreter_of_its_own(server: Server, client: Any) -> None:
    """AWS puts the package's lib/ on LD_LIBRARY_PATH, which the dynamic linker reads only when a program starts."""
    name = create_function(client, {"app.py": INSPECT, "lib/libnothing.so": ""}, runtime=RUNTIME)
    body = invoke_json(client, name)[1]
    assert server.process is not None and creator_of(host_pid(server, body)) == server.process.pid


def test_killed_zygote_is_restarted_by_the_next_cold_start(fresh_server: Server) -> None:
    server = fresh_server.start()
    client = server.lambda_client()
    warm = create_function(client, {"app.py": INSPECT}, runtime=RUNTIME)
    pid = host_pid(server, invoke_json(client, warm)[1])
    zygote = zygote_of(server)
    zygote.kill()
    wait_until(lambda: not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE)
    # Its environments died with it; the next invoke is a cold start on a new zygote.
    response, body = invoke_json(client, warm)
    assert "FunctionError" not in response
    restarted = zygote_of(server)
    assert restarted.pid != zygote.pid
    assert creator_of(host_pid(server, body)) == restarted.pid
    assert "the next cold start restarts it" in server.log_text()


def test_exit_statuses_stay_exact_through_the_zygote(client: Any) -> None:
    app = "import os, signal\ndef handler(e, c):\n    os.kill(os.getpid(), signal.SIGSEGV)\n"
    name = create_function(client, {"app.py": app}, runtime=RUNTIME)
    response, body = invoke_json(client, name)
    request_id = response["ResponseMetadata"]["RequestId"]
    assert body == {
        "errorMessage": f"RequestId: {request_id} Error: Runtime exited with error: signal: segmentation fault",
        "errorType": "Runtime.ExitError",
    }


def test_init_exit_status_is_reported_by_the_zygote(client: Any) -> None:
    name = create_function(client, {"app.py": "import os\nos._exit(7)\n"}, runtime=RUNTIME)
    response, body = invoke_json(client, name)
    assert response["FunctionError"] == "Unhandled"
    assert body["errorType"] == "Runtime.ExitError"
    assert body["errorMessage"].endswith(" Error: Runtime exited with error: exit status 7")


def test_concurrent_cold_starts_of_one_function_each_get_an_environment(server: Server) -> None:
    count = 6
    client = server.lambda_client(max_pool_connections=count)
    app = IDENTITY + "import time\ndef handler(e, c):\n    time.sleep(0.5)\n    return ENVIRONMENT\n"
    name = create_function(client, {"app.py": app}, runtime=RUNTIME, Timeout=30)
    with ThreadPoolExecutor(count) as pool:
        environments = list(pool.map(lambda _: invoke_json(client, name)[1], range(count)))
    assert len(set(environments)) == count


def test_preload_setting_is_logged_with_what_was_skipped(fresh_server: Server) -> None:
    fresh_server.extra_env = {"NIMBUS_ZYGOTE_PRELOAD": "json, no_such_module_here"}
    server = fresh_server.start()
    wait_until(lambda: "preloaded: json" in server.log_text())
    assert "does not preload no_such_module_here (ModuleNotFoundError" in server.log_text()
    client = server.lambda_client()
    name = create_function(client, {"app.py": INSPECT}, name=unique("preload"), runtime=RUNTIME)
    assert creator_of(host_pid(server, invoke_json(client, name)[1])) == zygote_of(server).pid


def test_environment_killed_with_its_zygote_mid_invoke_fails_as_killed(fresh_server: Server) -> None:
    server = fresh_server.start()
    client = server.lambda_client()
    app = (
        "import os, time\n"
        "def handler(e, c):\n"
        "    if e.get('mark'):\n"
        "        open(e['mark'], 'w').close()\n"
        "        time.sleep(30)\n"
        "    return os.getpid()\n"
    )
    name = create_function(client, {"app.py": app}, runtime=RUNTIME, Timeout=60)
    invoke_json(client, name)
    with shared_directory() as shared, ThreadPoolExecutor(1) as pool:
        mark = shared / "inside"
        pending = pool.submit(invoke_json, client, name, {"mark": str(mark)})
        wait_until(mark.exists)
        zygote_of(server).kill()
        body = pending.result(timeout=60)[1]
    assert body["errorType"] == "Runtime.ExitError"
    assert body["errorMessage"].endswith("Runtime exited with error: signal: killed")
    assert "FunctionError" not in invoke_json(client, name)[0]
