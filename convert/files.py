"""Disk-space checks and JSON inputs of convert (hashes and atomic writes: srllm.files)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from srllm.errors import Code, SrllmError


def check_disk(folder: Path, needed_bytes: int) -> None:
    """Fail before writing anything when the output folder cannot hold the result."""
    free = shutil.disk_usage(folder).free
    if free < needed_bytes:
        raise SrllmError(
            Code.CONVERT_FAILED,
            f"not enough disk space in {folder}: need about {needed_bytes / 1e6:.0f} MB, "
            f"{free / 1e6:.0f} MB free",
        )


def read_json(path: Path, what: str) -> dict:
    if not path.is_file():
        raise SrllmError(Code.CONVERT_FAILED, f"{what} not found: {path}")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SrllmError(Code.CONVERT_FAILED, f"{what} is not valid JSON: {path} ({exc})") from exc
    if not isinstance(data, dict):
        raise SrllmError(Code.CONVERT_FAILED, f"{what} is not a JSON object: {path}")
    return data
