"""`srllm convert` / `build-model` as a user runs them: bad input -> one line, non-zero, no file."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import save_file

from srllm.convert.build import STAMP, adapter_digest
from srllm.files import sha256_file
from srllm.paths import default_model_dir, default_rewriter_dir, embedded_model
from tests.support import write_training_manifest

pytestmark = pytest.mark.timeout(300)


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "convert", *args], capture_output=True, text=True, timeout=240
    )


def assert_one_line_error(proc: subprocess.CompletedProcess, *needles: str) -> None:
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode != 0
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("srllm: error: ")
    for needle in needles:
        assert needle in lines[0]


def write_adapter(folder: Path, dim_in: int, dim_out: int, r: int = 2) -> Path:
    folder.mkdir(parents=True)
    config = {"peft_type": "LORA", "r": r, "lora_alpha": 2 * r, "target_modules": ["q_proj"]}
    config["base_model_name_or_path"] = "HuggingFaceTB/SmolLM2-135M-Instruct"
    (folder / "adapter_config.json").write_text(json.dumps(config))
    rng = np.random.default_rng(0)
    prefix = "base_model.model.model.layers.0.self_attn.q_proj"
    tensors = {
        f"{prefix}.lora_A.weight": rng.normal(0, 0.02, (r, dim_in)).astype(np.float32),
        f"{prefix}.lora_B.weight": rng.normal(0, 0.02, (dim_out, r)).astype(np.float32),
    }
    save_file(tensors, str(folder / "adapter_model.safetensors"))
    write_training_manifest(folder, config["base_model_name_or_path"])
    return folder


@pytest.fixture
def out_dir(tmp_path) -> Path:
    folder = tmp_path / "out"
    folder.mkdir()
    return folder


def test_missing_model_dir(tmp_path, out_dir):
    proc = run_cli("convert", str(tmp_path / "nope"), "--out", str(out_dir / "m.gguf"))
    assert_one_line_error(proc, "model folder not found")
    assert list(out_dir.iterdir()) == []


def test_unsupported_architecture_lists_supported(tmp_path, out_dir):
    model = tmp_path / "gpt2"
    model.mkdir()
    (model / "config.json").write_text(json.dumps({"architectures": ["GPT2LMHeadModel"]}))
    proc = run_cli("convert", str(model), "--out", str(out_dir / "m.gguf"))
    assert_one_line_error(proc, "GPT2LMHeadModel", "LlamaForCausalLM", "MistralForCausalLM")
    assert "Qwen2ForCausalLM" in proc.stderr
    assert list(out_dir.iterdir()) == []


def test_truncated_safetensors(tmp_path, out_dir):
    model = tmp_path / "broken"
    model.mkdir()
    config = {"architectures": ["LlamaForCausalLM"], "num_attention_heads": 4, "hidden_size": 64}
    config |= {"num_hidden_layers": 1, "intermediate_size": 128, "vocab_size": 32}
    (model / "config.json").write_text(json.dumps(config))
    weights = {"model.embed_tokens.weight": np.zeros((32, 64), np.float32)}
    save_file(weights, str(model / "model.safetensors"))
    data = (model / "model.safetensors").read_bytes()
    (model / "model.safetensors").write_bytes(data[: len(data) // 2])
    proc = run_cli("convert", str(model), "--out", str(out_dir / "m.gguf"))
    assert_one_line_error(proc, "truncated")
    assert list(out_dir.iterdir()) == []


def test_base_that_is_not_a_gguf(tmp_path, out_dir):
    base = tmp_path / "base.gguf"
    base.write_text("definitely not a model")
    adapter = write_adapter(tmp_path / "adapter", 576, 576)
    proc = run_cli(
        "convert", "--base", str(base), "--adapter", str(adapter), "--out", str(out_dir / "m.gguf")
    )
    assert_one_line_error(proc, "not a GGUF file")
    assert list(out_dir.iterdir()) == []


def test_adapter_that_does_not_fit_the_base(tmp_path, out_dir):
    adapter = write_adapter(tmp_path / "adapter", 64, 64)  # a 64-wide model, base is 576
    args = [
        "--base",
        str(embedded_model()),
        "--adapter",
        str(adapter),
        "--out",
        str(out_dir / "m.gguf"),
    ]
    proc = run_cli("convert", *args)
    assert_one_line_error(proc, "does not fit the base", "576")
    assert list(out_dir.iterdir()) == []


def test_model_dir_and_base_together_is_a_usage_error(tmp_path, out_dir):
    proc = run_cli(
        "convert",
        str(tmp_path),
        "--base",
        "b.gguf",
        "--adapter",
        "a",
        "--out",
        str(out_dir / "m.gguf"),
    )
    assert_one_line_error(proc, "either MODEL_DIR or --base")
    assert proc.returncode == 1


def test_build_model_without_adapter_fails_clearly(tmp_path):
    proc = run_cli("build-model", "--adapter", str(tmp_path / "missing"))
    assert_one_line_error(proc, "no adapter at", "train one first")
    assert not default_model_dir().exists() or not list(default_model_dir().glob("*.gguf"))


def test_build_model_replaces_the_default_model(tmp_path):
    """The embedded SmolLM2 + a small adapter -> exactly one GGUF and its manifest, twice."""
    adapter = write_adapter(tmp_path / "adapter", 576, 576)
    default_rewriter_dir().mkdir(parents=True)  # a rewriter built with an earlier default
    (default_rewriter_dir() / "old-Q8_0.gguf").write_bytes(b"GGUF")
    for quant in ("q8_0", "q4_0"):
        proc = run_cli("build-model", "--adapter", str(adapter), "--quant", quant)
        assert proc.returncode == 0, proc.stderr
        files = sorted(p.name for p in default_model_dir().iterdir() if p.name != STAMP)
        assert len(files) == 2 and files[0].endswith(f"-{quant.upper()}.gguf"), files
        assert (default_model_dir() / STAMP).read_text().strip() == adapter_digest(adapter)
        assert files[1] == files[0].removesuffix(".gguf") + ".json"
    manifest = json.loads((default_model_dir() / files[1]).read_text())
    assert manifest["contract"] and manifest["stats"]["n_merged"] == 1
    assert manifest["training"]["sha256"] == sha256_file(adapter / "run.json")
    assert not list(default_rewriter_dir().iterdir())  # another adapter serves alone
