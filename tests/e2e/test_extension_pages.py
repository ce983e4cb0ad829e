"""The toolbar popup and the options page, opened as extension pages against the real server.

Run:  .venv/bin/python -m pytest -m e2e tests/e2e/test_extension_pages.py -v -s
"""

from __future__ import annotations

import pytest

from tests.e2e.conftest import TOKEN, free_port

pytestmark = pytest.mark.e2e


def extension_url(browser, path: str) -> str:
    origin = browser.worker.url.split("/background.js")[0]
    return f"{origin}/{path}"


def test_popup_shows_server_pairing_and_model(browser, srllm_server):
    browser.configure(serverUrl=srllm_server.url, token=TOKEN)
    page = browser.context.new_page()
    page.goto(extension_url(browser, "popup/popup.html"))
    page.locator("#server[data-state=ok]").wait_for(timeout=20_000)
    assert page.text_content("#paired") == "yes"
    model = page.text_content("#model")
    assert model and model != "unknown"
    assert page.locator("#start").is_hidden()
    browser.screenshot(page, "popup-paired")


def test_popup_says_how_to_start_a_missing_server(browser):
    browser.configure(serverUrl=f"http://127.0.0.1:{free_port()}")
    page = browser.context.new_page()
    page.goto(extension_url(browser, "popup/popup.html"))
    page.locator("#server[data-state=bad]").wait_for(timeout=20_000)
    assert page.locator("#start").is_visible()
    assert "srllm serve" in page.text_content("#start")
    browser.screenshot(page, "popup-no-server")


def test_options_validate_save_and_test_the_connection(browser, srllm_server):
    page = browser.context.new_page()
    page.goto(extension_url(browser, "options/options.html"))
    assert page.input_value("#serverUrl") == "http://127.0.0.1:8765"
    page.fill("#serverUrl", "http://example.com:8765")
    page.click("button[type=submit]")
    assert "serverUrl" in page.text_content("#result")

    page.fill("#serverUrl", srllm_server.url)
    page.fill("#token", TOKEN)
    page.uncheck("input[value=politics]")
    page.fill("#maxSelectionChars", "1000")
    page.click("button[type=submit]")
    page.locator("#result", has_text="Saved.").wait_for()
    stored = browser.worker.evaluate(
        "async () => (await chrome.storage.local.get('settings')).settings"
    )
    assert stored["serverUrl"] == srllm_server.url
    assert stored["token"] == TOKEN
    assert stored["maxSelectionChars"] == 1000
    assert "politics" not in stored["categories"] and "gender" in stored["categories"]

    page.click("#test")
    page.locator("#result", has_text="Connected and paired").wait_for(timeout=20_000)
    browser.screenshot(page, "options")
