from __future__ import annotations

import io
import os
import zipfile
from pathlib import Path

import pytest

from nimbus.cli.packaging import PackageError, code_sha256, load_package, zip_directory


def build_tree(root: Path) -> None:
    (root / "lib").mkdir(parents=True)
    (root / "app.py").write_text("def handler(event, context):\n    return event\n")
    (root / "lib" / "util.py").write_text("X = 1\n")
    (root / "bootstrap").write_text("#!/bin/sh\nexec python3 app.py\n")
    (root / "bootstrap").chmod(0o750)


def entries(package: bytes) -> dict[str, zipfile.ZipInfo]:
    with zipfile.ZipFile(io.BytesIO(package)) as archive:
        return {info.filename: info for info in archive.infolist()}


def test_same_tree_gives_identical_bytes(tmp_path: Path) -> None:
    build_tree(tmp_path / "a")
    build_tree(tmp_path / "b")
    os.utime(tmp_path / "b" / "app.py", (1_000_000, 1_000_000))  # only timestamps differ
    (tmp_path / "b" / "lib" / "util.py").chmod(0o600)  # and a non-executable mode
    assert zip_directory(tmp_path / "a") == zip_directory(tmp_path / "b")


def test_entries_are_sorted_posix_paths_with_fixed_time(tmp_path: Path) -> None:
    build_tree(tmp_path)
    found = entries(zip_directory(tmp_path))
    assert list(found) == ["app.py", "bootstrap", "lib/util.py"]
    assert {info.date_time for info in found.values()} == {(1980, 1, 1, 0, 0, 0)}


def test_executable_bit_is_kept_and_modes_normalised(tmp_path: Path) -> None:
    build_tree(tmp_path)
    found = entries(zip_directory(tmp_path))
    assert found["bootstrap"].external_attr >> 16 == 0o100755
    assert found["app.py"].external_attr >> 16 == 0o100644
    assert found["bootstrap"].create_system == 3


def test_caches_and_vcs_metadata_are_skipped(tmp_path: Path) -> None:
    build_tree(tmp_path)
    for junk in ("__pycache__/app.cpython-311.pyc", ".git/HEAD", "lib/__pycache__/util.pyc", "stray.pyc"):
        (tmp_path / junk).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / junk).write_bytes(b"junk")
    assert list(entries(zip_directory(tmp_path))) == ["app.py", "bootstrap", "lib/util.py"]


def test_contents_round_trip(tmp_path: Path) -> None:
    build_tree(tmp_path)
    with zipfile.ZipFile(io.BytesIO(zip_directory(tmp_path))) as archive:
        assert archive.read("lib/util.py") == b"X = 1\n"


def test_symlink_loop_is_followed_once(tmp_path: Path) -> None:
    build_tree(tmp_path)
    (tmp_path / "lib" / "again").symlink_to(tmp_path / "lib")
    assert list(entries(zip_directory(tmp_path))) == ["app.py", "bootstrap", "lib/util.py"]


def test_existing_zip_is_sent_unchanged(tmp_path: Path) -> None:
    package = tmp_path / "function.zip"
    package.write_bytes(b"PK\x05\x06" + bytes(18))
    assert load_package(package) == package.read_bytes()


def test_a_plain_file_is_not_a_package(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text("")
    with pytest.raises(PackageError, match=r"neither a directory nor a \.zip file"):
        load_package(tmp_path / "app.py")


def test_code_sha256_is_base64_of_the_digest() -> None:
    assert code_sha256(b"") == "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
