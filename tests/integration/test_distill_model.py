"""`srllm distill` on the real fine-tuned default (built from the repo's adapter) and the real
data: the lines it writes are what training reads, and an untuned model is refused."""

import json

import pytest

from srllm import paths
from srllm.training import data, distill
from tests.support import build_default_model, run_srllm

needs_data = pytest.mark.skipif(
    not (paths.data_root() / "extra" / "toxigen").is_dir(), reason="ToxiGen data not present"
)


def srllm(*args, home):
    return run_srllm(*args, home=home, timeout=600)


@needs_data
def test_distill_writes_scored_rewrites_of_training_texts_and_resumes(isolated_home, tmp_path):
    build_default_model(isolated_home)
    model, writer = paths.finetuned_default_model(), paths.default_rewriter_model()
    out = tmp_path / "d.jsonl"
    args = ["distill", "--model", str(model), "--rewriter-model", str(writer), "--out", str(out)]
    args += ["--sources", "toxigen"]  # the shipped pair, as training/distilled/v23.jsonl
    first = srllm(*args, "--limit", "3", home=isolated_home)
    assert first.returncode == 0, first.stderr
    assert f"wrote {out}: 3 texts (0 done before)" in first.stdout
    lines = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [line["done"] for line in lines if "done" in line] == [
        "toxigen:0",
        "toxigen:1",
        "toxigen:2",
    ]
    sentences = [line for line in lines if "rewrite" in line]
    for line in sentences:
        assert line["text"] != line["rewrite"]
        assert 0.0 <= line["p_after"] <= 1.0 and 0.0 <= line["content_kept"] <= 1.0
        assert -1.0 <= line["meaning"] <= 1.0 and isinstance(line["generalises"], bool)
    accepted = [line for line in sentences if distill.accepted(line)]
    if accepted:  # training reads exactly the accepted ones
        assert len(data.distilled_examples(out)) == len(accepted)
    again = srllm(*args, "--limit", "1", home=isolated_home)
    assert again.returncode == 0, again.stderr
    assert "1 texts (3 done before)" in again.stdout


def test_distill_refuses_a_model_that_is_not_fine_tuned(isolated_home, tmp_path):
    out = tmp_path / "d.jsonl"
    args = ["distill", "--model", str(paths.embedded_model()), "--out", str(out)]
    refused = srllm(*args, home=isolated_home)
    assert refused.returncode == 1
    assert "not a fine-tuned srllm model" in refused.stderr
    assert refused.stderr.count("\n") == 1 and not out.exists()
