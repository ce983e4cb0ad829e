import json
import subprocess
import sys

import numpy as np
import pytest

safetensors_numpy = pytest.importorskip("safetensors.numpy")

from srllm.convert.hfmodel import load_f32  # noqa: E402
from srllm.convert.merge import load_adapter  # noqa: E402
from srllm.errors import SrllmError  # noqa: E402
from srllm.manifest import TrainingManifest  # noqa: E402
from srllm.training.soup import make_soup, parse_weights  # noqa: E402
from tests.support import write_training_manifest  # noqa: E402

MODULES = ("model.layers.0.self_attn.q_proj", "model.layers.0.mlp.down_proj")
SHAPES = {MODULES[0]: (6, 6), MODULES[1]: (6, 10)}  # (out, in)


def fake_adapter(folder, seed, r, alpha, modules=MODULES, extra_sources=(), rank_pattern=None):
    """A peft-shaped LoRA adapter with random A and B, and a run.json."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True)
    tensors = {}
    for module in modules:
        out, inp = SHAPES[module]
        rank = (rank_pattern or {}).get(module, r)
        tensors[f"base_model.model.{module}.lora_A.weight"] = rng.normal(size=(rank, inp))
        tensors[f"base_model.model.{module}.lora_B.weight"] = rng.normal(size=(out, rank))
    safetensors_numpy.save_file(
        {k: v.astype(np.float16) for k, v in tensors.items()},
        str(folder / "adapter_model.safetensors"),
    )
    config = {
        "peft_type": "LORA",
        "r": r,
        "lora_alpha": alpha,
        "base_model_name_or_path": "HuggingFaceTB/SmolLM2-135M-Instruct",
        "target_modules": ["q_proj", "down_proj"],
        "rank_pattern": rank_pattern or {},
    }
    (folder / "adapter_config.json").write_text(json.dumps(config))
    write_training_manifest(folder, "embedded")
    if extra_sources:  # the trainer's config names its data
        path = folder / "run.json"
        data = json.loads(path.read_text())
        data["config"] = {"extra_sources": list(extra_sources), "seed": seed}
        path.write_text(json.dumps(data))
    return folder


def deltas(folder):
    """{module: scale * B @ A} as the GGUF merge computes it."""
    _, pairs = load_adapter(folder)
    return {p.module: p.scale * (load_f32(p.b) @ load_f32(p.a)) for p in pairs}


def test_the_soup_adds_the_weighted_mean_of_the_updates_as_one_lora(tmp_path):
    one = fake_adapter(tmp_path / "one", 1, r=4, alpha=8, extra_sources=["toxigen:10"])
    two = fake_adapter(tmp_path / "two", 2, r=2, alpha=2, extra_sources=["wnc:5", "toxigen:10"])
    out = make_soup([one, two], tmp_path / "soup", [0.75, 0.25])
    got, d1, d2 = deltas(out), deltas(one), deltas(two)
    assert set(got) == set(MODULES)
    for module in MODULES:
        want = 0.75 * d1[module] + 0.25 * d2[module]
        # fp16 storage of the stacked factors: a relative error of about 1e-3
        assert np.allclose(got[module], want, rtol=0, atol=2e-3 * np.abs(want).max())
    config = json.loads((out / "adapter_config.json").read_text())
    assert config["r"] == 6 and config["lora_alpha"] == 6
    manifest = TrainingManifest.read(out / "run.json")
    assert [i["weight"] for i in manifest.config["soup"]] == [0.75, 0.25]
    assert [i["adapter"] for i in manifest.config["soup"]] == [str(one), str(two)]
    assert manifest.data_summary()["extra_sources"] == ["toxigen:10", "wnc:5"]
    assert manifest.outputs["adapter_bytes"] == (out / "adapter_model.safetensors").stat().st_size
    assert not (tmp_path / "soup.tmp").exists()


def test_ingredients_with_per_layer_ranks_make_a_soup_with_per_layer_ranks(tmp_path):
    one = fake_adapter(tmp_path / "one", 1, r=4, alpha=8, rank_pattern={MODULES[1]: 2})
    two = fake_adapter(tmp_path / "two", 2, r=4, alpha=8)
    out = make_soup([one, two], tmp_path / "soup")
    config = json.loads((out / "adapter_config.json").read_text())
    assert config["r"] == 8 and config["rank_pattern"] == {MODULES[1]: 6}
    got, d1, d2 = deltas(out), deltas(one), deltas(two)
    for module in MODULES:
        want = 0.5 * d1[module] + 0.5 * d2[module]
        assert np.allclose(got[module], want, rtol=0, atol=2e-3 * np.abs(want).max())


def test_equal_weights_by_default_and_weights_are_normalised():
    assert parse_weights(None, 4) == [0.25] * 4
    assert parse_weights("3,1", 2) == [0.75, 0.25]


@pytest.mark.parametrize(
    ("text", "words"),
    [("1", "1 numbers for 2"), ("a,b", "numbers separated"), ("1,-1", "> 0"), ("1,nan", "> 0")],
)
def test_bad_weights_are_one_clear_error(text, words):
    with pytest.raises(SrllmError) as err:
        parse_weights(text, 2)
    assert words in err.value.message


def test_adapters_of_other_layers_or_without_run_json_are_refused(tmp_path):
    one = fake_adapter(tmp_path / "one", 1, r=2, alpha=4)
    other = fake_adapter(tmp_path / "other", 2, r=2, alpha=4, modules=MODULES[:1])
    with pytest.raises(SrllmError, match="different layers"):
        make_soup([one, other], tmp_path / "soup")
    bare = fake_adapter(tmp_path / "bare", 3, r=2, alpha=4)
    (bare / "run.json").unlink()
    with pytest.raises(SrllmError, match="no run.json"):
        make_soup([one, bare], tmp_path / "soup")
    with pytest.raises(SrllmError, match="at least two"):
        make_soup([one], tmp_path / "soup")
    with pytest.raises(SrllmError, match="adapter folder not found"):
        make_soup([one, tmp_path / "nowhere"], tmp_path / "soup")
    assert not (tmp_path / "soup").exists() and not (tmp_path / "soup.tmp").exists()


def test_the_cli_writes_the_soup_or_exits_with_one_line(tmp_path):
    one = fake_adapter(tmp_path / "one", 1, r=2, alpha=4)
    two = fake_adapter(tmp_path / "two", 2, r=2, alpha=4)
    cmd = [sys.executable, "-m", "srllm", "soup", "--adapter", str(one), "--adapter", str(two)]
    done = subprocess.run([*cmd, "--out", str(tmp_path / "s")], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "rank 4" in done.stdout and (tmp_path / "s" / "adapter_model.safetensors").is_file()
    bad = subprocess.run(
        [*cmd, "--weights", "1", "--out", str(tmp_path / "t")], capture_output=True, text=True
    )
    assert bad.returncode == 1
    assert bad.stderr.strip().splitlines() == [
        "srllm: error: --weights has 1 numbers for 2 adapters"
    ]
    assert not (tmp_path / "t").exists()
    (tmp_path / "file").write_text("mine")
    onto_file = subprocess.run(
        [*cmd, "--out", str(tmp_path / "file")], capture_output=True, text=True
    )
    assert onto_file.returncode == 1
    assert (
        onto_file.stderr.strip()
        == f"srllm: error: {tmp_path / 'file'} is a file, not a folder: choose another path"
    )
    assert (tmp_path / "file").read_text() == "mine" and not (tmp_path / "file.tmp").exists()
