"""Deployment packages: a directory zipped deterministically, or a zip taken as it is.

The same tree always gives the same bytes (sorted entries, fixed timestamps, normalised modes), so its CodeSha256
is stable and a redeploy of unchanged code can be recognised. Modes keep one fact, the executable bit, because a
custom runtime's `bootstrap` must stay executable on the server.
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import stat
import zipfile
from collections.abc import Iterator
from pathlib import Path

# Never wanted in a function package: caches, VCS metadata, and a local `nimbus serve` data dir.
SKIPPED_DIRS = frozenset({"__pycache__", ".git", ".nimbus"})
SKIPPED_SUFFIXES = (".pyc",)
# The earliest time a zip can record; any fixed value works, this one reads as "no time".
FIXED_TIME = (1980, 1, 1, 0, 0, 0)
EXECUTABLE = 0o755
REGULAR = 0o644
UNIX = 3  # ZipInfo.create_system: external_attr holds a Unix mode


class PackageError(ValueError):
    """PATH is neither a directory nor a zip file."""


def load_package(path: Path) -> bytes:
    if path.is_dir():
        return zip_directory(path)
    if path.is_file() and path.suffix.lower() == ".zip":
        return path.read_bytes()
    raise PackageError(f"{path} is neither a directory nor a .zip file")


def zip_directory(root: Path) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in package_files(root):
            archive.writestr(_entry(root, path), path.read_bytes())
    return buffer.getvalue()


def package_files(root: Path) -> Iterator[Path]:
    """Regular files under `root` (symlinks followed), in a stable order, minus the skipped ones."""
    seen: set[str] = set()
    for directory, dirnames, filenames in os.walk(root, followlinks=True):
        # A symlinked directory is followed once: a link back up the tree would otherwise never end.
        real = os.path.realpath(directory)
        if real in seen:
            dirnames[:] = []
            continue
        seen.add(real)
        dirnames[:] = sorted(d for d in dirnames if d not in SKIPPED_DIRS)
        for name in sorted(filenames):
            path = Path(directory, name)
            if not name.endswith(SKIPPED_SUFFIXES) and path.is_file():
                yield path


def code_sha256(package: bytes) -> str:
    """The package's CodeSha256 as Lambda reports it: base64 of the SHA-256 digest."""
    return base64.b64encode(hashlib.sha256(package).digest()).decode()


def _entry(root: Path, path: Path) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(path.relative_to(root).as_posix(), date_time=FIXED_TIME)
    info.create_system = UNIX
    mode = EXECUTABLE if path.stat().st_mode & (stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH) else REGULAR
    info.external_attr = (stat.S_IFREG | mode) << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    return info
