"""A flagger and a rewriter, two real GGUFs in one engine (EngineConfig.rewriter_path): the
verdicts and words are the flagger's own, the rewrites the rewriter's own, token for token."""

import json

import pytest

from srllm.server.engine import Engine, EngineConfig
from tests.support import run_srllm

pytestmark = pytest.mark.timeout(600)

TEXTS = ["Old people are slow and useless with technology.", "The meeting starts at noon."]


def test_each_task_runs_on_its_own_model(model_path, finetuned_model):
    pair = Engine(EngineConfig(model_path=model_path, rewriter_path=finetuned_model, n_threads=2))
    flagger = Engine(EngineConfig(model_path=model_path, n_threads=2))
    writer = Engine(EngineConfig(model_path=finetuned_model, n_threads=2))
    try:
        assert pair.info.path == str(model_path) and writer.info.rewriter is None
        assert (
            pair.info.rewriter["path"] == str(finetuned_model) and pair.info.rewriter["finetuned"]
        )
        assert pair.info.flag_threshold == flagger.info.flag_threshold
        for text in TEXTS:
            probs = pair.label_probabilities(text)
            assert probs == flagger.label_probabilities(text)
            assert probs != writer.label_probabilities(text)  # two models, not one twice
            for avoid in (None, ["slow", "useless"]):
                got = "".join(pair.stream_rewrite(text, avoid=avoid))
                assert got == "".join(writer.stream_rewrite(text, avoid=avoid))
            assert pair.rewrite_budget(text) == writer.rewrite_budget(text)
        # The flagger's context is untouched by the rewrites between two scorings.
        assert pair.label_probabilities(TEXTS[0]) == flagger.label_probabilities(TEXTS[0])
    finally:
        for engine in (pair, flagger, writer):
            engine.close()


def test_the_cli_takes_a_rewriter_model_and_refuses_a_missing_one(
    tmp_path, model_path, finetuned_model
):
    text = "Old people are slow and useless with technology."
    args = ("debias", text, "--json", "--threads", "2", "--model", str(model_path))
    paired = run_srllm(*args, "--rewriter-model", str(finetuned_model), home=tmp_path)
    untuned = run_srllm(*args, home=tmp_path)
    assert paired.returncode == 0 and untuned.returncode == 0, paired.stderr + untuned.stderr
    paired, untuned = json.loads(paired.stdout), json.loads(untuned.stdout)
    assert paired["flag"] == untuned["flag"]  # the flagger's verdict and words
    missing = run_srllm(*args, "--rewriter-model", str(tmp_path / "nope.gguf"), home=tmp_path)
    lines = missing.stderr.strip().splitlines()
    assert missing.returncode != 0 and len(lines) == 1, missing.stderr
    assert lines[0].startswith("srllm: error: model file not found")
