"""Hugging Face safetensors -> GGUF, one tensor at a time.

Tensor infos are declared first, then the header, metadata and tensor table are written, then
each tensor is read, renamed, permuted, cast and written before the next is touched: memory
stays near the largest single tensor.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import gguf
import numpy as np
from tqdm import tqdm

from srllm.convert.hfmodel import TensorRef, index_tensors, load_config, load_f32
from srllm.convert.naming import OutputMeta, write_meta
from srllm.convert.registry import (
    Architecture,
    HParams,
    llama3_rope_factors,
    lookup,
    permute_qk,
    write_hparams,
)
from srllm.convert.vocab import load_vocab, write_vocab
from srllm.errors import Code, SrllmError

OUTTYPES = {
    "f32": (gguf.GGMLQuantizationType.F32, gguf.LlamaFileType.ALL_F32),
    "f16": (gguf.GGMLQuantizationType.F16, gguf.LlamaFileType.MOSTLY_F16),
    "bf16": (gguf.GGMLQuantizationType.BF16, gguf.LlamaFileType.MOSTLY_BF16),
}
_SKIP = ("rotary_emb.inv_freq",)


@dataclass(frozen=True)
class PlannedTensor:
    name: str  # GGUF name
    shape: tuple[int, ...]
    qtype: gguf.GGMLQuantizationType
    load: Callable[[], np.ndarray]  # float32 data in Hugging Face layout, permuted as needed

    @property
    def nbytes(self) -> int:
        n = int(np.prod(self.shape, dtype=np.int64))
        return n * (4 if self.qtype == gguf.GGMLQuantizationType.F32 else 2)


def encode(data: np.ndarray, qtype: gguf.GGMLQuantizationType) -> np.ndarray:
    if qtype == gguf.GGMLQuantizationType.F32:
        return np.ascontiguousarray(data, dtype=np.float32)
    if qtype == gguf.GGMLQuantizationType.F16:
        return np.ascontiguousarray(data, dtype=np.float16)
    return gguf.quants.quantize(np.ascontiguousarray(data, dtype=np.float32), qtype)


def write_gguf(
    path: Path,
    arch_name: str,
    tensors: list[PlannedTensor],
    add_kv: Callable[[gguf.GGUFWriter], None],
    desc: str = "tensors",
) -> None:
    """Stream `tensors` into a new GGUF at `path`; add_kv writes every metadata key."""
    logging.getLogger("gguf").setLevel(logging.WARNING)  # its INFO lines drown the progress bar
    writer = gguf.GGUFWriter(path=None, arch=arch_name)
    add_kv(writer)
    for t in tensors:
        # Declared as float16 so the writer keeps the logical shape for raw (bf16) data.
        writer.add_tensor_info(t.name, t.shape, np.dtype(np.float16), t.nbytes, raw_dtype=t.qtype)
    try:
        writer.write_header_to_file(path)
        writer.write_kv_data_to_file()
        writer.write_ti_data_to_file()
        for t in tqdm(tensors, desc=desc, unit="tensor", leave=False):
            data = t.load()
            if tuple(data.shape) != tuple(t.shape):
                raise SrllmError(
                    Code.CONVERT_FAILED,
                    f"tensor {t.name} has shape {data.shape}, expected {t.shape}",
                )
            writer.write_tensor_data(encode(data, t.qtype))
    finally:
        writer.close()


def _plan_hf(
    arch: Architecture, hp: HParams, refs: dict[str, TensorRef], qtype
) -> list[PlannedTensor]:
    names = gguf.get_tensor_name_map(arch.arch, hp.n_layer)
    plan: list[PlannedTensor] = []
    for hf_name, ref in refs.items():
        if hf_name.endswith(_SKIP):
            continue
        if hf_name == "lm_head.weight" and hp.tie_embeddings:
            continue  # llama.cpp reuses token_embd when output.weight is absent
        name = names.get_name(hf_name, try_suffixes=(".weight", ".bias"))
        if name is None:
            raise SrllmError(
                Code.CONVERT_FAILED,
                f"cannot map tensor {hf_name} to a GGUF name for {arch.hf_name}",
            )
        n_head = None
        if arch.permute_qk and name.endswith(("attn_q.weight", "attn_q.bias")):
            n_head = hp.n_head
        elif arch.permute_qk and name.endswith(("attn_k.weight", "attn_k.bias")):
            n_head = hp.n_head_kv

        def load(ref: TensorRef = ref, n_head: int | None = n_head) -> np.ndarray:
            data = load_f32(ref)
            return permute_qk(data, n_head) if n_head else data

        t_type = qtype if len(ref.shape) > 1 else gguf.GGMLQuantizationType.F32
        plan.append(PlannedTensor(name, ref.shape, t_type, load))
    factors = llama3_rope_factors(hp)
    if factors is not None:
        plan.append(
            PlannedTensor(
                "rope_freqs.weight", factors.shape, gguf.GGMLQuantizationType.F32, lambda: factors
            )
        )
    return plan


def convert_hf(folder: Path, out: Path, outtype: str, meta: OutputMeta) -> dict:
    """Write `folder` (a Hugging Face causal LM) as a GGUF of `outtype` to `out`."""
    config = load_config(folder)
    arch = lookup(config)
    hp = HParams.from_config(config)
    refs = index_tensors(folder)
    vocab = load_vocab(folder, hp.n_vocab)
    qtype, ftype = OUTTYPES[outtype]
    plan = _plan_hf(arch, hp, refs, qtype)

    def add_kv(writer: gguf.GGUFWriter) -> None:
        write_meta(writer, meta)
        write_hparams(writer, hp)
        writer.add_file_type(int(ftype))
        writer.add_quantization_version(gguf.GGML_QUANT_VERSION)
        write_vocab(writer, folder, vocab)

    write_gguf(out, arch.gguf_name, plan, add_kv, desc="convert")
    return {"architecture": arch.hf_name, "n_tensors": len(plan), "n_params": param_count(refs)}


def param_count(refs: dict[str, TensorRef]) -> int:
    return sum(int(np.prod(r.shape, dtype=np.int64)) for r in refs.values())


def planned_bytes(folder: Path, outtype: str) -> int:
    """Upper bound of the output size, for the disk check before writing."""
    per = 4 if outtype == "f32" else 2
    return sum(int(np.prod(r.shape, dtype=np.int64)) * per for r in index_tensors(folder).values())
