"""The extension's JavaScript checks, run from pytest: `node --test` over extension/test/, the
packaging script, and `web-ext lint` on the Firefox package. Fast; no browser, no model.

Run:  .venv/bin/python -m pytest tests/e2e/test_extension_js.py -v
Needs node (and `npm ci` in extension/ for web-ext).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
EXTENSION = REPO / "extension"
WEB_EXT = EXTENSION / "node_modules" / ".bin" / "web-ext"


def run(command: list[str], **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(command, capture_output=True, text=True, timeout=300, **kwargs)


@pytest.fixture(scope="module")
def node() -> str:
    path = shutil.which("node")
    if path is None:
        pytest.skip("node is not installed")
    return path


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("extension-dist")
    result = run([sys.executable, str(EXTENSION / "build.py"), "--out", str(out)])
    assert result.returncode == 0, result.stderr
    return out


def test_node_unit_tests_pass(node):
    result = run([node, "--test", "extension/test/"], cwd=REPO)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "# fail 0" in result.stdout


def test_packages_keep_only_their_browsers_background_key(built):
    manifests = {}
    for browser in ("chrome", "firefox"):
        with zipfile.ZipFile(built / f"srllm-{browser}.zip") as archive:
            names = set(archive.namelist())
            manifests[browser] = json.loads(archive.read("manifest.json"))
        assert {"background.js", "content.js", "card.js", "lib/offsets.js"} <= names
        assert {"lib/native.js", "welcome/welcome.html", "welcome/welcome.js"} <= names
        assert not any(n.startswith(("test/", "node_modules/")) or n == "build.py" for n in names)
    assert manifests["chrome"]["background"] == {
        "service_worker": "background.js",
        "type": "module",
    }
    assert "browser_specific_settings" not in manifests["chrome"]
    # The public key fixes the unpacked Chrome extension's ID (the native host allows it);
    # Firefox has the gecko ID instead.
    assert manifests["chrome"]["key"] and "key" not in manifests["firefox"]
    assert manifests["firefox"]["background"] == {"scripts": ["background.js"], "type": "module"}
    assert manifests["firefox"]["browser_specific_settings"]["gecko"]["id"]
    assert (
        json.loads((built / "build.json").read_text())["version"] == manifests["chrome"]["version"]
    )


def test_web_ext_lint_passes_for_the_firefox_package(built):
    if not WEB_EXT.exists():
        message = "web-ext is not installed: run `npm ci` in extension/ (just setup does)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    result = run(
        [str(WEB_EXT), "lint", "--source-dir", str(built / "firefox"), "--output", "json"],
        cwd=EXTENSION,
    )
    report = json.loads(result.stdout)
    assert result.returncode == 0, result.stdout[-4000:]
    assert report["errors"] == [], report["errors"]
    assert report["warnings"] == [], report["warnings"]


@pytest.mark.parametrize(
    ("tool", "args"),
    [("eslint", ["."]), ("prettier", ["--check", "."])],
    ids=["eslint", "prettier"],
)
def test_the_javascript_is_linted_and_formatted(tool, args):
    binary = EXTENSION / "node_modules" / ".bin" / tool
    if not binary.exists():
        message = f"{tool} is not installed: run `npm ci` in extension/ (just setup does)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    result = run([str(binary), *args], cwd=EXTENSION)
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
