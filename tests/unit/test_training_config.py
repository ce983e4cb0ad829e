import subprocess
import sys

import pytest

from srllm.errors import SrllmError
from srllm.training.config import LLAMA_LINEAR, TrainConfig, load_config, shipped_configs


def test_every_shipped_config_loads_validates_and_starts_with_its_run_command():
    paths = shipped_configs()
    assert {p.stem for p in paths} >= {"default", "gpu", "tiny"}
    for path in paths:
        cfg = load_config(path)
        assert isinstance(cfg, TrainConfig)
        first = path.read_text().splitlines()[0]
        assert first.startswith("#"), path
        assert "srllm train --config training/configs/" + path.name in path.read_text()
        if cfg.distilled() is not None:  # the distilled rewrites it trains on are committed
            assert cfg.distilled().is_file(), path


def test_default_config_stays_a_small_standard_lora_adapter():
    cfg = load_config(next(p for p in shipped_configs() if p.stem == "default"))
    assert set(cfg.target_modules) <= set(LLAMA_LINEAR)
    # SmolLM2-135M: 30 blocks, hidden 576, MLP 1536, k/v 192 wide.
    shapes = {
        "q_proj": (576, 576),
        "k_proj": (576, 192),
        "v_proj": (576, 192),
        "o_proj": (576, 576),
        "gate_proj": (576, 1536),
        "up_proj": (576, 1536),
        "down_proj": (1536, 576),
    }
    params = 30 * sum(
        cfg.lora_r * (i + o) for name, (i, o) in shapes.items() if name in cfg.target_modules
    )
    bytes_per = {"fp16": 2, "bf16": 2, "fp32": 4}[cfg.adapter_dtype]
    assert params * bytes_per < 20_000_000
    # The SR-LLM-only ablation differs from the default in its data and loss weights only.
    ablation = load_config(next(p for p in shipped_configs() if p.stem == "srllm-only"))
    assert ablation.extra_sources == () and ablation.label_weight == 1.0
    assert "toxigen:1600" in cfg.extra_sources and cfg.label_weight > 1.0
    assert cfg.init_adapter == "training/adapters/v4"  # v5 continued from v4
    assert cfg.edit_weight > 1.0 and ablation.edit_weight == 1.0
    same = ("base_model", "lora_r", "lora_alpha", "target_modules", "max_len")
    assert all(getattr(cfg, name) == getattr(ablation, name) for name in same)


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ("lora_r=0", "lora_r"),
        ("lora_dropout=1.5", "lora_dropout"),
        ("precision=fp8", "precision"),
        ("val_fraction=0.9", "val_fraction"),
        ("epochs=two", "epochs"),
        ("extra_sources=[wikipedia]", "extra_sources"),
        ("train_file=infer_50.csv", "train_file"),
        ("nonsense=1", "nonsense"),
        ("label_weight=0.5", "label_weight"),
        ("edit_weight=200", "edit_weight"),
        ("merge=1", "merge"),
        ("verdict_only=true", "verdict_only"),  # the default trains rewrites too
        ("keep_layers=-1", "keep_layers"),
        ("scan_prompt=true", "scan_prompt"),  # a scorer's prompt needs verdicts only
    ],
)
def test_a_bad_value_fails_with_a_message_naming_the_field(override, field):
    with pytest.raises(SrllmError, match=repr(field)):
        load_config(None, [override])


def test_the_scan_model_config_cuts_the_model_and_fits_the_adapter_budget():
    cfg = load_config(next(p for p in shipped_configs() if p.stem.startswith("v31-scan")))
    assert cfg.verdict_only and cfg.tasks == ("flag",) and 0 < cfg.keep_layers < 30
    widths = 2 * 576 + 2 * (576 + 192) + 3 * (576 + 1536)  # one layer's seven LoRA pairs
    assert cfg.keep_layers * cfg.lora_r * widths * 2 < 20_000_000  # fp16
    assert load_config(None, ['tasks=["flag"]', "verdict_only=true"]).verdict_only
    scan = load_config(None, ['tasks=["flag"]', "verdict_only=true", "scan_prompt=true"])
    assert scan.scan_prompt and not load_config(None, []).scan_prompt


def test_overrides_take_toml_values_and_bare_lists(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('lr = 1e-3\ntarget_modules = ["q_proj"]\n')
    cfg = load_config(path, ["lr=5e-4", "target_modules=[k_proj,v_proj]", "merge=false"])
    assert cfg.lr == 5e-4
    assert cfg.target_modules == ("k_proj", "v_proj")
    assert cfg.merge is False


def test_a_bad_toml_file_names_the_file(tmp_path):
    path = tmp_path / "broken.toml"
    path.write_text("lr = = 1\n")
    with pytest.raises(SrllmError, match="broken.toml"):
        load_config(path)


def test_the_cli_reports_a_bad_config_in_one_line_without_a_traceback():
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "training",
            "train",
            "--config",
            "training/configs/tiny.toml",
            "lora_alpha=-3",
        ],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 1
    assert "srllm: error:" in out.stderr and "'lora_alpha'" in out.stderr
    assert "Traceback" not in out.stderr


def test_importing_training_and_its_cli_stays_light():
    code = (
        "import sys, argparse, srllm.training.cli, srllm.training.config, srllm.training.data;"
        "p = argparse.ArgumentParser(); srllm.training.cli.register(p.add_subparsers());"
        "print(','.join(m for m in ('torch', 'transformers', 'peft') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
