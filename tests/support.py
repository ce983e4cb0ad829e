"""Test helpers: the real server (server.launch) and the fine-tuned default built into a home."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from srllm.server.launch import TOKEN, RunningServer, free_port, running_server

__all__ = [
    "TOKEN", "RunningServer", "build_default_model", "free_port", "run_srllm", "running_server",
]  # fmt: skip


def run_srllm(
    *args: str, home: Path | None = None, input: str | None = None, timeout: float = 300
) -> subprocess.CompletedProcess:
    """`srllm ARGS` as a user runs it, with SRLLM_HOME at `home` when given."""
    env = {**os.environ} if home is None else {**os.environ, "SRLLM_HOME": str(home)}
    return subprocess.run(
        [sys.executable, "-m", "srllm", *args],
        capture_output=True, text=True, input=input, env=env, timeout=timeout,
    )  # fmt: skip


def build_default_model(home: Path) -> None:
    """`srllm build-model` into `home`: the repo's adapter merged into the embedded GGUF."""
    built = subprocess.run(
        [sys.executable, "-m", "srllm", "build-model"],
        capture_output=True,
        text=True,
        env={**os.environ, "SRLLM_HOME": str(home)},
        timeout=600,
    )
    assert built.returncode == 0, built.stderr


def write_training_manifest(folder: Path, base_model: str) -> Path:
    """A run.json of the trainer's typed shape, for tests of what convert does with one (the
    real trainer's own hand-off is tests/integration/test_stage_handoff.py)."""
    from srllm.contract import CONTRACT_VERSION
    from srllm.manifest import TrainingManifest

    manifest = TrainingManifest(
        contract_version=CONTRACT_VERSION,
        base_model={"base_model": base_model},
        config={}, data={}, metrics={}, outputs={}, git={}, device={},
        wall_time_s=0.0, created="2026-12-02T00:00:00Z",
    )  # fmt: skip
    return manifest.write(folder)[0]
