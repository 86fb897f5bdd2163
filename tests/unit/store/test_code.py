"""The content-addressed code store: CodeSha256 as AWS reports it, AWS's zip refusals, extraction."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

import pytest

from nimbus.errors import InvalidParameterValue
from nimbus.store.code import CodeStore, code_ref_for
from tests.support import make_zip


def test_code_sha256_is_base64_of_the_sha256_digest() -> None:
    package = make_zip({"app.py": "x = 1\n"})
    ref = code_ref_for(package)
    assert ref.code_sha256 == base64.b64encode(hashlib.sha256(package).digest()).decode()
    assert ref.sha256_hex == hashlib.sha256(package).hexdigest()
    assert ref.size == len(package)


def test_put_stores_the_zip_and_its_tree(tmp_path: Path) -> None:
    store = CodeStore(tmp_path)
    package = make_zip({"app.py": "x = 1\n", "lib/util.py": "y = 2\n"})
    ref = store.put(package)
    assert store.read(ref.sha256_hex) == package
    assert (store.tree(ref) / "lib" / "util.py").read_text() == "y = 2\n"
    assert store.put(package) == ref


def test_executable_bits_survive_extraction(tmp_path: Path) -> None:
    store = CodeStore(tmp_path)
    ref = store.put(make_zip({"bootstrap": "#!/bin/sh\n"}, modes={"bootstrap": 0o755}))
    assert (store.tree(ref) / "bootstrap").stat().st_mode & 0o111


def test_a_file_that_is_not_a_zip_could_not_be_unzipped(tmp_path: Path) -> None:
    with pytest.raises(InvalidParameterValue) as caught:
        CodeStore(tmp_path).put(b"not a zip")
    assert caught.value.message == "Could not unzip uploaded file. Please check your file, then try to upload again."


def test_read_refuses_names_that_are_not_digests(tmp_path: Path) -> None:
    assert CodeStore(tmp_path).read("../../etc/passwd") is None
