"""The shipped pipeline end to end: the repo's adapter merged into the embedded GGUF by
`srllm build-model`, then `srllm serve` with no model flag runs it and says it is fine-tuned."""

import hashlib
import json
from pathlib import Path

import pytest

from srllm import contract, paths
from tests.support import build_default_model, running_server

ADAPTER = Path(__file__).resolve().parents[2] / "training" / "adapters" / "default"
REWRITER = ADAPTER.parent / "rewriter"
SCAN = ADAPTER.parent / "scan"


@pytest.mark.parametrize("adapter", [ADAPTER, REWRITER, SCAN])
def test_repo_adapters_are_small_and_documented(adapter):
    if adapter != ADAPTER and not (adapter / "adapter_config.json").is_file():
        pytest.skip(f"the repo has no {adapter.name} adapter: the default does that work itself")
    weights = adapter / "adapter_model.safetensors"
    assert weights.stat().st_size < 20 * 2**20
    run = json.loads((adapter / "run.json").read_text())
    assert run["contract_version"] == contract.CONTRACT_VERSION
    # A soup (training.soup) trained nothing itself: each ingredient's run recorded its loss.
    runs = (
        [i["metrics"] for i in run["config"]["soup"]]
        if "soup" in run["config"]
        else [run["metrics"]]
    )
    assert all(r["val_loss"] for r in runs), "a run recorded no validation loss"
    assert json.loads((adapter / "calibration.json").read_text())["release"]


def test_build_model_then_serve_runs_the_finetuned_default(isolated_home):
    build_default_model(isolated_home)
    model = paths.finetuned_default_model()
    assert model is not None and model.suffix == ".gguf"
    manifest = json.loads(model.with_suffix(".json").read_text())
    run_sha = hashlib.sha256((ADAPTER / "run.json").read_bytes()).hexdigest()
    assert manifest["training"]["sha256"] == run_sha

    # No --model: the resolution order decides.
    with running_server(isolated_home) as server, server.client() as c:
        health = c.get("/health").json()
        assert health["model"]["finetuned"] is True
        assert health["model"]["contract"] == contract.CONTRACT_VERSION
        assert Path(health["model"]["path"]) == model
        if (REWRITER / "adapter_config.json").is_file():  # the repo's rewriter writes rewrites
            rewriter = paths.default_rewriter_model()
            assert rewriter is not None
            assert health["model"]["rewriter"]["path"] == str(rewriter)
            assert health["model"]["rewriter"]["finetuned"] is True
        else:
            assert health["model"]["rewriter"] is None
        flag = c.post("/v1/flag", json={"text": "Old people cannot learn anything."})
        assert flag.status_code == 200 and flag.json()["label"] in contract.LABELS
        scanned = c.post("/v1/scan", json={"text": "Old people cannot learn anything."}).json()
    assert "fine-tuned: yes" in server.log_text()
    if not (SCAN / "adapter_config.json").is_file():
        assert health["model"]["scan"] is None and scanned["model"] == health["model"]["name"]
        return
    check_the_scan_model(health["model"], scanned)


def check_the_scan_model(model: dict, scanned: dict) -> None:
    """The repo's scan adapter built as a cut model beside the default: /health names it, and
    /v1/scan reads its scores at its own calibrated threshold (the card's stay the default's)."""
    from srllm.convert.ggufio import GGUFFile
    from srllm.server.engine import Engine, EngineConfig

    cut = paths.default_scan_model()
    assert cut is not None and model["scan"]["path"] == str(cut)
    run = json.loads((SCAN / "run.json").read_text())
    assert GGUFFile(cut).get("llama.block_count") == run["config"]["keep_layers"] < 30
    threshold = json.loads((SCAN / "calibration.json").read_text())["threshold"]
    assert model["scan"]["flag_threshold"] == pytest.approx(threshold, abs=1e-6)
    assert scanned["model"] == model["scan"]["name"] != model["name"]
    assert scanned["thresholds"]["biased"] == pytest.approx(threshold, abs=1e-4)
    engine = Engine(EngineConfig(model_path=cut, n_threads=2), scorer=True)
    try:
        p = engine.label_probabilities("Old people cannot learn anything.")
    finally:
        engine.close()
    score = scanned["sentences"][0]["score"]
    assert score == pytest.approx(1 - p[contract.Label.NEUTRAL], abs=1e-4)


def test_the_first_serve_builds_and_serves_the_finetuned_default_and_rebuilds_when_stale(
    isolated_home,
):
    """A fresh clone's first `srllm serve` (no --model, nothing built) merges the committed
    adapter itself; the model it serves carries the adapter's calibrated threshold and a name
    a user recognises. A changed adapter makes the built model stale: the next start rebuilds."""
    calibration = json.loads((ADAPTER / "calibration.json").read_text())
    assert paths.finetuned_default_model() is None
    with running_server(isolated_home, timeout=300) as server, server.client() as c:
        health = c.get("/health").json()["model"]
    assert "building the fine-tuned default model" in server.log_text()
    assert health["finetuned"] is True
    assert health["flag_threshold"] == pytest.approx(calibration["threshold"], abs=1e-6)
    assert health["name"] == f"SmolLM2-135M-Instruct, srllm fine-tune {calibration['release']}"
    if (REWRITER / "adapter_config.json").is_file():  # built beside it, and it writes rewrites
        release = json.loads((REWRITER / "calibration.json").read_text())["release"]
        assert "building the fine-tuned default rewriter" in server.log_text()
        assert health["rewriter"]["name"] == f"SmolLM2-135M-Instruct, srllm fine-tune {release}"
        assert "; rewrites by SmolLM2-135M-Instruct, srllm fine-tune" in server.log_text()
    if (SCAN / "adapter_config.json").is_file():  # the cut scan model, named as cut
        release = json.loads((SCAN / "calibration.json").read_text())["release"]
        config = json.loads((SCAN / "run.json").read_text())["config"]
        scorer = ", a scan scorer" if config.get("scan_prompt") else ""
        assert "building the fine-tuned default scan model" in server.log_text()
        assert health["scan"]["name"] == (
            f"SmolLM2-135M-Instruct, srllm fine-tune {release}, "
            f"its first {config['keep_layers']} layers{scorer}"
        )
        assert "; scans by SmolLM2-135M-Instruct, srllm fine-tune" in server.log_text()

    from srllm.convert.build import STAMP

    with running_server(isolated_home, timeout=300) as again:  # current: no rebuild
        pass
    assert "building" not in again.log_text()
    (paths.default_model_dir() / STAMP).write_text("an older adapter\n")
    with running_server(isolated_home, timeout=300) as stale:
        pass
    assert "building the fine-tuned default model" in stale.log_text()
    assert "building the fine-tuned default rewriter" not in stale.log_text()  # still current
