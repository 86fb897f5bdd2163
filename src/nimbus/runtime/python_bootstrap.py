"""nimbus's Python runtime: runs inside an execution environment, on the function's own interpreter (3.9+).

Stdlib only, and syntax every supported python3 reads. It mirrors awslambdaric's observable behaviour (handler
lookup, error documents, the LambdaContext, log lines) over nimbus's framed Unix-socket transport instead of the
HTTP Runtime API. Protocol (see runtime/frames.py): the platform sends `hello`, we answer `ready` or
`init_error`; then for each `invoke` frame we answer one `result` frame.
"""

import importlib
import json
import os
import resource
import socket
import struct
import sys
import time
import traceback

PRELUDE = struct.Struct(">II")
TASK_ROOT = os.environ.get("LAMBDA_TASK_ROOT", os.getcwd())


def send(sock, header, body=b""):
    head = json.dumps(header, separators=(",", ":")).encode()
    sock.sendall(PRELUDE.pack(len(head), len(body)) + head + body)


def recv_exact(sock, size):
    chunks = []
    while size:
        chunk = sock.recv(min(size, 1 << 20))
        if not chunk:
            raise EOFError("platform closed the channel")
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def recv(sock):
    head_len, body_len = PRELUDE.unpack(recv_exact(sock, PRELUDE.size))
    header = json.loads(recv_exact(sock, head_len))
    body = recv_exact(sock, body_len) if body_len else b""
    return header, body


class CognitoIdentity(object):
    __slots__ = ["cognito_identity_id", "cognito_identity_pool_id"]


class Client(object):
    __slots__ = ["installation_id", "app_title", "app_version_name", "app_version_code", "app_package_name"]


class ClientContext(object):
    __slots__ = ["custom", "env", "client"]


def make_obj_from_dict(cls, data):
    if data is None:
        return None
    obj = cls()
    for key in cls.__slots__:
        setattr(obj, key, data.get(key))
    return obj


class LambdaContext(object):
    def __init__(self, request_id, deadline_ms, invoked_arn, client_context, identity, tenant_id=None):
        self.aws_request_id = request_id
        self.log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME")
        self.log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME")
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME")
        self.memory_limit_in_mb = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION")
        self.invoked_function_arn = invoked_arn
        self.tenant_id = tenant_id
        self.identity = make_obj_from_dict(CognitoIdentity, identity or {})
        self.client_context = None
        if client_context is not None:
            self.client_context = make_obj_from_dict(ClientContext, client_context)
            self.client_context.client = make_obj_from_dict(Client, client_context.get("client"))
        self._deadline_ms = deadline_ms

    def get_remaining_time_in_millis(self):
        return max(0, self._deadline_ms - int(time.time() * 1000))

    def log(self, msg):
        sys.stdout.write(str(msg))

    def __repr__(self):
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
    def __init__(self, error_type, message, trace=None):
        Exception.__init__(self, message)
        self.error_type = error_type
        self.message = message
        self.trace = trace or []


def error_doc(error_type, message, request_id, stack):
    return {"errorMessage": message, "errorType": error_type, "requestId": request_id, "stackTrace": stack}


def user_frames(tb):
    # awslambdaric drops the runtime's own frames so the trace starts in the user's code.
    frames = traceback.extract_tb(tb)
    while frames and frames[0].filename == __file__:
        frames = frames[1:]
    return traceback.format_list(frames)


def log_error(doc):
    lines = ["[ERROR] {0}: {1}".format(doc["errorType"], doc["errorMessage"])]
    if doc["stackTrace"]:
        lines.append("Traceback (most recent call last):")
        lines.extend(frame.replace("\n", "\r") for frame in doc["stackTrace"])
    # As awslambdaric's StandardLogSink: one log event, lines joined with \r, leading spaces kept visible.
    text = "\r".join(line.rstrip("\r") for line in lines).replace("\r  ", "\r\u00a0\u00a0")
    sys.stdout.write(text + "\n")


def load_handler(handler):
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
        trace = ['  File "{0}" Line {1}\n    {2}\n'.format(exc.filename, exc.lineno, (exc.text or "").strip())]
        raise FaultError("Runtime.UserCodeSyntaxError", "Syntax error in module '{0}': {1}".format(modname, exc), trace)
    try:
        return getattr(module, fname)
    except AttributeError:
        raise FaultError("Runtime.HandlerNotFound", "Handler '{0}' missing on module '{1}'".format(fname, modname))


def init():
    sys.path.insert(0, TASK_ROOT)
    handler_name = os.environ.get("_HANDLER", "")
    try:
        return load_handler(handler_name), None
    except FaultError as fault:
        return None, error_doc(fault.error_type, fault.message, "", fault.trace)
    except Exception as exc:  # module code raised: AWS reports the exception's own type and message
        return None, error_doc(type(exc).__name__, str(exc), "", user_frames(exc.__traceback__))


def to_json(result):
    if isinstance(result, bytes):
        return result
    ensure_ascii = sys.version_info < (3, 12)
    try:
        return json.dumps(result, ensure_ascii=ensure_ascii).encode()
    except (TypeError, ValueError) as exc:
        raise FaultError("Runtime.MarshalError", "Unable to marshal response: {0}".format(exc))


def run_one(handler, header, body):
    request_id = header["id"]
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


def max_memory_kb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def flush_output():
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            pass


def serve(sock):
    recv(sock)  # hello
    handler, init_error = init()
    if init_error is not None:
        log_error(init_error)
        flush_output()
        send(sock, {"t": "init_error"}, json.dumps(init_error).encode())
        sys.exit(1)
    flush_output()
    send(sock, {"t": "ready"})
    while True:
        header, body = recv(sock)
        ok, result = run_one(handler, header, body)
        flush_output()
        send(sock, {"t": "result", "ok": ok, "maxrss_kb": max_memory_kb()}, result)


def main():
    sock = socket.socket(fileno=int(sys.argv.pop(1)))
    # The function sees argv as a runtime would, without our descriptor number.
    sys.argv[0] = "/var/runtime/bootstrap.py"
    try:
        serve(sock)
    except EOFError:
        sys.exit(0)


if __name__ == "__main__":
    main()
