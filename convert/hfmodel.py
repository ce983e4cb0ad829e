"""Lazy reading of a Hugging Face model folder: config.json and (sharded) safetensors.

Tensors are memory-mapped and read one at a time. The safetensors header is parsed here rather
than through `safetensors.safe_open(framework="numpy")` because numpy has no bfloat16 and most
checkpoints are saved in bf16; the format is a length-prefixed JSON header and raw data.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from srllm.convert.files import read_json
from srllm.errors import Code, SrllmError

_DTYPES = {"F32": np.float32, "F16": np.float16, "BF16": np.uint16, "F64": np.float64}
_MAX_HEADER = 100 << 20


@dataclass(frozen=True)
class TensorRef:
    file: Path
    dtype: str
    shape: tuple[int, ...]
    start: int  # absolute byte offset in the file
    end: int


def read_safetensors_header(path: Path) -> dict[str, TensorRef]:
    """Index one .safetensors file; a truncated or malformed file fails with one line."""
    try:
        size = path.stat().st_size
        with path.open("rb") as fh:
            (n,) = struct.unpack("<Q", fh.read(8))
            if n > _MAX_HEADER or 8 + n > size:
                raise ValueError("bad header length")
            header = json.loads(fh.read(n))
    except (OSError, ValueError, struct.error, UnicodeDecodeError) as exc:
        raise SrllmError(
            Code.CONVERT_FAILED, f"not a readable safetensors file: {path} ({exc})"
        ) from exc
    refs: dict[str, TensorRef] = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        dtype = info.get("dtype")
        if dtype not in _DTYPES:
            raise SrllmError(
                Code.CONVERT_FAILED, f"unsupported tensor dtype {dtype} for {name} in {path}"
            )
        begin, end = info["data_offsets"]
        ref = TensorRef(path, dtype, tuple(info["shape"]), 8 + n + begin, 8 + n + end)
        expected = int(np.prod(ref.shape, dtype=np.int64)) * np.dtype(_DTYPES[dtype]).itemsize
        if ref.end > size or ref.end - ref.start != expected:
            raise SrllmError(
                Code.CONVERT_FAILED,
                f"corrupt or truncated safetensors file: {path} (tensor {name})",
            )
        refs[name] = ref
    return refs


def load_f32(ref: TensorRef) -> np.ndarray:
    """Read one tensor as float32 (bf16 widened exactly by a 16-bit shift)."""
    raw = np.memmap(
        ref.file, dtype=np.uint8, mode="r", offset=ref.start, shape=(ref.end - ref.start,)
    )
    if ref.dtype == "BF16":
        return (raw.view(np.uint16).astype(np.uint32) << 16).view(np.float32).reshape(ref.shape)
    return raw.view(_DTYPES[ref.dtype]).astype(np.float32).reshape(ref.shape)


def index_tensors(folder: Path, stem: str = "model") -> dict[str, TensorRef]:
    """All tensors of `<stem>.safetensors` or of the shards its index names."""
    single = folder / f"{stem}.safetensors"
    index = folder / f"{stem}.safetensors.index.json"
    if index.is_file():
        weight_map = read_json(index, "safetensors index").get("weight_map", {})
        files = sorted(set(weight_map.values()))
    elif single.is_file():
        files = [single.name]
    else:
        has_bin = any(folder.glob("*.bin")) or any(folder.glob("*.pt"))
        hint = (
            " (pytorch .bin checkpoints are not supported: save with safetensors)"
            if has_bin
            else ""
        )
        raise SrllmError(Code.CONVERT_FAILED, f"no {stem}.safetensors in {folder}{hint}")
    refs: dict[str, TensorRef] = {}
    for name in files:
        path = folder / name
        if not path.is_file():
            raise SrllmError(Code.CONVERT_FAILED, f"missing safetensors shard: {path}")
        refs.update(read_safetensors_header(path))
    return refs


def load_config(folder: Path) -> dict:
    if not folder.is_dir():
        raise SrllmError(Code.CONVERT_FAILED, f"model folder not found: {folder}")
    config = read_json(folder / "config.json", "config.json")
    if not config.get("architectures"):
        raise SrllmError(
            Code.CONVERT_FAILED,
            f"config.json has no 'architectures' entry: {folder / 'config.json'}",
        )
    return config


def rope_theta(config: dict, default: float = 10000.0) -> float:
    """transformers 5 moved rope_theta into rope_parameters; older configs keep it at the top."""
    params = config.get("rope_parameters") or {}
    return float(config.get("rope_theta") or params.get("rope_theta") or default)


def rope_scaling(config: dict) -> dict | None:
    scaling = config.get("rope_scaling") or config.get("rope_parameters") or None
    if not scaling or scaling.get("rope_type", scaling.get("type")) in (None, "default"):
        return None
    return scaling
