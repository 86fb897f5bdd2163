"""The content-addressed code store: each deployment package once on disk, keyed by its SHA-256.

Layout under the data dir: code/<hex>.zip (the package as uploaded, served back as Code.Location) and
code/<hex>/ (its extracted tree, read by execution environments). Writes go through a temporary name and a
rename, so a crash never leaves a half-written package under its final name.
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import shutil
import stat
import tempfile
import zipfile
from pathlib import Path

from nimbus.domain.functions import CodeRef
from nimbus.errors import InvalidParameterValue

# AWS: the unzipped size of a function and its layers is at most 250 MB.
MAX_UNZIPPED_BYTES = 262_144_000
# AWS: a zip uploaded directly (not through S3) is at most 50 MB.
MAX_ZIPPED_BYTES = 52_428_800


def code_ref_for(package: bytes) -> CodeRef:
    digest = hashlib.sha256(package).digest()
    return CodeRef(sha256_hex=digest.hex(), code_sha256=base64.b64encode(digest).decode(), size=len(package))


def check_zip(package: bytes) -> zipfile.ZipFile:
    """Open a package as AWS would, with AWS's messages for what it refuses."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(package))
        infos = archive.infolist()
    except (zipfile.BadZipFile, ValueError, EOFError) as exc:
        raise InvalidParameterValue(
            "Could not unzip uploaded file. Please check your file, then try to upload again."
        ) from exc
    if sum(info.file_size for info in infos) > MAX_UNZIPPED_BYTES:
        raise InvalidParameterValue(f"Unzipped size must be smaller than {MAX_UNZIPPED_BYTES} bytes")
    return archive


class CodeStore:
    def __init__(self, root: Path) -> None:
        self._root = root
        root.mkdir(parents=True, exist_ok=True)

    def put(self, package: bytes) -> CodeRef:
        """Store a package (idempotent) and return its reference. Raises InvalidParameterValue for a bad zip."""
        archive = check_zip(package)
        ref = code_ref_for(package)
        target = self.zip_path(ref)
        if not target.exists():
            _atomic_write(target, package)
        self._extract(archive, ref)
        return ref

    def zip_path(self, ref: CodeRef) -> Path:
        return self._root / f"{ref.sha256_hex}.zip"

    def tree(self, ref: CodeRef) -> Path:
        return self._root / ref.sha256_hex

    def read(self, sha256_hex: str) -> bytes | None:
        if not _is_hex_digest(sha256_hex):
            return None
        path = self._root / f"{sha256_hex}.zip"
        return path.read_bytes() if path.exists() else None

    def _extract(self, archive: zipfile.ZipFile, ref: CodeRef) -> None:
        target = self.tree(ref)
        if target.exists():
            return
        staging = Path(tempfile.mkdtemp(dir=self._root, prefix=".extract-"))
        try:
            for info in archive.infolist():
                extracted = Path(archive.extract(info, staging))
                _apply_zip_mode(info, extracted)
            os.rename(staging, target)
        except OSError:
            shutil.rmtree(staging, ignore_errors=True)
            if not target.exists():
                raise


def _apply_zip_mode(info: zipfile.ZipInfo, path: Path) -> None:
    # zipfile drops Unix permissions; a custom runtime's `bootstrap` must stay executable.
    mode = (info.external_attr >> 16) & 0o777
    if mode and not path.is_symlink():
        path.chmod(mode | stat.S_IRUSR | (stat.S_IWUSR if path.is_dir() else 0))


def _atomic_write(target: Path, data: bytes) -> None:
    fd, temp = tempfile.mkstemp(dir=target.parent, prefix=".upload-")
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temp, target)


def _is_hex_digest(value: str) -> bool:
    return len(value) == 64 and all(c in "0123456789abcdef" for c in value)
