"""An in-memory stand-in for NimbusClient: functions whose updates stay InProgress for a few reads."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from nimbus.cli.packaging import code_sha256
from nimbus.client import ApiError, FunctionInfo, FunctionSpec, InvokeResult, LogLine, LogPage


def function_info(**config: Any) -> FunctionInfo:
    defaults = {"FunctionName": "fn", "Runtime": "python3.11", "Handler": "app.handler", "MemorySize": 128,
                "Timeout": 3, "State": "Active", "LastUpdateStatus": "Successful"}  # fmt: skip
    merged: Any = {**defaults, **config}
    return FunctionInfo.parse(merged)


@dataclass
class FakeApi:
    busy_reads: int = 2  # reads that still see Pending / InProgress after each change
    functions: dict[str, dict[str, Any]] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)
    busy: dict[str, int] = field(default_factory=dict)
    fail_next: str | None = None  # a LastUpdateStatusReason to end the next change with
    invocations: list[dict[str, Any]] = field(default_factory=list)
    invoke_result: InvokeResult = field(default_factory=lambda: InvokeResult(200, b'{"ok": true}', "req-1"))
    log_pages: list[list[LogLine]] = field(default_factory=list)
    log_requests: list[tuple[int, float]] = field(default_factory=list)

    def __enter__(self) -> FakeApi:
        return self

    def __exit__(self, *_: object) -> None:
        pass

    def find_function(self, name: str) -> FunctionInfo | None:
        return self.get_function(name) if name in self.functions else None

    def get_function(self, name: str) -> FunctionInfo:
        if name not in self.functions:
            raise ApiError("ResourceNotFoundException", f"Function not found: {name}", 404)
        config = dict(self.functions[name])
        if self.busy.get(name, 0) > 0:
            self.busy[name] -= 1
            config.update(State="Pending" if config["State"] == "Pending" else "Active", LastUpdateStatus="InProgress")
        elif config["State"] == "Pending":
            config["State"] = self.functions[name]["State"] = "Active"
        return function_info(**config)

    def create_function(self, spec: FunctionSpec, package: bytes) -> FunctionInfo:
        self.calls.append("create")
        self.functions[spec.name] = {
            **self._configuration(spec),
            "CodeSha256": code_sha256(package),
            "State": "Pending",
        }
        return self._changed(spec.name)

    def update_code(self, name: str, package: bytes) -> FunctionInfo:
        self.calls.append("update_code")
        self.functions[name]["CodeSha256"] = code_sha256(package)
        return self._changed(name)

    def update_configuration(self, spec: FunctionSpec) -> FunctionInfo:
        self.calls.append("update_configuration")
        self.functions[spec.name].update(self._configuration(spec))
        return self._changed(spec.name)

    def invoke(self, name: str, payload: bytes, **options: Any) -> InvokeResult:
        self.invocations.append({"name": name, "payload": payload, **options})
        return self.invoke_result

    def function_logs(self, name: str, after: int = 0, wait: float = 0) -> LogPage:
        self.log_requests.append((after, wait))
        if not self.log_pages:
            raise KeyboardInterrupt  # what Ctrl-C does to a follow that has shown everything
        return LogPage(f"/aws/lambda/{name}", self.log_pages.pop(0))

    def list_functions(self) -> Iterator[FunctionInfo]:
        for config in self.functions.values():
            yield function_info(**{k: v for k, v in config.items() if not k.startswith(("State", "LastUpdate"))})

    def describe_all(self, names: list[str]) -> list[FunctionInfo | None]:
        return [self.find_function(name) for name in names]

    def _changed(self, name: str) -> FunctionInfo:
        self.busy[name] = self.busy_reads
        config = self.functions[name]
        config["LastUpdateStatus"] = "Successful"
        if self.fail_next is not None:
            config.update(LastUpdateStatus="Failed", LastUpdateStatusReason=self.fail_next,
                          LastUpdateStatusReasonCode="InvalidZipFileException")  # fmt: skip
            self.fail_next = None
        return function_info(**config)

    @staticmethod
    def _configuration(spec: FunctionSpec) -> dict[str, Any]:
        config: dict[str, Any] = {
            "FunctionName": spec.name, "Runtime": spec.runtime, "Handler": spec.handler, "MemorySize": spec.memory,
            "Timeout": spec.timeout, "Environment": {"Variables": dict(spec.environment)},
            "FunctionArn": f"arn:aws:lambda:us-east-1:000000000000:function:{spec.name}",
        }  # fmt: skip
        if spec.role is not None:
            config["Role"] = spec.role
        if spec.description is not None:
            config["Description"] = spec.description
        return config
