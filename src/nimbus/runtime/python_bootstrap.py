"""nimbus's Python runtime: runs inside an execution environment, on the function's own interpreter (3.9+).

Stdlib only, and syntax every supported python3 reads. It mirrors awslambdaric's observable behaviour (handler
lookup, error documents, the LambdaContext, the root logger, log lines) over nimbus's framed Unix-socket transport
instead of the HTTP Runtime API. Protocol (see runtime/frames.py): the platform sends `hello`, we answer `ready` or
`init_error`; then for each `invoke` frame we answer one `result` frame. Every import here is paid by every cold
start: typing is only read by the type checker, and decimal is only looked at once the function has imported it.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import socket
import struct
import sys
import time
import traceback

TYPE_CHECKING = False  # the type checker treats this name as true; typing itself costs ~3 ms to import
if TYPE_CHECKING:
    from collections.abc import Callable
    from types import TracebackType
    from typing import Any, TypeVar

    Handler = Callable[[Any, "LambdaContext"], Any]
    Document = dict[str, Any]
    Slotted = TypeVar("Slotted", bound="SlotsRepr")

PRELUDE = struct.Struct(">II")
TASK_ROOT = os.environ.get("LAMBDA_TASK_ROOT", os.getcwd())
ERROR_LOG_INDENT = "\u00a0"  # awslambdaric shows a trace's leading spaces as no-break spaces
# awslambdaric logs this before the error record when init fails (lambda_literals.py).
UNHANDLED_WARNING = (
    "LAMBDA_WARNING: Unhandled exception. The most likely cause is an issue in the function code. However, in rare "
    "cases, a Lambda runtime update can cause unexpected function behavior. For functions using managed runtimes, "
    "runtime updates can be triggered by a function change, or can be applied automatically. To determine if the "
    "runtime has been updated, check the runtime version in the INIT_START log entry. If this error correlates with "
    "a change in the runtime version, you may be able to mitigate this error by temporarily rolling back to the "
    "previous runtime version. For more information, see https://docs.aws.amazon.com/lambda/latest/dg/runtimes-update.html"
)
# The request in flight, for the log records' request id field; "" during init.
current_request_id = ""


def send(sock: socket.socket, header: Document, body: bytes = b"") -> None:
    head = json.dumps(header, separators=(",", ":")).encode()
    sock.sendall(PRELUDE.pack(len(head), len(body)) + head + body)


def recv_exact(sock: socket.socket, size: int) -> bytes:
    chunks = []
    while size:
        chunk = sock.recv(min(size, 1 << 20))
        if not chunk:
            raise EOFError("platform closed the channel")
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def recv(sock: socket.socket) -> tuple[Document, bytes]:
    head_len, body_len = PRELUDE.unpack(recv_exact(sock, PRELUDE.size))
    header = json.loads(recv_exact(sock, head_len))
    body = recv_exact(sock, body_len) if body_len else b""
    return header, body


class SlotsRepr(object):
    __slots__: list[str] = []

    def __repr__(self) -> str:
        fields = ",".join("{0}={1}".format(name, getattr(self, name, None)) for name in self.__slots__)
        return "{0}([{1}])".format(type(self).__name__, fields)


class CognitoIdentity(SlotsRepr):
    __slots__ = ["cognito_identity_id", "cognito_identity_pool_id"]


class Client(SlotsRepr):
    __slots__ = ["installation_id", "app_title", "app_version_name", "app_version_code", "app_package_name"]


class ClientContext(SlotsRepr):
    __slots__ = ["custom", "env", "client"]
    custom: Any
    env: Any
    client: Client | None


def make_obj_from_dict(cls: type[Slotted], data: Document | None) -> Slotted | None:
    if data is None:
        return None
    obj = cls()
    for key in cls.__slots__:
        setattr(obj, key, data.get(key))
    return obj


class LambdaContext(object):
    def __init__(
        self, request_id: str, deadline_ms: int, invoked_arn: str, client_context: Document | None, tenant_id: Any
    ) -> None:
        self.aws_request_id = request_id
        self.log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME")
        self.log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME")
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME")
        self.memory_limit_in_mb = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")  # a str, as in awslambdaric
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION")
        self.invoked_function_arn = invoked_arn
        self.tenant_id = tenant_id
        self.identity = make_obj_from_dict(CognitoIdentity, {})
        self.client_context = make_obj_from_dict(ClientContext, client_context)
        if self.client_context is not None and client_context is not None:
            self.client_context.client = make_obj_from_dict(Client, client_context.get("client"))
        self._deadline_ms = deadline_ms

    def get_remaining_time_in_millis(self) -> int:
        return max(0, self._deadline_ms - int(time.time() * 1000))

    def log(self, msg: object) -> None:
        sys.stdout.write(str(msg))

    def __repr__(self) -> str:
        return (
            "LambdaContext([aws_request_id={0},log_group_name={1},log_stream_name={2},function_name={3},"
            "memory_limit_in_mb={4},function_version={5},invoked_function_arn={6},client_context={7},"
            "identity={8},tenant_id={9}])".format(
                self.aws_request_id,
                self.log_group_name,
                self.log_stream_name,
                self.function_name,
                self.memory_limit_in_mb,
                self.function_version,
                self.invoked_function_arn,
                self.client_context,
                self.identity,
                self.tenant_id,
            )
        )


class FaultError(Exception):
    def __init__(self, error_type: str, message: str, trace: list[str] | None = None) -> None:
        Exception.__init__(self, message)
        self.error_type = error_type
        self.message = message
        self.trace = trace or []


def error_doc(error_type: str, message: str, request_id: str, stack: list[str]) -> Document:
    return {"errorMessage": message, "errorType": error_type, "requestId": request_id, "stackTrace": stack}


def user_frames(tb: TracebackType | None) -> list[str]:
    # awslambdaric drops the runtime's own frames so the trace starts in the user's code.
    frames = list(traceback.extract_tb(tb))
    while frames and frames[0].filename == __file__:
        frames = frames[1:]
    return traceback.format_list(frames)


def visible_indent(line: str) -> str:
    stripped = line.lstrip(" ")
    return ERROR_LOG_INDENT * (len(line) - len(stripped)) + stripped


def log_error(doc: Document) -> None:
    """awslambdaric's text-mode error record: one log event, its lines joined with \\r."""
    description = "[ERROR]"
    if doc["errorType"]:
        description += " " + doc["errorType"]
    if doc["errorMessage"]:
        description += (":" if doc["errorType"] else "") + " " + doc["errorMessage"]
    lines = [description, "Traceback (most recent call last):"]
    for element in doc["stackTrace"]:
        lines.extend([visible_indent(line) for line in element.splitlines()] or [""])
    sys.stdout.write("\r".join(lines) + "\n")


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.aws_request_id = current_request_id
        return True


class StdoutHandler(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        sys.stdout.write(self.format(record))


def setup_logging() -> None:
    """The root logger as awslambdaric sets it up: `[LEVEL]\\t<UTC time>\\t<request id>\\t<message>` on stdout."""
    logging.Formatter.converter = time.gmtime
    handler = StdoutHandler()
    handler.setFormatter(
        logging.Formatter(
            "[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t%(aws_request_id)s\t%(message)s\n", "%Y-%m-%dT%H:%M:%S"
        )
    )
    handler.addFilter(RequestIdFilter())
    root = logging.getLogger()
    level = (os.environ.get("AWS_LAMBDA_LOG_LEVEL") or "").upper()
    level = {"TRACE": "DEBUG", "WARN": "WARNING", "FATAL": "CRITICAL"}.get(level, level)
    if level in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
        root.setLevel(level)
    root.addHandler(handler)


def load_handler(handler: str) -> Handler:
    try:
        modname, fname = handler.rsplit(".", 1)
    except ValueError as exc:
        raise FaultError("Runtime.MalformedHandlerName", "Bad handler '{0}': {1}".format(handler, exc))
    if modname.split(".")[0] in sys.builtin_module_names:
        raise FaultError(
            "Runtime.BuiltInModuleConflict",
            "Cannot use built-in module {0} as a handler module".format(modname),
        )
    try:
        module = importlib.import_module(modname.replace("/", "."))
    except ImportError as exc:
        raise FaultError("Runtime.ImportModuleError", "Unable to import module '{0}': {1}".format(modname, exc))
    except SyntaxError as exc:
        trace = ['  File "%s" Line %s\n    %s' % (exc.filename, exc.lineno, exc.text)]
        raise FaultError("Runtime.UserCodeSyntaxError", "Syntax error in module '{0}': {1}".format(modname, exc), trace)
    try:
        found: Handler = getattr(module, fname)
    except AttributeError:
        raise FaultError("Runtime.HandlerNotFound", "Handler '{0}' missing on module '{1}'".format(fname, modname))
    return found


def layer_paths(roots: str, python_dir: str) -> list[str]:
    """AWS's bootstrap.py puts /opt/python/lib/pythonX.Y/site-packages, then /opt/python, right after the task root.
    `roots` names the /opt trees, first wins (one, /opt, in a sandbox; else each layer's, the last layer first)."""
    trees = [root for root in roots.split(os.pathsep) if root]
    site_dirs = [os.path.join(root, "python", "lib", python_dir, "site-packages") for root in trees]
    return site_dirs + [os.path.join(root, "python") for root in trees]


def add_layer_paths() -> None:
    roots = os.environ.pop("_NIMBUS_OPT_ROOTS", "")  # platform-internal: the function never sees it
    if not roots or os.environ.get("PYTHONPATH"):  # AWS skips the /opt entries when PYTHONPATH is set
        return
    runtime = os.environ.get("AWS_EXECUTION_ENV", "").rpartition("_")[2]  # the runtime the layers were built for
    python_dir = runtime if runtime.startswith("python3") else "python{0}.{1}".format(*sys.version_info[:2])
    paths = layer_paths(roots, python_dir)
    sys.path[1:1] = paths
    import site

    for path in paths:  # .pth files in layers work, as AWS's site.addsitedir makes them work
        if os.path.isdir(path):
            site.addsitedir(path)


# Runtime hooks of AWS's snapshot-restore-py API (SnapStart): callables with their arguments, in registration order.
before_snapshot_hooks: list[tuple[Callable[..., Any], tuple[Any, ...], Document]] = []
after_restore_hooks: list[tuple[Callable[..., Any], tuple[Any, ...], Document]] = []


def install_snapshot_restore_py() -> None:
    """`import snapshot_restore_py` works in every environment, as AWS's Python runtimes ship that module: functions
    register hooks with it (functions or decorators), and a SnapStart snapshot runs them (snapshot_child.py)."""
    if "snapshot_restore_py" in sys.modules:
        return
    import types

    def register_before_snapshot(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Callable[..., Any]:
        before_snapshot_hooks.append((func, args, kwargs))
        return func

    def register_after_restore(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Callable[..., Any]:
        after_restore_hooks.append((func, args, kwargs))
        return func

    module = types.ModuleType("snapshot_restore_py", "Runtime hooks for AWS Lambda SnapStart (nimbus).")
    module.__dict__.update(
        register_before_snapshot=register_before_snapshot,
        register_after_restore=register_after_restore,
        get_before_snapshot=lambda: before_snapshot_hooks,
        get_after_restore=lambda: after_restore_hooks,
    )
    sys.modules["snapshot_restore_py"] = module


def run_hooks(hooks: list[tuple[Callable[..., Any], tuple[Any, ...], Document]]) -> Document | None:
    """Run hooks in this order; the first that raises ends the run with its error document (logged)."""
    for func, args, kwargs in hooks:
        try:
            func(*args, **kwargs)
        except Exception as exc:
            doc = error_doc(type(exc).__name__, str(exc), "", user_frames(exc.__traceback__))
            log_error(doc)
            return doc
    return None


def init() -> tuple[Handler | None, Document | None]:
    # The task root replaces the bootstrap's own directory, so nothing of nimbus is importable by accident.
    sys.path[0] = TASK_ROOT
    install_snapshot_restore_py()
    add_layer_paths()
    handler_name = os.environ.get("_HANDLER", "")
    try:
        return load_handler(handler_name), None
    except FaultError as fault:
        return None, error_doc(fault.error_type, fault.message, "", fault.trace)
    except Exception as exc:  # module code raised: AWS reports the exception's own type and message
        return None, error_doc(type(exc).__name__, str(exc), "", user_frames(exc.__traceback__))


def encode_default(value: object) -> object:
    # awslambdaric (simplejson) writes a Decimal as its number, so DynamoDB items can be returned as they are.
    decimal = sys.modules.get("decimal")
    if decimal is not None and isinstance(value, decimal.Decimal):
        if value.is_nan():
            return float("nan")
        return int(value) if value == value.to_integral_value() else float(value)
    raise TypeError("Object of type {0} is not JSON serializable".format(type(value).__name__))


def to_json(result: object) -> bytes:
    if isinstance(result, bytes):
        return result
    ensure_ascii = sys.version_info < (3, 12)
    try:
        return json.dumps(result, ensure_ascii=ensure_ascii, default=encode_default).encode()
    except (TypeError, ValueError) as exc:
        raise FaultError("Runtime.MarshalError", "Unable to marshal response: {0}".format(exc))


def run_one(handler: Handler, header: Document, body: bytes) -> tuple[bool, bytes]:
    global current_request_id
    request_id = current_request_id = header["id"]
    if header.get("trace"):
        os.environ["_X_AMZN_TRACE_ID"] = header["trace"]
    else:
        os.environ.pop("_X_AMZN_TRACE_ID", None)
    context = LambdaContext(request_id, header["deadline"], header["arn"], header.get("cc"), None)
    try:
        event = json.loads(body) if body else {}
        return True, to_json(handler(event, context))
    except FaultError as fault:
        doc = error_doc(fault.error_type, fault.message, request_id, fault.trace)
    except Exception as exc:
        doc = error_doc(type(exc).__name__, str(exc), request_id, user_frames(exc.__traceback__))
    log_error(doc)
    return False, json.dumps(doc).encode()


class PeakMemory(object):
    """VmHWM, the peak resident set of this process image, read through a descriptor kept open (~10 us a read).

    Not ru_maxrss: that carries the platform's own peak, inherited across the fork and exec that started us.
    """

    def __init__(self) -> None:
        try:
            self.fd: int | None = os.open("/proc/self/status", os.O_RDONLY)
        except OSError:
            self.fd = None

    def kb(self) -> int:
        if self.fd is None:
            return 0
        status = os.pread(self.fd, 4096, 0)
        start = status.find(b"VmHWM:")
        return int(status[start + 6 : status.index(b"kB", start)]) if start >= 0 else 0


def flush_output() -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            pass


def serve(sock: socket.socket) -> None:
    hello, _ = recv(sock)
    peak = PeakMemory()
    handler = initialise(sock, peak)
    send(sock, {"t": "ready", "peak_kb": peak.kb()})
    serve_invokes(sock, handler, hello, peak)


def initialise(sock: socket.socket, peak: PeakMemory) -> Handler:
    """Init: the handler, or (after telling the platform why) the end of this process."""
    setup_logging()
    handler, init_error = init()
    if handler is None:
        assert init_error is not None
        logging.warning(UNHANDLED_WARNING)
        log_error(init_error)
        flush_output()
        send(sock, {"t": "init_error", "peak_kb": peak.kb()}, json.dumps(init_error).encode())
        sys.exit(1)
    flush_output()
    return handler


def serve_invokes(sock: socket.socket, handler: Handler, hello: Document, peak: PeakMemory) -> None:
    max_response = hello.get("max_response")
    # With a memory cgroup the platform measures each invoke itself and needs our peak only once, after init.
    track_memory = bool(hello.get("track_memory"))
    while True:
        header, body = recv(sock)
        ok, result = run_one(handler, header, body)
        flush_output()
        reply: Document = {"t": "result", "ok": ok}
        if track_memory:
            reply["peak_kb"] = peak.kb()
        if max_response is not None and len(result) > max_response:
            reply["oversize"] = len(result)  # the platform answers Function.ResponseSizeTooLarge
            result = b""
        send(sock, reply, result)


def main() -> None:
    sock = socket.socket(fileno=int(sys.argv.pop(1)))
    # The function sees argv as a runtime would, without our descriptor number.
    sys.argv[0] = "/var/runtime/bootstrap.py"
    try:
        serve(sock)
    except EOFError:
        sys.exit(0)


if __name__ == "__main__":
    main()
