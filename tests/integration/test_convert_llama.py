"""A tiny random Llama with SmolLM2's tokenizer, converted and merged, checked in llama.cpp.

Logits are compared at every position (cosine >= 0.99), not only argmax: a random tiny model
has near-ties. A conversion without the Q/K rotary permutation must score clearly worse.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from srllm.cli import main as cli
from srllm.convert import merge, registry
from srllm.convert.ggufio import GGUFFile
from srllm.convert.verify import compare, llama_logits
from srllm.files import sha256_file
from tests.integration.convert_tiny import build_tiny, build_tiny_llama
from tests.support import write_training_manifest

pytestmark = [
    pytest.mark.filterwarnings("ignore:.*is_gradient_checkpointing.*:FutureWarning"),
    pytest.mark.timeout(300),
]
torch = pytest.importorskip("torch")
llama_cpp = pytest.importorskip("llama_cpp")

PROMPTS = (
    "The quick brown fox jumps over the lazy dog.",
    "Women are too emotional to lead; 37 résumés 🙂 naïve.",
    "<|im_start|>user\nhi there<|im_end|>\n<|im_start|>assistant\n",
)
TRICKY = (
    "hello world",
    "  leading and   inner   spaces ",
    "tabs\tand\nnew\n\nlines",
    "emoji 🙂👍🏽 and 中文字符",
    "accents: café naïve résumé Ærøskøbing",
    "numbers 1234567 and 3.14159",
    "<|im_start|>system\nBe kind.<|im_end|>\n",
    "<|endoftext|>after end",
    "code: def f(x): return x**2  # ok",
    "don't, we'll, they're — “quotes”",
)


@pytest.fixture(scope="session")
def tiny_dir(tmp_path_factory) -> Path:
    return build_tiny_llama(tmp_path_factory.mktemp("tiny") / "tiny-llama", init_range=0.1)


@pytest.fixture(scope="session")
def hf(tiny_dir):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_dir)
    model = AutoModelForCausalLM.from_pretrained(tiny_dir, dtype=torch.float32).eval()
    return tok, model


@pytest.fixture(scope="session")
def ggufs(tiny_dir, tmp_path_factory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("gguf")
    paths = {"f16": out / "tiny-f16.gguf", "q8_0": out / "tiny-q8_0.gguf"}
    assert cli(["convert", str(tiny_dir), "--out", str(paths["f16"])]) == 0
    assert cli(["convert", str(tiny_dir), "--out", str(paths["q8_0"]), "--quant", "q8_0"]) == 0
    return paths


def metadata(path: Path) -> dict:
    return {key: kv.value for key, kv in GGUFFile(path).kv.items()}


def load(path: Path, **kw):
    return llama_cpp.Llama(
        model_path=str(path), n_ctx=256, logits_all=True, n_threads=2, verbose=False, **kw
    )


def worst_cosine(path: Path, tok, model) -> float:
    llm = load(path)
    try:
        scores = []
        for prompt in PROMPTS:
            ids = tok(prompt, add_special_tokens=False)["input_ids"]
            with torch.no_grad():
                ref = model(torch.tensor([ids])).logits[0].numpy()
            scores.append(compare(ref, llama_logits(llm, ids))["min_cosine"])
        return min(scores)
    finally:
        llm.close()


@pytest.mark.parametrize("kind", ["f16", "q8_0"])
def test_llama_cpp_logits_match_transformers(ggufs, hf, kind):
    tok, model = hf
    assert worst_cosine(ggufs[kind], tok, model) >= 0.99


@pytest.mark.parametrize("arch", ["mistral", "qwen2"])
def test_other_registered_architectures_convert_correctly(arch, hf, tmp_path):
    from transformers import AutoModelForCausalLM

    folder = build_tiny(tmp_path / arch, arch)
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32).eval()
    out = tmp_path / f"{arch}.gguf"
    assert cli(["convert", str(folder), "--out", str(out)]) == 0
    assert metadata(out)["general.architecture"] == ("qwen2" if arch == "qwen2" else "llama")
    assert worst_cosine(out, hf[0], model) >= 0.99


def test_quantized_file_is_q8_0_and_smaller(ggufs):
    assert set(GGUFFile(ggufs["q8_0"]).tensor_types()) == {"Q8_0", "F32"}
    assert ggufs["q8_0"].stat().st_size < 0.7 * ggufs["f16"].stat().st_size


def test_conversion_without_qk_permutation_scores_worse(tiny_dir, hf, tmp_path, monkeypatch):
    plain = dataclasses.replace(registry.ARCHITECTURES["LlamaForCausalLM"], permute_qk=False)
    monkeypatch.setitem(registry.ARCHITECTURES, "LlamaForCausalLM", plain)
    out = tmp_path / "noperm.gguf"
    assert cli(["convert", str(tiny_dir), "--out", str(out)]) == 0
    assert worst_cosine(out, *hf) < 0.95


def test_tokenizers_agree_on_tricky_strings(ggufs, hf):
    tok, _ = hf
    llm = llama_cpp.Llama(model_path=str(ggufs["f16"]), vocab_only=True, verbose=False)
    try:
        for text in TRICKY:
            ids = tok(text, add_special_tokens=False)["input_ids"]
            assert llm.tokenize(text.encode(), add_bos=False, special=True) == ids, text
            assert llm.detokenize(ids, special=True).decode() == text
        # The chat template's markers are single control tokens, not split into pieces.
        assert llm.tokenize(b"<|im_start|>", add_bos=False, special=True) == [1]
        assert llm.tokenize(b"<|im_end|>", add_bos=False, special=True) == [2]
        chat = tok.apply_chat_template(
            [{"role": "user", "content": "Is this biased? 🙂"}],
            tokenize=False,
            add_generation_prompt=True,
        )
        ids = tok(chat, add_special_tokens=False)["input_ids"]
        assert llm.tokenize(chat.encode(), add_bos=False, special=True) == ids
        assert llm.detokenize(ids, special=True).decode() == chat
        assert llm.metadata["tokenizer.chat_template"] == tok.chat_template
        assert llm.token_bos() == 1 and llm.token_eos() == 2
    finally:
        llm.close()


def test_plain_convert_metadata_and_manifest(ggufs, tiny_dir):
    fields = metadata(ggufs["f16"])
    assert fields["general.name"] == "tiny-llama"
    assert fields["general.license"] == "unknown"
    assert fields["general.size_label"] == "3.2M"
    assert "srllm.contract" not in fields  # a base conversion is not a project fine-tune
    assert fields["tokenizer.ggml.pre"] == "smollm"
    manifest = json.loads(ggufs["f16"].with_suffix(".json").read_text())
    assert manifest["sha256"] == sha256_file(ggufs["f16"])
    assert manifest["encoding"] == "F16" and manifest["contract"] is None


def test_run_json_marks_a_finetune_and_names_the_file(tiny_dir, tmp_path):
    from srllm.contract import CONTRACT_VERSION

    src = tmp_path / "run-model"
    shutil.copytree(tiny_dir, src)
    # The naming rule only (the trainer's real run.json: tests/integration/test_stage_handoff.py)
    write_training_manifest(src, "HuggingFaceTB/SmolLM2-135M-Instruct")
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    assert cli(["convert", str(src), "--out", str(out_dir), "--license", "apache-2.0"]) == 0
    (out,) = out_dir.glob("*.gguf")
    assert out.name == "SmolLM2-135M-Instruct-3.2M-srllm-F16.gguf"
    fields = metadata(out)
    assert fields["srllm.contract"] == CONTRACT_VERSION
    assert fields["srllm.training_manifest_sha256"] == sha256_file(src / "run.json")
    assert fields["general.base_model.0.organization"] == "HuggingFaceTB"
    assert fields["general.license"] == "apache-2.0"
    assert sorted(p.name for p in out_dir.iterdir()) == sorted(
        [out.name, out.with_suffix(".json").name]
    )


# -- adapter merge -------------------------------------------------------------------------


@pytest.fixture(scope="session")
def peft_model(tiny_dir, tmp_path_factory):
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(1)
    base = AutoModelForCausalLM.from_pretrained(tiny_dir, dtype=torch.float32).eval()
    targets = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
    config = LoraConfig(r=4, lora_alpha=8, target_modules=targets, init_lora_weights=False)
    model = get_peft_model(base, config).eval()
    with torch.no_grad():  # a delta that matters but does not drown the base
        for name, p in model.named_parameters():
            if "lora_" in name:
                p.mul_(0.5)
    folder = tmp_path_factory.mktemp("adapter") / "adapter"
    model.save_pretrained(folder)
    write_training_manifest(folder, str(tiny_dir))
    return model, folder


def merged_cosines(path: Path, tok, model) -> tuple[float, float]:
    """(worst cosine vs base+adapter, worst cosine vs the base alone)."""
    llm = load(path)
    with_adapter, base_only = [], []
    try:
        for prompt in PROMPTS:
            ids = tok(prompt, add_special_tokens=False)["input_ids"]
            got = llama_logits(llm, ids)
            with torch.no_grad():
                with_adapter.append(
                    compare(model(torch.tensor([ids])).logits[0].numpy(), got)["min_cosine"]
                )
                with model.disable_adapter():
                    base_only.append(
                        compare(model(torch.tensor([ids])).logits[0].numpy(), got)["min_cosine"]
                    )
        return min(with_adapter), min(base_only)
    finally:
        llm.close()


@pytest.mark.parametrize("quant", ["f16", "q8_0"])
def test_merged_gguf_matches_peft(ggufs, hf, peft_model, tmp_path, quant):
    model, adapter = peft_model
    out = tmp_path / f"merged-{quant}.gguf"
    args = ["convert", "--base", str(ggufs["f16"]), "--adapter", str(adapter), "--out", str(out)]
    assert cli([*args, "--quant", quant]) == 0
    vs_peft, vs_base = merged_cosines(out, hf[0], model)
    assert vs_peft >= 0.99
    assert vs_base < 0.95  # the adapter really changed the model
    fields = metadata(out)
    assert fields["srllm.contract"].startswith("srllm-contract/")
    assert fields["srllm.training_manifest_sha256"] == sha256_file(adapter / "run.json")
    assert fields["tokenizer.ggml.pre"] == "smollm"  # tokenizer copied from the base
    assert fields["general.base_model.0.name"] == "tiny-llama"


def test_merge_without_delta_permutation_scores_worse(ggufs, hf, peft_model, tmp_path, monkeypatch):
    model, adapter = peft_model
    monkeypatch.setattr(merge, "permute_qk", lambda w, n_head: w)
    out = tmp_path / "merged-noperm.gguf"
    args = ["convert", "--base", str(ggufs["f16"]), "--adapter", str(adapter), "--out", str(out)]
    assert cli([*args, "--quant", "f16"]) == 0
    vs_peft, _ = merged_cosines(out, hf[0], model)
    assert vs_peft < 0.99


def test_verify_flag_reports_agreement(tiny_dir, tmp_path, capsys):
    out = tmp_path / "v.gguf"
    assert cli(["convert", str(tiny_dir), "--out", str(out), "--quant", "q8_0", "--verify"]) == 0
    printed = capsys.readouterr().out
    assert "| prompt | tokens |" in printed and "verify: ok" in printed
    manifest = json.loads(out.with_suffix(".json").read_text())
    assert manifest["verify"]["ok"] and all(r["same_tokens"] for r in manifest["verify"]["rows"])
    assert all(np.isfinite(r["max_abs_diff"]) for r in manifest["verify"]["rows"])
