"""Shared fixtures. SRLLM_HOME points every test at a temporary folder (token, models)."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def isolated_home(tmp_path_factory, monkeypatch):
    home = tmp_path_factory.mktemp("srllm-home")
    monkeypatch.setenv("SRLLM_HOME", str(home))
    monkeypatch.delenv("SRLLM_TOKEN", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return home
