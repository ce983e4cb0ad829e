"""`srllm eval --limit 3` on the embedded model: the files it writes and the keys they hold."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from srllm.evaluation.scoring import PRIMARY
from srllm.paths import data_root

ROOT = Path(__file__).resolve().parents[2]
# One smoke run: ~25 generations of the 135M model; minutes when the cores are shared.
pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(1800),
    pytest.mark.skipif(not (data_root() / "srllm").is_dir(), reason="SR-LLM data not present"),
]


def srllm(*args: str, home: Path, timeout: float = 1500) -> subprocess.CompletedProcess:
    env = {**os.environ, "SRLLM_HOME": str(home), "HF_HUB_OFFLINE": "1"}
    return subprocess.run(
        [sys.executable, "-m", "srllm", "eval", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory, model_path):
    """One smoke run shared by the checks below (SRLLM_HOME is empty: no fine-tuned model)."""
    home = tmp_path_factory.mktemp("eval-home")
    out = tmp_path_factory.mktemp("eval") / "out"
    result = srllm("--limit", "3", "--out", str(out), "--quiet", home=home)
    assert result.returncode == 0, result.stderr[-3000:]
    return out, result


def test_writes_metrics_table_charts_and_outputs(evaluated):
    out, result = evaluated
    for name in ("metrics.json", "metrics.md", "charts/quality.png", "charts/stereoset.png"):
        assert (out / name).is_file(), name
    assert (out / "charts" / "quality.png").read_bytes()[:4] == b"\x89PNG"
    outputs = list((out / "outputs").glob("*.jsonl"))
    assert len(outputs) == 1
    sections = {json.loads(line)["section"] for line in outputs[0].read_text().splitlines()}
    assert sections == {
        "rewrite", "neutral", "flag", "counterfactual", "injection", "preserve", "passage",
        "group_rewrite",
    }  # fmt: skip
    assert "| human reference |" in result.stdout
    assert not list(out.parent.glob(".out.tmp-*"))  # the temp folder was renamed away


def test_metrics_json_names_every_metric_per_system(evaluated):
    out, _ = evaluated
    manifest = json.loads((out / "metrics.json").read_text())
    assert manifest["limits"]["rewrite_items"] == 3
    assert manifest["limits"]["counterfactual_rows"] == 1
    assert manifest["data"] and manifest["config"]["limit"] == 3
    roles = [s["role"] for s in manifest["systems"]]
    assert roles == ["prompting baseline", "identity", "human reference"]
    baseline, identity, reference = (s["metrics"] for s in manifest["systems"])
    for metrics in (baseline, identity, reference):
        assert set(PRIMARY) <= set(metrics)
    # The model row has a value for every primary metric; the fixed rows only for rewrites.
    assert all(baseline[name] is not None for name in PRIMARY), baseline
    assert baseline["perplexity_ratio"] == pytest.approx(1.0)  # it is the base model
    assert manifest["limits"]["passage_items"] == 3 and manifest["limits"]["preserve_items"] == 3
    for name in ("flag_recall", "flag_specificity", "flag_auc", "passage_flag_accuracy",
                 "passage_neutral_identical", "passage_seconds_p50"):  # fmt: skip
        assert baseline[name] is not None and baseline[name] >= 0, name
    for name in ("residual_bias", "unchanged_biased_rate", "highlight_survival",
                 "preservation_rate", "passage_unchanged_biased"):  # fmt: skip
        assert name in baseline, name
    assert 0 <= baseline["flag_macro_f1"] <= 1 and 0 <= baseline["stereoset_lms"] <= 100
    assert identity["biased_word_removal"] == 0.0 and identity["neutral_unchanged"] == 1.0
    assert identity["meaning_kept"] == pytest.approx(1.0, abs=1e-5)
    assert reference["flag_macro_f1"] is None and reference["reference_chrf"] == pytest.approx(100)


def test_bad_args_fail_in_one_line_and_touch_nothing(tmp_path):
    cases = [
        (["--model", str(tmp_path / "missing.gguf")], "no such model file"),
        (["--out", str(tmp_path)], "out must be"),  # holds other files: never replaced
        (["--data", str(tmp_path / "nowhere")], "srllm data fetch"),
    ]
    (tmp_path / "keep.txt").write_text("not an eval")
    for args, message in cases:
        result = srllm(*args, home=tmp_path, timeout=60)
        assert result.returncode != 0
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("srllm: error:"), result.stderr
        assert message in lines[0]
    result = srllm("--limit", "0", home=tmp_path, timeout=60)
    assert result.returncode == 2 and "positive integer" in result.stderr
    assert "Traceback" not in result.stderr
    assert (tmp_path / "keep.txt").is_file()
