"""What the control-plane unit tests share: a function's configuration, and FunctionService's lookup over a real
function store (the services under test only ask whether a function or version exists)."""

from __future__ import annotations

from nimbus.domain.arns import LATEST, Identity
from nimbus.domain.functions import CodeRef, FunctionConfig
from nimbus.errors import ResourceNotFound
from nimbus.store.functions import SqlFunctionStore

IDENTITY = Identity("us-east-1", "000000000000")


def function(name: str, version: str = LATEST, revision_id: str = "function-rev") -> FunctionConfig:
    return FunctionConfig(name, "python3.12", "arn:aws:iam::000000000000:role/r", "app.handler",
                          CodeRef("ab" * 32, "x", 1), revision_id, "2026-01-01T00:00:00.000+0000",
                          version=version)  # fmt: skip


class StoredFunctions:
    """FunctionService.get over a function store, with its message for a missing function or version."""

    def __init__(self, store: SqlFunctionStore) -> None:
        self.store = store

    def get(self, name: str, qualifier: str | None = None) -> FunctionConfig:
        config = self.store.get(name, qualifier or LATEST)
        if config is None:
            raise ResourceNotFound(f"Function not found: {IDENTITY.function_arn(name, qualifier)}")
        return config
