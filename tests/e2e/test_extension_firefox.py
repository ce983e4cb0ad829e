"""The built Firefox package in real Firefox (Debian's firefox-esr) against the real server and
model: install, options page, one check of a selection, its verdict in the card.

Playwright cannot drive a stock Firefox, so extension/e2e/firefox_smoke.mjs does, with
puppeteer-core over WebDriver BiDi (no browser download), and prints a JSON report this test
asserts on. The Chromium tests (the rest of tests/e2e/) cover the extension in depth; this one
shows that the same code installs and checks in Firefox.

Run:  .venv/bin/python -m pytest -m e2e tests/e2e/test_extension_firefox.py -v -s
Needs /usr/bin/firefox-esr (apt-get install firefox-esr) and `npm ci` in extension/.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.conftest import EXTENSION, MODEL_TIMEOUT_MS, VERDICTS

pytestmark = pytest.mark.e2e

FIREFOX = Path("/usr/bin/firefox-esr")
SCRIPT = EXTENSION / "e2e" / "firefox_smoke.mjs"
PUPPETEER = EXTENSION / "node_modules" / "puppeteer-core"
MESSAGES = EXTENSION / "_locales" / "en" / "messages.json"
BIASED = "Old people are slow and useless with technology."
VERDICT_TIMEOUT_S = MODEL_TIMEOUT_MS // 1000
# Launch, install and pages take well under a minute; the rest is the model's.
SCRIPT_TIMEOUT_S = VERDICT_TIMEOUT_S + 240


def needs(condition: bool, message: str) -> None:
    if condition:
        return
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture
def firefox_package(tmp_path: Path) -> Path:
    """The Firefox tree build.py packages (what the zip holds), built into tmp_path."""
    out = tmp_path / "dist"
    built = subprocess.run(
        [sys.executable, str(EXTENSION / "build.py"), "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert built.returncode == 0, built.stderr
    return out / "firefox"


def run_smoke(package: Path, server, page_url: str, artefacts: Path) -> dict:
    node = shutil.which("node")
    needs(node is not None, "node is not installed")
    needs(FIREFOX.exists(), "Debian's firefox-esr is not installed (apt-get install firefox-esr)")
    needs(PUPPETEER.exists(), "puppeteer-core is not installed: run `npm ci` in extension/")
    profile = artefacts / "profile"
    profile.mkdir()
    screenshot = artefacts / "firefox-verdict.png"
    command = [
        node,
        str(SCRIPT),
        "--extension",
        str(package),
        "--server-url",
        server.url,
        "--token",
        server.token,
        "--page-url",
        page_url,
        "--text",
        BIASED,
        "--verdicts",
        json.dumps(list(VERDICTS)),
        "--verdict-timeout",
        str(VERDICT_TIMEOUT_S),
        "--profile",
        str(profile),
        "--screenshot",
        str(screenshot),
    ]
    process = subprocess.Popen(
        command, cwd=EXTENSION, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        stdout, stderr = process.communicate(timeout=SCRIPT_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        # SIGTERM first: Puppeteer's handler closes Firefox (its own process group) on the way out.
        process.terminate()
        try:
            _, stderr = process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            _, stderr = process.communicate()
        raise AssertionError(
            f"firefox_smoke.mjs did not finish in {SCRIPT_TIMEOUT_S} s; its log:\n{stderr[-4000:]}"
        ) from None
    print(stderr, end="")
    lines = stdout.strip().splitlines()
    assert lines, f"firefox_smoke.mjs printed no report (exit {process.returncode}):\n{stderr}"
    report = json.loads(lines[-1])
    print("report:", json.dumps(report, indent=2))
    assert process.returncode == 0 and report["ok"], (
        f"failed at {report['step']!r}: {report['error']}"
    )
    return report


def test_the_extension_installs_and_checks_a_selection_in_firefox(
    firefox_package, srllm_server, page_url, tmp_path
):
    report = run_smoke(firefox_package, srllm_server, page_url, tmp_path)
    messages = json.loads(MESSAGES.read_text(encoding="utf-8"))

    def message(key: str) -> str:
        return messages[key]["message"]

    # Installed over BiDi under its gecko ID, at the fixed moz-extension:// UUID; the background
    # ran onInstalled (the welcome tab).
    assert report["installed_id"] == "srllm@srllm.invalid"
    assert report["welcome_url"] == f"{report['extension_origin']}/welcome/welcome.html"

    # The options page shows _locales' text (placeholders too: the help's <code> children sit
    # where $1..$3 are), saves the settings, and its "Test connection" reaches the server
    # through the background.
    options = report["options"]
    assert options["i18nHeading"] == message("optionsHeading")
    assert (
        options["manifestName"] == options["i18nExtName"] == message("extName")
    )  # __MSG_extName__
    assert options["heading"] == options["title"] == message("optionsHeading")
    assert options["serverUrlLabel"] == message("optionsServerUrl")
    assert options["saveButton"] == message("optionsSave")
    codes = ["http://127.0.0.1:8765", "srllm extension install", "srllm serve"]
    assert options["serverUrlHelpCodes"] == codes
    help_text = message("optionsServerUrlHelp")
    for n, code in enumerate(codes, 1):
        help_text = help_text.replace(f"$P{n}$", code)
    assert options["serverUrlHelp"] == help_text
    assert options["saveResult"] == message("optionsSaved")
    assert options["saved"] == {"serverUrl": srllm_server.url, "hasToken": True}
    paired = message("optionsPaired").split("$")[0]  # "Connected and paired: $P1$."
    assert options["testResult"].startswith(paired), options["testResult"]

    # The check the context menu runs: the card in the page, the selection as its excerpt, and
    # a verdict from the real server.
    assert report["selected"] == BIASED
    assert report["check_result"] == {"ok": True}
    assert report["card_host"] == "srllm-card"
    assert report["added_elements"] == ["SRLLM-CARD[card]"]
    assert report["card"]["excerpt"] == BIASED
    assert report["verdict"] in VERDICTS

    timings = report["timings"]
    print(
        f"firefox {report['firefox']}: launch {timings['launch_s']} s, install "
        f"{timings['install_s']} s, first verdict {timings['first_verdict_s']} s "
        f"({report['verdict']}); screenshot: {report['screenshot']}"
    )
