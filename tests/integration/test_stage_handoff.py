"""The real hand-off between stages: the trainer's own outputs into convert, convert's manifest
into the server's engine. No hand-written run.json stands in for the trainer's."""

import json
import shutil
import subprocess
import sys

import pytest

torch = pytest.importorskip("torch")

from srllm import contract  # noqa: E402
from srllm.files import sha256_file  # noqa: E402
from srllm.manifest import ModelManifest, TrainingManifest  # noqa: E402
from tests.integration.training_tiny import SRLLM_DATA, build_tiny_llama, tiny_overrides  # noqa: E402

pytestmark = [
    pytest.mark.skipif(not SRLLM_DATA.is_dir(), reason="SR-LLM data not present"),
    pytest.mark.timeout(600),
    pytest.mark.filterwarnings("ignore:`is_gradient_checkpointing` is deprecated:FutureWarning"),
]


def srllm(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "srllm", *args], capture_output=True, text=True, timeout=300
    )


def gguf_fields(path) -> dict:
    from srllm.convert.ggufio import GGUFFile

    reader = GGUFFile(path)
    return {key: reader.get(key) for key in reader.kv}


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A real (2-step) training run of the tiny Llama: run.json, adapter/ and merged/."""
    from srllm.training.config import load_config
    from srllm.training.train import run

    base = build_tiny_llama(tmp_path_factory.mktemp("tiny-llama"))
    out = tmp_path_factory.mktemp("run")
    run(load_config(None, tiny_overrides(base, out, max_steps=2, eval_at_start="false")))
    return out


@pytest.fixture(scope="module")
def base_gguf(run_dir, tmp_path_factory):
    """The tiny base, converted: the GGUF an adapter is merged into."""
    config = json.loads((run_dir / "run.json").read_text())["config"]
    out = tmp_path_factory.mktemp("base") / "base.gguf"
    proc = srllm("convert", config["base_model"], "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    return out


def test_the_trainer_writes_one_typed_manifest_into_every_output(run_dir):
    manifests = [run_dir / "run.json", run_dir / "adapter" / "run.json"]
    manifests.append(run_dir / "merged" / "run.json")
    texts = {path.read_text() for path in manifests}
    assert len(texts) == 1  # the same record in each place
    manifest = TrainingManifest.read(manifests[0])
    assert manifest.contract_version == contract.CONTRACT_VERSION
    assert manifest.metrics["steps"] == 2
    assert manifest.data_summary()["files"] == ["train_500.csv"]


def test_converting_the_merged_folder_marks_a_finetune(run_dir, tmp_path):
    proc = srllm("convert", str(run_dir / "merged"), "--out", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    assert "srllm fine-tune" in proc.stdout
    (out,) = tmp_path.glob("*.gguf")
    fields = gguf_fields(out)
    assert fields["srllm.contract"] == contract.CONTRACT_VERSION
    run_json = run_dir / "merged" / "run.json"
    assert fields["srllm.training_manifest_sha256"] == sha256_file(run_json)
    manifest = ModelManifest.for_model(out)
    assert manifest is not None and manifest.finetuned
    assert manifest.training["sha256"] == sha256_file(run_json)
    assert manifest.training["data"]["files"] == ["train_500.csv"]


def test_a_plain_model_is_not_a_finetune(base_gguf):
    assert "srllm.contract" not in gguf_fields(base_gguf)
    manifest = ModelManifest.for_model(base_gguf)
    assert manifest is not None and not manifest.finetuned and manifest.training is None


def test_merging_the_trainers_adapter_marks_a_finetune(run_dir, base_gguf, tmp_path):
    out = tmp_path / "merged.gguf"
    proc = srllm("convert", "--base", str(base_gguf), "--adapter", str(run_dir / "adapter"),
                 "--out", str(out))  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert gguf_fields(out)["srllm.contract"] == contract.CONTRACT_VERSION
    assert ModelManifest.for_model(out).training["base_model"] == str(
        json.loads((run_dir / "run.json").read_text())["config"]["base_model"]
    )


def test_an_adapter_without_run_json_is_not_marked_finetuned(run_dir, base_gguf, tmp_path):
    adapter = tmp_path / "adapter"
    shutil.copytree(run_dir / "adapter", adapter)
    (adapter / "run.json").unlink()
    out = tmp_path / "merged.gguf"
    proc = srllm("convert", "--base", str(base_gguf), "--adapter", str(adapter), "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    assert "not marked as a srllm fine-tune" in proc.stderr
    assert "srllm.contract" not in gguf_fields(out)
    assert not ModelManifest.for_model(out).finetuned


def test_a_run_json_that_is_not_the_trainers_is_one_line_and_exit_1(run_dir, base_gguf, tmp_path):
    adapter = tmp_path / "adapter"
    shutil.copytree(run_dir / "adapter", adapter)
    (adapter / "run.json").write_text(json.dumps({"base_model": "someone/else"}))
    proc = srllm("convert", "--base", str(base_gguf), "--adapter", str(adapter),
                 "--out", str(tmp_path / "x.gguf"))  # fmt: skip
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [
        f"srllm: error: training manifest {adapter / 'run.json'}: missing field 'contract_version'"
    ]
    assert not (tmp_path / "x.gguf").exists()


def test_the_engine_reports_which_run_and_data_made_the_model(run_dir, tmp_path):
    from srllm.server.engine import Engine, EngineConfig

    proc = srllm("convert", str(run_dir / "merged"), "--out", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    (out,) = tmp_path.glob("*.gguf")
    engine = Engine(EngineConfig(model_path=out, n_ctx=512, n_threads=2))
    try:
        assert engine.info.finetuned
        assert engine.info.training["sha256"] == sha256_file(run_dir / "merged" / "run.json")
        assert engine.info.training["data"]["files"] == ["train_500.csv"]
    finally:
        engine.close()


@pytest.fixture(scope="module")
def cut_run_dir(tmp_path_factory):
    """A real (2-step) run of the tiny Llama cut to its first layer, on flag verdicts only and
    the scan's own prompt: the recipe of the scan's model (training/configs/v34-*.toml)."""
    from srllm.training.config import load_config
    from srllm.training.train import run

    base = build_tiny_llama(tmp_path_factory.mktemp("tiny-llama-cut"))
    out = tmp_path_factory.mktemp("cut-run")
    overrides = tiny_overrides(base, out, max_steps=2, eval_at_start="false", keep_layers=1,
                               verdict_only="true", scan_prompt="true",
                               tasks='["flag"]')  # fmt: skip
    run(load_config(None, overrides))
    return out


def first_logits(path, prompt_ids: list[int]):
    import numpy as np
    from llama_cpp import Llama

    llm = Llama(model_path=str(path), n_ctx=64, n_threads=2, logits_all=True, verbose=False)
    try:
        llm.eval(prompt_ids)
        return np.array(llm.scores[llm.n_tokens - 1], dtype=np.float32)
    finally:
        llm.close()


def test_a_cut_model_stays_cut_through_both_conversions(cut_run_dir, base_gguf, tmp_path):
    import numpy as np

    config = json.loads((cut_run_dir / "run.json").read_text())["config"]
    assert (config["keep_layers"], config["verdict_only"]) == (1, True)
    merged_cfg = json.loads((cut_run_dir / "merged" / "config.json").read_text())
    assert merged_cfg["num_hidden_layers"] == 1
    from_folder, from_adapter = tmp_path / "folder.gguf", tmp_path / "adapter.gguf"
    proc = srllm("convert", str(cut_run_dir / "merged"), "--out", str(from_folder))
    assert proc.returncode == 0, proc.stderr
    proc = srllm("convert", "--base", str(base_gguf), "--adapter", str(cut_run_dir / "adapter"),
                 "--out", str(from_adapter), "--quant", "f16")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    from srllm.convert.ggufio import GGUFFile

    for out in (from_folder, from_adapter):
        assert gguf_fields(out)["llama.block_count"] == 1
        assert gguf_fields(out)["srllm.prompt"] == contract.PROMPT_SCAN
        blocks = {t.name.split(".")[1] for t in GGUFFile(out).tensors if t.name.startswith("blk.")}
        assert blocks == {"0"}
    assert gguf_fields(base_gguf)["llama.block_count"] == 2
    ids = [5, 17, 42, 7, 99, 3]
    a, b = (first_logits(p, ids) for p in (from_folder, from_adapter))
    cosine = float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))
    assert cosine >= 0.99  # the GGUF merge makes the model the trainer merged


def test_a_scan_prompt_model_scores_on_its_own_prompt_and_never_flags(cut_run_dir, tmp_path):
    """The engine reads a scan scorer at the end of contract.scan_prompt (batched and one by
    one alike) and refuses it where flags or rewrites are generated."""
    from srllm.errors import Code, SrllmError
    from srllm.server.engine import Engine, EngineConfig

    out = tmp_path / "scan.gguf"
    proc = srllm("convert", str(cut_run_dir / "merged"), "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    with pytest.raises(SrllmError) as refused:
        Engine(EngineConfig(out, n_ctx=256, n_threads=2))
    assert refused.value.code is Code.MODEL_LOAD_FAILED and "--scan-model" in str(refused.value)
    cli = srllm("flag", "--model", str(out), "--threads", "2", "Old people are slow.")
    assert cli.returncode == 1 and "Traceback" not in cli.stderr
    assert cli.stderr.strip().splitlines()[-1] == f"srllm: error: {refused.value}"
    engine = Engine(EngineConfig(out, n_ctx=256, n_threads=2), scorer=True)
    try:
        tokens = engine._scored_tokens("Old  people\nare slow.")
        text = engine._llm.detokenize(tokens).decode()
        assert text.endswith(contract.SCAN_INSTRUCTION + "Old people are slow.\n")
        texts = ["Old people are slow.", "The bus is late.", "Women are bad at maths."]
        batched = engine.label_probabilities_many(texts)
        for text, b in zip(texts, batched, strict=True):
            single = engine.label_probabilities(text)
            assert b == pytest.approx(single, abs=1e-6), text
        assert batched[0] != batched[1]  # each text read, not one constant
    finally:
        engine.close()


def test_a_cut_merge_needs_the_layers_it_keeps(cut_run_dir, base_gguf, tmp_path):
    adapter = tmp_path / "adapter"
    shutil.copytree(cut_run_dir / "adapter", adapter)
    run_json = json.loads((adapter / "run.json").read_text())
    run_json["config"]["keep_layers"] = 5
    (adapter / "run.json").write_text(json.dumps(run_json))
    out = tmp_path / "x.gguf"
    proc = srllm("convert", "--base", str(base_gguf), "--adapter", str(adapter), "--out", str(out))
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines()[-1] == (  # after a warning on the bases' names
        "srllm: error: the adapter was trained on the first 5 layers; the base has 2"
    )
    assert not out.exists() and not list(tmp_path.glob("*.gguf*"))
