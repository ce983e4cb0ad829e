"""A small, fast GGUF reader: metadata, tensor table and memory-mapped tensor data.

`gguf.GGUFReader` builds a numpy view per array element (SmolLM2 has ~100k tokens and merges),
which costs seconds per open; this reads the same header in a fraction of that and maps tensor
data lazily, so a merge touches one tensor at a time.
"""

from __future__ import annotations

import mmap
import struct
from dataclasses import dataclass
from pathlib import Path

import gguf
import numpy as np

from srllm.errors import Code, SrllmError

T = gguf.GGUFValueType
_SCALARS = {
    T.UINT8: "<B", T.INT8: "<b", T.UINT16: "<H", T.INT16: "<h", T.UINT32: "<I", T.INT32: "<i",
    T.FLOAT32: "<f", T.BOOL: "<?", T.UINT64: "<Q", T.INT64: "<q", T.FLOAT64: "<d",
}  # fmt: skip
_NP = {T.UINT8: "<u1", T.INT8: "<i1", T.UINT16: "<u2", T.INT16: "<i2", T.UINT32: "<u4",
       T.INT32: "<i4", T.FLOAT32: "<f4", T.BOOL: "?", T.UINT64: "<u8", T.INT64: "<i8",
       T.FLOAT64: "<f8"}  # fmt: skip


@dataclass(frozen=True)
class KV:
    vtype: gguf.GGUFValueType
    sub_type: gguf.GGUFValueType | None
    value: object


@dataclass(frozen=True)
class TensorInfo:
    name: str
    shape: tuple[int, ...]  # numpy order (rows first): the reverse of GGUF's ne list
    qtype: gguf.GGMLQuantizationType
    offset: int  # absolute byte offset of the data in the file

    @property
    def n_elements(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    @property
    def nbytes(self) -> int:
        block, size = gguf.GGML_QUANT_SIZES[self.qtype]
        return self.n_elements // block * size


class _Cursor:
    def __init__(self, buf: mmap.mmap):
        self.buf, self.pos = buf, 0

    def unpack(self, fmt: str):
        value = struct.unpack_from(fmt, self.buf, self.pos)[0]
        self.pos += struct.calcsize(fmt)
        return value

    def string(self) -> str:
        n = self.unpack("<Q")
        self.pos += n
        return bytes(self.buf[self.pos - n : self.pos]).decode("utf-8", errors="surrogateescape")

    def value(self, vtype: gguf.GGUFValueType):
        if vtype == T.STRING:
            return self.string()
        return self.unpack(_SCALARS[vtype])

    def array(self) -> tuple[gguf.GGUFValueType, list]:
        sub, n = T(self.unpack("<I")), self.unpack("<Q")
        if sub in _NP:
            arr = np.frombuffer(self.buf, dtype=_NP[sub], count=n, offset=self.pos)
            self.pos += arr.nbytes
            return sub, arr.tolist()
        return sub, [self.value(sub) for _ in range(n)]


class GGUFFile:
    """Open a GGUF: `kv`, `tensors` and `data(tensor)`; errors become one SrllmError line."""

    def __init__(self, path: Path):
        self.path = path
        if not path.is_file():
            raise SrllmError(Code.CONVERT_FAILED, f"GGUF file not found: {path}")
        with path.open("rb") as fh:
            if fh.read(4) != b"GGUF":
                raise SrllmError(Code.CONVERT_FAILED, f"not a GGUF file (bad magic): {path}")
            self._map = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
        try:
            self._parse()
        except (struct.error, ValueError, KeyError, UnicodeDecodeError) as exc:
            raise SrllmError(Code.CONVERT_FAILED, f"corrupt GGUF file: {path} ({exc})") from exc

    def _parse(self) -> None:
        cur = _Cursor(self._map)
        cur.pos = 4
        version, n_tensors, n_kv = cur.unpack("<I"), cur.unpack("<Q"), cur.unpack("<Q")
        if version < 2:
            raise ValueError(f"GGUF version {version} is too old")
        self.kv: dict[str, KV] = {}
        for _ in range(n_kv):
            key, vtype = cur.string(), T(cur.unpack("<I"))
            if vtype == T.ARRAY:
                sub, items = cur.array()
                self.kv[key] = KV(vtype, sub, items)
            else:
                self.kv[key] = KV(vtype, None, cur.value(vtype))
        infos = []
        for _ in range(n_tensors):
            name, n_dims = cur.string(), cur.unpack("<I")
            dims = [cur.unpack("<Q") for _ in range(n_dims)]
            qtype, offset = gguf.GGMLQuantizationType(cur.unpack("<I")), cur.unpack("<Q")
            infos.append((name, tuple(reversed(dims)), qtype, offset))
        align = int(self.get("general.alignment", 32))
        start = (cur.pos + align - 1) // align * align
        self.tensors = [TensorInfo(n, s, q, start + o) for n, s, q, o in infos]
        for t in self.tensors:
            if t.offset + t.nbytes > len(self._map):
                raise ValueError(f"tensor {t.name} runs past the end of the file (truncated?)")

    def get(self, key: str, default=None):
        kv = self.kv.get(key)
        return default if kv is None else kv.value

    def raw(self, t: TensorInfo) -> np.ndarray:
        """The tensor's bytes as stored, shaped (rows, bytes per row) for gguf.quants."""
        data = np.frombuffer(self._map, dtype=np.uint8, count=t.nbytes, offset=t.offset)
        return data.reshape(*t.shape[:-1], -1)

    def dequantize(self, t: TensorInfo) -> np.ndarray:
        return gguf.quants.dequantize(self.raw(t), t.qtype).reshape(t.shape).astype(np.float32)

    def tensor_types(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for t in self.tensors:
            counts[t.qtype.name] = counts.get(t.qtype.name, 0) + 1
        return counts
