"""Pure pieces of the convert stage: rotary permutation, naming, config, readers."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
import pytest

from srllm.convert import naming
from srllm.convert.config import ConvertConfig
from srllm.convert.hfmodel import load_f32, read_safetensors_header
from srllm.convert.registry import HParams, llama3_rope_factors, lookup, permute_qk
from srllm.convert.vocab import _pre_tokenizer_name
from srllm.errors import SrllmError


def rope_half(x: np.ndarray, pos: int, base: float = 10000.0) -> np.ndarray:
    """Hugging Face: rotate dims (i, i + d/2) together."""
    d = x.shape[-1]
    theta = pos / base ** (np.arange(d // 2) * 2 / d)
    a, b = x[..., : d // 2], x[..., d // 2 :]
    return np.concatenate(
        [a * np.cos(theta) - b * np.sin(theta), b * np.cos(theta) + a * np.sin(theta)], -1
    )


def rope_pairs(x: np.ndarray, pos: int, base: float = 10000.0) -> np.ndarray:
    """llama.cpp LLAMA rope: rotate adjacent dims (2i, 2i + 1) together."""
    d = x.shape[-1]
    theta = pos / base ** (np.arange(d // 2) * 2 / d)
    a, b = x[..., 0::2], x[..., 1::2]
    out = np.empty_like(x)
    out[..., 0::2] = a * np.cos(theta) - b * np.sin(theta)
    out[..., 1::2] = b * np.cos(theta) + a * np.sin(theta)
    return out


def test_permuted_projections_give_the_same_attention_scores_under_llama_rope():
    rng = np.random.default_rng(0)
    n_head, head_dim, n_in = 3, 8, 12
    wq = rng.normal(size=(n_head * head_dim, n_in))
    wk = rng.normal(size=(n_head * head_dim, n_in))
    x_q, x_k = rng.normal(size=n_in), rng.normal(size=n_in)

    def scores(wq, wk, rope):
        q = (wq @ x_q).reshape(n_head, head_dim)
        k = (wk @ x_k).reshape(n_head, head_dim)
        return (rope(q, 5) * rope(k, 2)).sum(-1)

    hf = scores(wq, wk, rope_half)
    assert np.allclose(scores(permute_qk(wq, n_head), permute_qk(wk, n_head), rope_pairs), hf)
    assert not np.allclose(scores(wq, wk, rope_pairs), hf)  # unpermuted weights are wrong


def test_permutation_keeps_each_head_block_and_is_a_row_permutation():
    w = np.arange(2 * 8 * 3, dtype=np.float32).reshape(16, 3)
    p = permute_qk(w, 2)
    assert sorted(p[:, 0].tolist()) == sorted(w[:, 0].tolist())
    assert set(p[:8, 0].tolist()) == set(w[:8, 0].tolist())
    assert p[1, 0] == w[4, 0]  # dim 1 after permutation pairs with dim 0: was dim d/2


@pytest.mark.parametrize(
    ("pre", "name"),
    [
        ({"type": "ByteLevel", "use_regex": True}, "gpt-2"),
        (
            {
                "type": "Sequence",
                "pretokenizers": [
                    {"type": "Digits", "individual_digits": True},
                    {"type": "ByteLevel"},
                ],
            },
            "smollm",
        ),
        (
            {
                "type": "Sequence",
                "pretokenizers": [
                    {
                        "type": "Split",
                        "pattern": {
                            "Regex": "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?x"  # noqa: E501
                        },
                    },
                    {"type": "ByteLevel", "use_regex": False},
                ],
            },
            "llama-bpe",
        ),
    ],
)
def test_pre_tokenizer_names(pre, name):
    assert _pre_tokenizer_name(pre) == name


def test_unknown_pre_tokenizer_warns_and_falls_back(capsys):
    assert _pre_tokenizer_name({"type": "Whitespace"}) == "default"
    assert "unknown pre-tokenizer" in capsys.readouterr().err


def test_registry_rejects_unknown_architecture_listing_the_known_ones():
    with pytest.raises(SrllmError, match="LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM"):
        lookup({"architectures": ["FalconForCausalLM"]})
    assert lookup({"architectures": ["Qwen2ForCausalLM"]}).permute_qk is False


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"model_dir": Path("m"), "outtype": "f8"}, "outtype"),
        ({"model_dir": Path("m"), "quant": "q9"}, "quant"),
        ({"base": Path("b.gguf")}, "base and adapter"),
        ({}, "either MODEL_DIR"),
        ({"model_dir": Path("m"), "threads": 0}, "threads"),
        (
            {"base": Path("b"), "adapter": Path("a"), "outtype": "f16", "quant": "q8_0"},
            "--outtype or --quant, not both",
        ),
    ],
)
def test_config_validation_names_the_field(kwargs, message):
    with pytest.raises(SrllmError, match=message):
        ConvertConfig(out=Path("o.gguf"), **kwargs)


def test_a_merge_is_stored_as_its_outtype_or_quant_and_q8_0_by_default():
    merge = {"out": Path("o.gguf"), "base": Path("b"), "adapter": Path("a")}
    assert ConvertConfig(**merge).merge_quant == "q8_0"
    assert ConvertConfig(**merge, outtype="bf16").merge_quant == "bf16"
    assert ConvertConfig(**merge, quant="q4_0").merge_quant == "q4_0"
    assert ConvertConfig(out=Path("o.gguf"), model_dir=Path("m")).float_type == "f16"


def test_file_name_follows_the_gguf_convention():
    meta = naming.OutputMeta(
        name="x", basename="SmolLM2", size_label="135M", finetune="srllm", version="v1"
    )
    assert naming.gguf_file_name(meta, "q8_0") == "SmolLM2-135M-srllm-v1-Q8_0.gguf"
    plain = naming.OutputMeta(name="x", basename="my model/x")
    assert naming.gguf_file_name(plain, "f16") == "my-model-x-F16.gguf"


def test_metadata_keys_are_the_ones_the_server_reads():
    engine = pytest.importorskip("srllm.server.engine")
    assert naming.META_CONTRACT == engine.META_CONTRACT
    assert naming.META_MANIFEST_SHA == engine.META_MANIFEST_SHA
    assert naming.META_PROMPT == engine.META_PROMPT


def write_safetensors(path: Path, name: str, dtype: str, shape: list[int], data: bytes) -> None:
    header = json.dumps(
        {name: {"dtype": dtype, "shape": shape, "data_offsets": [0, len(data)]}}
    ).encode()
    path.write_bytes(struct.pack("<Q", len(header)) + header + data)


def test_bf16_safetensors_read_exactly(tmp_path):
    values = np.array([1.0, -2.5, 0.15625, 3.0e38], dtype=np.float32)
    bf16 = (values.view(np.uint32) >> 16).astype(np.uint16)
    write_safetensors(tmp_path / "m.safetensors", "w", "BF16", [2, 2], bf16.tobytes())
    ref = read_safetensors_header(tmp_path / "m.safetensors")["w"]
    got = load_f32(ref)
    assert got.shape == (2, 2) and got.dtype == np.float32
    assert np.array_equal(got.ravel(), (bf16.astype(np.uint32) << 16).view(np.float32))


def test_truncated_safetensors_is_a_clear_error(tmp_path):
    write_safetensors(
        tmp_path / "m.safetensors", "w", "F32", [4], np.ones(4, np.float32).tobytes()[:8]
    )
    with pytest.raises(SrllmError, match="truncated"):
        read_safetensors_header(tmp_path / "m.safetensors")


def test_llama3_rope_factors_span_one_to_factor():
    config = {
        "num_attention_heads": 4,
        "hidden_size": 512,
        "num_hidden_layers": 1,
        "intermediate_size": 8,
    }
    config |= {"vocab_size": 8, "rope_theta": 500000.0}
    config["rope_scaling"] = {
        "rope_type": "llama3",
        "factor": 8.0,
        "low_freq_factor": 1.0,
        "high_freq_factor": 4.0,
        "original_max_position_embeddings": 8192,
    }  # noqa: E501
    factors = llama3_rope_factors(HParams.from_config(config))
    assert factors.shape == (64,)
    assert factors[0] == 1.0 and factors[-1] == 8.0
    assert np.all(np.diff(factors) >= 0)


def test_ggufio_reads_the_embedded_model():
    from srllm.convert.ggufio import GGUFFile
    from srllm.paths import embedded_model

    path = embedded_model()
    if path is None:
        pytest.skip("embedded model not installed")
    f = GGUFFile(path)
    assert f.get("general.architecture") == "llama"
    assert len(f.get("tokenizer.ggml.tokens")) == 49152
    assert f.tensor_types() == {"Q8_0": 1, "F32": 61, "Q4_1": 210}
    q = next(t for t in f.tensors if t.name == "blk.0.attn_q.weight")
    assert f.dequantize(q).shape == (576, 576)


def test_too_little_disk_is_one_clear_error(tmp_path, monkeypatch):
    import shutil

    from srllm.convert import files

    monkeypatch.setattr(shutil, "disk_usage", lambda _: shutil._ntuple_diskusage(10, 10, 5_000_000))
    with pytest.raises(SrllmError, match=r"not enough disk space .* need about 300 MB, 5 MB free"):
        files.check_disk(tmp_path, 300_000_000)
    files.check_disk(tmp_path, 1_000_000)  # enough: no error


def test_temp_path_leaves_nothing_behind_on_error(tmp_path):
    from srllm.files import temp_path

    final = tmp_path / "model.gguf"
    with pytest.raises(KeyboardInterrupt), temp_path(final) as tmp:
        tmp.write_bytes(b"half a model")
        raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []


def test_staged_dir_replaces_a_folder_only_when_the_write_succeeds(tmp_path):
    from srllm.files import staged_dir

    final = tmp_path / "adapter"
    final.mkdir()
    (final / "old.txt").write_text("old")
    with pytest.raises(KeyboardInterrupt), staged_dir(final) as tmp:
        (tmp / "new.txt").write_text("half")
        raise KeyboardInterrupt
    assert [p.name for p in tmp_path.iterdir()] == ["adapter"]
    assert [p.name for p in final.iterdir()] == ["old.txt"]
    with staged_dir(final) as tmp:
        (tmp / "new.txt").write_text("new")
    assert [p.name for p in tmp_path.iterdir()] == ["adapter"]
    assert [p.name for p in final.iterdir()] == ["new.txt"]


def _loads_with_pre_tokenizer(name: str, folder) -> bool:
    """Does the bundled llama.cpp load the embedded model's vocabulary under tokenizer.ggml.pre
    = name? (vocab_only: no tensors needed)."""
    import gguf
    import llama_cpp

    from srllm.convert.ggufio import GGUFFile
    from srllm.paths import embedded_model

    reader = GGUFFile(embedded_model())
    path = folder / f"vocab-{name}.gguf"
    writer = gguf.GGUFWriter(str(path), arch="llama")
    for key, kv in reader.kv.items():
        if not key.startswith(("GGUF.", "general.architecture", "tokenizer.ggml.pre")):
            writer.add_key_value(key, kv.value, kv.vtype, sub_type=kv.sub_type)
    writer.add_tokenizer_pre(name)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    try:
        llama_cpp.Llama(str(path), vocab_only=True, verbose=False).close()
    except ValueError:
        return False
    return True


def test_every_pre_tokenizer_name_the_converter_writes_is_one_llama_cpp_accepts(tmp_path):
    """llama.cpp refuses a GGUF whose tokenizer.ggml.pre it does not know ("gpt2" was one)."""
    import inspect
    import re

    from srllm.convert import vocab

    written = set(re.findall(r'return "([^"]+)"', inspect.getsource(vocab._pre_tokenizer_name)))
    assert written == set(vocab.PRE_TOKENIZER_NAMES)
    for name in vocab.PRE_TOKENIZER_NAMES:
        assert _loads_with_pre_tokenizer(name, tmp_path), name
    assert not _loads_with_pre_tokenizer("gpt2", tmp_path)  # the check can fail
    plain_byte_level = {"type": "ByteLevel", "add_prefix_space": False, "use_regex": True}
    assert vocab._pre_tokenizer_name(plain_byte_level) == "gpt-2"
