"""The extension starts and pairs with the server itself, through the native messaging host, in
real Chromium: the host is registered with `srllm extension install --dir` in the test
profile's NativeMessagingHosts folder; HOME and SRLLM_HOME point at temporary folders, so
nothing touches the real user's browsers or config.

Fresh profile, no token typed, server not running: the welcome page opens, the first check
succeeds with the server the host started (the fine-tuned default is built on that first start,
as for a new user). A second start of the browser, and a second fresh profile, reuse it.

Run:  .venv/bin/python -m pytest -m e2e tests/e2e/test_native_pairing.py -v -s
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from srllm.native_host import CHROME_EXTENSION_ID, HOST_NAME, pid_alive
from tests.e2e.conftest import (
    CHROMIUM,
    CHROMIUM_ARGS,
    MODEL_TIMEOUT_MS,
    VERDICTS,
    Browser,
    Card,
    free_port,
    select_in_textarea,
    welcome_page,
)

pytestmark = pytest.mark.e2e

BIASED = "Old people are slow and useless with technology."
# The first check on a fresh machine waits for the server to build both models (the flagger and
# the rewriter, `srllm build-model`) before it answers: 2-4 min on 2 idle cores, over 400 s on
# a busy CI hour (2026-12-06), so that wait gets more room than one model call.
FIRST_CHECK_TIMEOUT_MS = 2 * MODEL_TIMEOUT_MS
ORIGIN = f"chrome-extension://{CHROME_EXTENSION_ID}"


class Machine:
    """A user's machine in miniature: a home, srllm's folder, a free port for the server."""

    def __init__(self, root: Path):
        self.root = root
        self.home = root / "home"
        self.srllm_home = root / "srllm-home"
        self.home.mkdir()
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("SRLLM_", "XDG_"))},
            "HOME": str(self.home),
            "SRLLM_HOME": str(self.srllm_home),
            "SRLLM_PORT": str(self.port),
            "SRLLM_THREADS": "2",
            "HF_HUB_OFFLINE": "1",
        }

    def install_host(self, profile: Path) -> str:
        """`srllm extension install` for a Chromium started with this --user-data-dir."""
        out = subprocess.run(
            [sys.executable, "-m", "srllm", "extension", "install"]
            + ["--browser", "chromium", "--dir", str(profile / "NativeMessagingHosts")],
            capture_output=True,
            text=True,
            env=self.env,
            timeout=60,
        )
        assert out.returncode == 0, out.stderr
        return out.stdout

    def state(self) -> dict | None:
        path = self.srllm_home / "native-host" / "server.json"
        return json.loads(path.read_text()) if path.is_file() else None

    def token(self) -> str:
        return (self.srllm_home / "token").read_text().strip()

    def starts_logged(self) -> int:
        log = self.srllm_home / "logs" / "server.log"
        return log.read_text().count("started by the native host") if log.is_file() else 0

    def stop_server(self) -> None:
        state = self.state()
        if state:
            with contextlib.suppress(ProcessLookupError):
                os.kill(state["pid"], signal.SIGTERM)


@pytest.fixture
def machine(tmp_path: Path):
    machine = Machine(tmp_path)
    try:
        yield machine
    finally:
        machine.stop_server()


@contextlib.contextmanager
def chromium(playwright_instance, machine: Machine, profile: Path, artefacts: Path):
    context = playwright_instance.chromium.launch_persistent_context(
        str(profile),
        executable_path=str(CHROMIUM),
        headless=True,
        args=CHROMIUM_ARGS,
        env=machine.env,
    )
    try:
        yield Browser(context, artefacts)
    finally:
        context.close()


def check(
    browser: Browser, page_url: str, text: str, name: str, timeout_ms: int = MODEL_TIMEOUT_MS
) -> tuple[str, float, float]:
    """Select `text` in the page's textarea and check it, as a user would: (verdict, seconds
    to the verdict, seconds until the card is done: rewrite streamed, or nothing to rewrite);
    `timeout_ms` is the wait for the verdict."""
    page = browser.context.new_page()
    page.goto(page_url)
    select_in_textarea(page, "#draft", text)
    started = time.monotonic()
    assert browser.check(page_url) == {"ok": True}
    card = Card(page)
    verdict = card.wait_for_verdict(timeout_ms)
    verdict_s = time.monotonic() - started
    card.wait_for(
        "(root) => root.querySelector('[data-part=rewrite]').getAttribute('aria-busy') === 'false'"
        " || !root.querySelector('[data-action=retry]').hidden",
        timeout_ms=MODEL_TIMEOUT_MS,
        what="the rewrite, or the card saying there is none",
    )
    done_s = time.monotonic() - started
    browser.screenshot(page, name)
    page.close()
    return verdict, verdict_s, done_s


def extension_page(browser: Browser, path: str):
    page = browser.context.new_page()
    page.goto(f"{ORIGIN}/{path}")
    return page


def stored_settings(browser: Browser) -> dict:
    return browser.worker.evaluate(
        "async () => (await chrome.storage.local.get('settings')).settings"
    )


def test_a_fresh_profile_starts_the_server_and_pairs_without_a_token(
    playwright_instance, machine, page_url, tmp_path
):
    profile = tmp_path / "profile"
    printed = machine.install_host(profile)
    assert f"{profile / 'NativeMessagingHosts' / HOST_NAME}.json (Chromium)" in printed
    artefacts = tmp_path / "artefacts"
    artefacts.mkdir()
    assert machine.state() is None and not (machine.srllm_home / "token").exists()

    launched = time.monotonic()
    with chromium(playwright_instance, machine, profile, artefacts) as browser:
        # The ID the host's manifest allows is the one the manifest's key gives.
        assert browser.worker.url.startswith(f"{ORIGIN}/")
        welcome = welcome_page(browser.context)

        verdict, verdict_s, done_s = check(
            browser, page_url, BIASED, "native-first-check", FIRST_CHECK_TIMEOUT_MS
        )
        total_s = time.monotonic() - launched
        assert verdict in VERDICTS
        print(
            f"first check, fresh profile, server cold: verdict {verdict_s:.1f} s, "
            f"card done {done_s:.1f} s; launch to verdict {total_s:.1f} s"
        )

        # Paired by the host: the server's own token and URL, nothing typed.
        settings = stored_settings(browser)
        assert settings["token"] == machine.token()
        assert settings["serverUrl"] == machine.url
        state = machine.state()
        assert state["origins"] == [ORIGIN] and machine.starts_logged() == 1

        # The welcome page moved on by itself, and says which model runs.
        welcome.locator("main[data-step=ready]").wait_for(timeout=60_000)
        assert welcome.text_content("#host") == "installed"
        assert welcome.text_content("#server") == f"running at {machine.url}"
        assert welcome.text_content("#finetuned") == "yes"
        assert welcome.locator("#ready").is_visible() and welcome.locator("#setup").is_hidden()
        browser.screenshot(welcome, "welcome-ready")

        # Options: the host filled in URL and token. "Test connection" tries the form's values,
        # saved or not; "Pair automatically" asks the host again.
        options = extension_page(browser, "options/options.html")
        assert options.input_value("#serverUrl") == machine.url
        assert options.input_value("#token") == machine.token()
        options.fill("#token", "not-the-token-0123456789")
        options.click("#test")
        options.locator("#result", has_text="rejects this token").wait_for(timeout=20_000)
        options.fill("#serverUrl", f"http://127.0.0.1:{free_port()}")
        options.click("#test")
        options.locator("#result", has_text="No server at").wait_for(timeout=20_000)
        options.fill("#serverUrl", "http://example.com")
        options.click("#test")
        options.locator("#result", has_text="serverUrl").wait_for(timeout=20_000)
        assert stored_settings(browser)["token"] == machine.token(), "testing saves nothing"
        options.click("#pair")
        options.locator("#result", has_text="Connected and paired").wait_for(timeout=60_000)
        assert options.input_value("#serverUrl") == machine.url
        browser.screenshot(options, "options-paired")

    # The server outlives the browser, and answers only the paired extension.
    os.kill(state["pid"], 0)
    auth = {"Authorization": f"Bearer {machine.token()}"}
    other = "chrome-extension://abcdefghijklmnopabcdefghijklmnop"
    assert httpx.get(f"{machine.url}/v1/models", headers={**auth, "Origin": ORIGIN}).is_success
    refused = httpx.get(f"{machine.url}/v1/models", headers={**auth, "Origin": other})
    assert refused.status_code == 403

    # A second start of the browser reuses the running server.
    with chromium(playwright_instance, machine, profile, artefacts) as browser:
        verdict, again_s, _ = check(browser, page_url, "Intro line.", "native-restart-check")
        assert verdict in VERDICTS
        print(f"check after a browser restart, server warm: verdict {again_s:.1f} s")
    assert machine.state()["pid"] == state["pid"] and machine.starts_logged() == 1

    # So does a second fresh profile: the host pairs it with the same server.
    second = tmp_path / "profile-2"
    machine.install_host(second)
    with chromium(playwright_instance, machine, second, artefacts) as browser:
        verdict, fresh_s, _ = check(browser, page_url, "Closing line.", "native-second-profile")
        assert verdict in VERDICTS
        assert stored_settings(browser)["token"] == machine.token()
        print(f"first check, second fresh profile, server warm: verdict {fresh_s:.1f} s")
    assert machine.state()["pid"] == state["pid"] and machine.starts_logged() == 1

    # The server stopped (the user ended it, a reboot): the next check starts it again.
    machine.stop_server()
    deadline = time.monotonic() + 30
    while pid_alive(state["pid"]):
        assert time.monotonic() < deadline, "the server did not stop"
        time.sleep(0.2)
    with chromium(playwright_instance, machine, second, artefacts) as browser:
        verdict, cold_s, _ = check(browser, page_url, BIASED, "native-restarted-server")
        assert verdict in VERDICTS
        print(f"check with the server stopped, model already built: verdict {cold_s:.1f} s")
    assert machine.state()["pid"] != state["pid"] and machine.starts_logged() == 2


def test_without_the_helper_the_welcome_page_says_what_to_run_once(browser):
    """No host registered (the standard test profile) and no server: the first-run page names
    the command, and the manual way stays documented."""
    browser.configure(serverUrl=f"http://127.0.0.1:{free_port()}")
    welcome = extension_page(browser, "welcome/welcome.html")
    welcome.locator("#host[data-state=bad]").wait_for(timeout=20_000)
    assert "not installed" in welcome.text_content("#host")
    assert welcome.text_content("#install-command") == "srllm extension install"
    welcome.locator("#server[data-state=bad]").wait_for(timeout=20_000)
    assert welcome.locator("#setup").is_visible() and welcome.locator("#ready").is_hidden()
    assert "srllm token" in welcome.text_content("#manual")
    browser.screenshot(welcome, "welcome-no-helper")
