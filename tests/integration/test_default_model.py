"""The shipped pipeline end to end: the repo's adapter merged into the embedded GGUF by
`srllm build-model`, then `srllm serve` with no model flag runs it and says it is fine-tuned."""

import hashlib
import json
from pathlib import Path

import httpx

from server import contract, paths
from tests.support import build_default_model, running_server

ADAPTER = Path(__file__).resolve().parents[2] / "training" / "adapters" / "default"


def test_repo_adapter_is_small_and_documented():
    weights = ADAPTER / "adapter_model.safetensors"
    assert weights.stat().st_size < 20 * 2**20
    run = json.loads((ADAPTER / "run.json").read_text())
    assert run["contract_version"] == contract.CONTRACT_VERSION
    assert run["metrics"]["val_loss"], "the run recorded no validation loss"


def test_build_model_then_serve_runs_the_finetuned_default(isolated_home):
    build_default_model(isolated_home)
    model = paths.finetuned_default_model()
    assert model is not None and model.suffix == ".gguf"
    manifest = json.loads(model.with_suffix(".json").read_text())
    run_sha = hashlib.sha256((ADAPTER / "run.json").read_bytes()).hexdigest()
    assert manifest["training_manifest_sha256"] == run_sha

    with running_server(isolated_home) as server:  # no --model: the resolution order decides
        health = httpx.get(f"{server.url}/health").json()
        assert health["model"]["finetuned"] is True
        assert health["model"]["contract"] == contract.CONTRACT_VERSION
        assert Path(health["model"]["path"]) == model
        with server.client() as c:
            flag = c.post("/v1/flag", json={"text": "Old people cannot learn anything."})
            assert flag.status_code == 200 and flag.json()["label"] in contract.LABELS
    assert "fine-tuned: yes" in server.log_text()
