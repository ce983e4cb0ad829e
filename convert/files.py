"""Atomic outputs, disk-space checks and hashes shared by convert and merge."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from convert.errors import ConvertError


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def check_disk(folder: Path, needed_bytes: int) -> None:
    """Fail before writing anything when the output folder cannot hold the result."""
    free = shutil.disk_usage(folder).free
    if free < needed_bytes:
        raise ConvertError(
            f"not enough disk space in {folder}: need about {needed_bytes / 1e6:.0f} MB, "
            f"{free / 1e6:.0f} MB free"
        )


@contextlib.contextmanager
def temp_path(final: Path, suffix: str = ".part") -> Iterator[Path]:
    """A temporary path next to `final`, removed on any error or interrupt."""
    fd, name = tempfile.mkstemp(prefix=f".{final.name}.", suffix=suffix, dir=final.parent)
    os.close(fd)
    path = Path(name)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, 0o666 & ~umask)  # mkstemp makes 0600; outputs get normal permissions
    try:
        yield path
    finally:
        path.unlink(missing_ok=True)


def write_json_atomic(path: Path, data: dict) -> None:
    with temp_path(path, ".json.part") as tmp:
        tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        os.replace(tmp, path)


def read_json(path: Path, what: str) -> dict:
    if not path.is_file():
        raise ConvertError(f"{what} not found: {path}")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConvertError(f"{what} is not valid JSON: {path} ({exc})") from exc
    if not isinstance(data, dict):
        raise ConvertError(f"{what} is not a JSON object: {path}")
    return data
