"""Merge a peft LoRA adapter into a GGUF base without torch.

Each base tensor is dequantized with `gguf` (the embedded SmolLM2 is Q4_1), the adapter's
scale * B @ A is added in GGUF layout (the Q/K rotary permutation applies to the delta too),
and all tensors are streamed as f32 into an intermediate GGUF that llama.cpp then quantizes.
Tokenizer and metadata are copied from the base.
"""

from __future__ import annotations

import math
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import gguf
import numpy as np

from srllm.convert.files import read_json
from srllm.convert.ggufio import GGUFFile
from srllm.convert.hfmodel import TensorRef, index_tensors, load_f32
from srllm.convert.naming import OutputMeta, write_meta
from srllm.convert.registry import permute_qk
from srllm.convert.writer import PlannedTensor, write_gguf
from srllm.errors import Code, SrllmError

_KEY = re.compile(r"^(?:base_model\.model\.)?(?P<module>.+)\.lora_(?P<ab>A|B)(?:\.[^.]+)?\.weight$")
# Keys written fresh for the output; everything else is copied from the base.
_OWN_KEYS = ("GGUF.", "general.", "srllm.")


@dataclass(frozen=True)
class LoraPair:
    module: str  # Hugging Face module path, e.g. model.layers.0.self_attn.q_proj
    a: TensorRef  # (r, in)
    b: TensorRef  # (out, r)
    scale: float


def open_base(path: Path) -> GGUFFile:
    if not path.is_file():
        raise SrllmError(Code.CONVERT_FAILED, f"base model not found: {path}")
    return GGUFFile(path)


def _pattern_value(patterns: dict, module: str, default):
    """peft's rank_pattern / alpha_pattern: keys match the end of the module path."""
    for key, value in (patterns or {}).items():
        if re.search(rf"(^|\.){key}$", module):
            return value
    return default


def load_adapter(folder: Path) -> tuple[dict, list[LoraPair]]:
    if not folder.is_dir():
        raise SrllmError(Code.CONVERT_FAILED, f"adapter folder not found: {folder}")
    config = read_json(folder / "adapter_config.json", "adapter_config.json")
    if config.get("peft_type", "LORA") != "LORA":
        raise SrllmError(
            Code.CONVERT_FAILED, f"only LoRA adapters can be merged, not {config.get('peft_type')}"
        )
    if config.get("use_dora") or config.get("fan_in_fan_out"):
        raise SrllmError(Code.CONVERT_FAILED, "DoRA and fan_in_fan_out adapters are not supported")
    refs = index_tensors(folder, stem="adapter_model")
    halves: dict[str, dict[str, TensorRef]] = {}
    for key, ref in refs.items():
        match = _KEY.match(key)
        if not match:
            raise SrllmError(
                Code.CONVERT_FAILED,
                f"unsupported adapter tensor {key} (only LoRA A/B of linear layers)",
            )
        halves.setdefault(match["module"], {})[match["ab"]] = ref
    pairs = []
    for module, ab in sorted(halves.items()):
        if set(ab) != {"A", "B"}:
            raise SrllmError(Code.CONVERT_FAILED, f"adapter tensor pair incomplete for {module}")
        r = int(
            _pattern_value(config.get("rank_pattern"), module, config.get("r", ab["A"].shape[0]))
        )
        alpha = float(
            _pattern_value(config.get("alpha_pattern"), module, config.get("lora_alpha", r))
        )
        if ab["A"].shape[0] != r or ab["B"].shape[1] != r:
            raise SrllmError(
                Code.CONVERT_FAILED,
                f"adapter rank of {module} does not match r={r} in adapter_config.json",
            )
        scale = alpha / math.sqrt(r) if config.get("use_rslora") else alpha / r
        pairs.append(LoraPair(module, ab["A"], ab["B"], scale))
    if not pairs:
        raise SrllmError(Code.CONVERT_FAILED, f"adapter has no LoRA tensors: {folder}")
    return config, pairs


def _arch(reader: GGUFFile) -> gguf.MODEL_ARCH:
    name = reader.get("general.architecture")
    for arch, arch_name in gguf.MODEL_ARCH_NAMES.items():
        if arch_name == name:
            return arch
    raise SrllmError(Code.CONVERT_FAILED, f"base GGUF has unknown architecture {name!r}")


def check_base_name(config: dict, reader: GGUFFile) -> None:
    """Warn (not fail) when the adapter names another base; shapes are checked strictly later."""
    wanted = re.sub(r"[^a-z0-9.]", "", str(config.get("base_model_name_or_path") or "").lower())
    basename = re.sub(r"[^a-z0-9.]", "", str(reader.get("general.basename") or "").lower())
    size = str(reader.get("general.size_label") or "").lower()
    sizes = re.findall(
        r"(?<![a-z0-9.])\d+(?:\.\d+)?[mb](?![a-z])",
        str(config.get("base_model_name_or_path") or "").lower(),
    )
    if wanted and basename and (basename not in wanted or (sizes and size not in sizes)):
        print(
            f"srllm: warning: adapter was trained on {config['base_model_name_or_path']!r}, "
            f"base is {reader.get('general.name')!r}",
            file=sys.stderr,
        )


_BLOCK = re.compile(r"^blk\.(\d+)\.")


def block_count_key(reader: GGUFFile) -> str:
    return f"{gguf.MODEL_ARCH_NAMES[_arch(reader)]}.block_count"


def kept_blocks(reader: GGUFFile, keep_layers: int) -> int:
    """How many of the base's blocks the merged model keeps: all, or a run's keep_layers
    (training.model.keep_first_layers), which must exist in the base."""
    n_layer = int(reader.get(block_count_key(reader)))
    if not keep_layers:
        return n_layer
    if not 1 <= keep_layers <= n_layer:
        raise SrllmError(
            Code.CONVERT_FAILED,
            f"the adapter was trained on the first {keep_layers} layers; the base has {n_layer}",
        )
    return keep_layers


def plan_merge(
    reader: GGUFFile, pairs: list[LoraPair], keep: int | None = None
) -> tuple[list[PlannedTensor], int]:
    """The merged tensors; with keep (kept_blocks), the blocks after the first `keep` are left
    out (the adapter trained on a model cut there)."""
    arch = _arch(reader)
    arch_name = gguf.MODEL_ARCH_NAMES[arch]
    n_layer = int(reader.get(f"{arch_name}.block_count"))
    keep = n_layer if keep is None else keep
    n_head = int(reader.get(f"{arch_name}.attention.head_count"))
    n_head_kv = int(reader.get(f"{arch_name}.attention.head_count_kv", n_head))
    names = gguf.get_tensor_name_map(arch, n_layer)
    base = {t.name: t for t in reader.tensors}
    deltas: dict[str, LoraPair] = {}
    for pair in pairs:
        name = names.get_name(pair.module + ".weight", try_suffixes=(".weight",))
        if name is None or name not in base:
            raise SrllmError(
                Code.CONVERT_FAILED,
                f"adapter targets {pair.module}, which the base model does not have",
            )
        out_in = base[name].shape
        if (pair.b.shape[0], pair.a.shape[1]) != out_in:
            raise SrllmError(
                Code.CONVERT_FAILED,
                f"adapter does not fit the base: {pair.module} is "
                f"{pair.b.shape[0]}x{pair.a.shape[1]}, base tensor {name} is "
                f"{out_in[0]}x{out_in[1]}",
            )
        deltas[name] = pair
    permute = (
        {"attn_q.weight": n_head, "attn_k.weight": n_head_kv}
        if arch == gguf.MODEL_ARCH.LLAMA
        else {}
    )

    plan = []
    for t in reader.tensors:
        block = _BLOCK.match(t.name)
        if block and int(block.group(1)) >= keep:
            continue
        shape = t.shape
        pair = deltas.get(t.name)
        heads = next((n for suffix, n in permute.items() if t.name.endswith(suffix)), None)

        def load(t=t, shape=shape, pair=pair, heads=heads) -> np.ndarray:
            data = reader.dequantize(t)
            if pair is not None:
                delta = pair.scale * (load_f32(pair.b) @ load_f32(pair.a))
                data = data + (permute_qk(delta, heads) if heads else delta)
            return data

        plan.append(PlannedTensor(t.name, shape, gguf.GGMLQuantizationType.F32, load))
    return plan, len(deltas)


def copy_kv(reader: GGUFFile, writer: gguf.GGUFWriter, skip: tuple[str, ...] = ()) -> None:
    for key, kv in reader.kv.items():
        if not key.startswith(_OWN_KEYS) and key not in skip:
            writer.add_key_value(key, kv.value, kv.vtype, sub_type=kv.sub_type)


def merge_adapter(
    reader: GGUFFile, adapter: Path, out: Path, meta: OutputMeta, keep_layers: int = 0
) -> dict:
    """Write base + adapter as an all-f32 GGUF at `out` (quantize it afterwards); keep_layers:
    the training run's (its run.json config), so a model cut there stays cut."""
    config, pairs = load_adapter(adapter)
    check_base_name(config, reader)
    keep = kept_blocks(reader, keep_layers)
    plan, n_merged = plan_merge(reader, pairs, keep)
    blocks = block_count_key(reader)

    def add_kv(writer: gguf.GGUFWriter) -> None:
        write_meta(writer, meta)
        copy_kv(reader, writer, skip=(blocks,))
        writer.add_uint32(blocks, keep)
        writer.add_file_type(int(gguf.LlamaFileType.ALL_F32))
        writer.add_quantization_version(gguf.GGML_QUANT_VERSION)

    write_gguf(out, str(reader.get("general.architecture")), plan, add_kv, desc="merge")
    return {
        "n_tensors": len(plan),
        "n_merged": n_merged,
        "lora_r": config.get("r"),
        "block_count": keep,
    }


def base_meta(reader: GGUFFile) -> dict:
    keys = ("name", "basename", "size_label", "license", "organization", "finetune", "version")
    return {k: reader.get(f"general.{k}") for k in keys}


def merged_bytes(reader: GGUFFile) -> int:
    return sum(t.n_elements * 4 for t in reader.tensors)
