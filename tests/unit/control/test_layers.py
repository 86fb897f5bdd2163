"""LayerService over a real SQLite store and code store: numbering, listing, deletion, policies, and what
functions get from it."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from nimbus.control.layers import Filters, Grant, LayerService, NewLayerVersion
from nimbus.control.packages import CodeSource
from nimbus.domain.arns import Identity
from nimbus.errors import InvalidParameterValue, PreconditionFailed, ResourceNotFound
from nimbus.store.code import CodeStore
from nimbus.store.database import create_engine, migrate, sqlite_url
from nimbus.store.layers import SqlLayerStore
from tests.support import make_zip

IDENTITY = Identity("us-east-1", "000000000000")
BASE = "arn:aws:lambda:us-east-1:000000000000:layer"


@pytest.fixture
def service(tmp_path: Path) -> LayerService:
    engine = create_engine(sqlite_url(tmp_path))
    migrate(engine)
    return LayerService(SqlLayerStore(engine), CodeStore(tmp_path / "code"), IDENTITY)


def publish(service: LayerService, name: str, files: dict[str, str] | None = None, **extra: Any) -> int:
    content = CodeSource(zip_file=make_zip(files or {"python/m.py": "X = 1\n"}))
    return asyncio.run(service.publish(name, NewLayerVersion(content, **extra))).version


def test_versions_count_up_and_are_never_reused(service: LayerService) -> None:
    assert [publish(service, "l") for _ in range(2)] == [1, 2]
    service.delete("l", 2)
    assert publish(service, "l") == 3
    assert publish(service, f"{BASE}:other") == 1


def test_get_by_name_arn_and_version_arn(service: LayerService) -> None:
    publish(service, "l", description="d")
    assert service.get("l", 1).description == "d"
    assert service.get(f"{BASE}:l", 1).version == 1
    assert service.get_by_arn(f"{BASE}:l:1").name == "l"
    with pytest.raises(ResourceNotFound, match=r"^The resource you requested does not exist\.$"):
        service.get("l", 2)
    for arn in (f"{BASE}:nope:1", "arn:aws:lambda:us-east-1:111111111111:layer:l:1"):
        with pytest.raises(ResourceNotFound, match=r"^The resource you requested does not exist\.$"):
            service.get_by_arn(arn)


def test_listing_pages_and_filters(service: LayerService) -> None:
    publish(service, "a", compatible_runtimes=("python3.11",))
    publish(service, "a", compatible_runtimes=("python3.12",))
    publish(service, "b", compatible_runtimes=("python3.11",))
    page, marker = service.list_versions("a", Filters(), None, 1)
    assert [v.version for v in page] == [2] and marker == "2"
    page, marker = service.list_versions("a", Filters(), marker, 1)
    assert [v.version for v in page] == [1] and marker is None
    layers, _ = service.list_layers(Filters(runtime="python3.11"), None, None)
    assert [(v.name, v.version) for v in layers] == [("a", 1), ("b", 1)]
    first, marker = service.list_layers(Filters(), None, 1)
    assert [(v.name, v.version) for v in first] == [("a", 2)] and marker == "a"
    rest, marker = service.list_layers(Filters(), marker, 1)
    assert [v.name for v in rest] == ["b"] and marker is None


def test_policies_keep_a_revision(service: LayerService) -> None:
    publish(service, "l")
    grant = Grant("s1", "lambda:GetLayerVersion", "*")
    _, revision = service.add_permission("l", 1, grant, None)
    assert service.policy("l", 1).revision_id == revision
    with pytest.raises(PreconditionFailed):
        service.remove_permission("l", 1, "s1", "stale")
    service.remove_permission("l", 1, "s1", revision)
    with pytest.raises(ResourceNotFound, match=r"^No policy is associated with the given resource\.$"):
        service.policy("l", 1)
    with pytest.raises(ResourceNotFound, match=rf"^Layer version {BASE}:l:9 does not exist\.$"):
        service.add_permission("l", 9, grant, None)


def test_resolve_gives_functions_the_layers_packages(service: LayerService) -> None:
    publish(service, "a")
    publish(service, "b")
    refs = service.resolve([f"{BASE}:b:1", f"{BASE}:a:1"])
    assert [ref.arn for ref in refs] == [f"{BASE}:b:1", f"{BASE}:a:1"]
    service.delete("a", 1)
    with pytest.raises(InvalidParameterValue, match=rf"^Layer version {BASE}:a:1 does not exist\.$"):
        service.resolve([f"{BASE}:a:1"])
    with pytest.raises(InvalidParameterValue, match="does not exist"):
        service.resolve(["arn:aws:lambda:us-east-1:111111111111:layer:b:1"])


def test_combined_size_counts_unzipped_bytes(service: LayerService, tmp_path: Path) -> None:
    publish(service, "big", {"python/big.py": "x" * 1000})
    layers = service.resolve([f"{BASE}:big:1"])
    code = CodeStore(tmp_path / "code").put(make_zip({"app.py": "y" * 10}))
    service.check_combined_size(code, layers)
    assert service.total_code_size() == layers[0].code.size
