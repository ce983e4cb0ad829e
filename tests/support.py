"""Test helpers: the real server (server.launch) and the fine-tuned default built into a home."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from server.launch import TOKEN, RunningServer, free_port, running_server

__all__ = ["TOKEN", "RunningServer", "build_default_model", "free_port", "running_server"]


def build_default_model(home: Path) -> None:
    """`srllm build-model` into `home`: the repo's adapter merged into the embedded GGUF."""
    built = subprocess.run(
        [sys.executable, "-m", "server", "build-model"],
        capture_output=True,
        text=True,
        env={**os.environ, "SRLLM_HOME": str(home)},
        timeout=600,
    )
    assert built.returncode == 0, built.stderr
