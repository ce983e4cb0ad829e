"""Files every stage writes or checks the same way: sha256, and atomic writes (a temp file
beside the target, then os.replace), so no reader ever sees half a file."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from srllm.errors import Code, SrllmError


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


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


def write_bytes_atomic(path: Path, data: bytes, mode: int | None = None) -> None:
    """`data` as the whole of `path` (its folder created), with `mode` when given."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with temp_path(path) as tmp:
        tmp.write_bytes(data)
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, path)


@contextlib.contextmanager
def staged_dir(final: Path) -> Iterator[Path]:
    """A fresh folder beside `final` to fill; it replaces `final` only when the block succeeds,
    so a failed or interrupted write leaves the old folder (or none), never half a new one."""
    if final.exists() and not final.is_dir():
        raise SrllmError(Code.BAD_INPUT, f"{final} is a file, not a folder: choose another path")
    tmp = final.with_name(final.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    shutil.rmtree(final, ignore_errors=True)
    tmp.rename(final)
