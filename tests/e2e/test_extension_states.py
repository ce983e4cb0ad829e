"""Every failure gets a clear card (or badge) state; run against the real server where one is
needed.

Run:  .venv/bin/python -m pytest -m e2e tests/e2e/test_extension_states.py -v -s
"""

from __future__ import annotations

import pytest

from tests.e2e.conftest import SERVER_MAX_TEXT_CHARS, TOKEN, Card, free_port, select_in_textarea

pytestmark = pytest.mark.e2e

SENTENCE = "Intro line."


def test_server_not_running_says_how_to_start_it(browser, page_url):
    browser.configure(serverUrl=f"http://127.0.0.1:{free_port()}", token=TOKEN)
    page = browser.context.new_page()
    page.goto(page_url)
    card = Card(page)
    select_in_textarea(page, "#draft", SENTENCE)
    assert browser.check(page_url) == {"ok": True}
    message = card.wait_for_failure("server_down")
    assert "Nothing answered" in message
    commands = card.codes()
    assert commands == ["srllm serve", "just serve"]
    assert card.button("retry").is_visible()
    # The page's hostile CSS does not reach into the card; light and dark are both readable.
    assert card.shadow_eval(
        "(root) => getComputedStyle(root.querySelector('button')).fontFamily"
    ) != (page.evaluate("() => getComputedStyle(document.querySelector('p')).fontFamily"))
    browser.screenshot(page, "server-down-light")
    page.emulate_media(color_scheme="dark")
    background = card.shadow_eval(
        "(root) => getComputedStyle(root.querySelector('.card')).backgroundColor"
    )
    assert background == "rgb(32, 33, 38)"
    browser.screenshot(page, "server-down-dark")


def test_wrong_token_says_not_paired(browser, srllm_server, page_url):
    browser.configure(serverUrl=srllm_server.url, token="wrong-token-0123456789")
    page = browser.context.new_page()
    page.goto(page_url)
    card = Card(page)
    select_in_textarea(page, "#draft", SENTENCE)
    assert browser.check(page_url) == {"ok": True}
    message = card.wait_for_failure("not_paired")
    assert "Options" in message
    assert card.codes() == ["srllm token"]
    assert card.button("options").is_visible()
    browser.screenshot(page, "not-paired")


def test_text_over_the_server_limit_names_the_limit(browser, srllm_server, page_url):
    browser.configure(serverUrl=srllm_server.url, token=TOKEN)
    page = browser.context.new_page()
    page.goto(page_url)
    long_text = "All of them are the same. " * (SERVER_MAX_TEXT_CHARS // 20)
    page.fill("#draft", long_text)
    select_in_textarea(page, "#draft", long_text)
    card = Card(page)
    assert browser.check(page_url) == {"ok": True}
    message = card.wait_for_failure("too_long")
    assert str(SERVER_MAX_TEXT_CHARS) in message
    browser.screenshot(page, "too-long")


def test_text_over_the_options_limit_is_not_sent(browser, page_url):
    # No server at this URL: a request would fail as "server down", not "too long".
    browser.configure(serverUrl=f"http://127.0.0.1:{free_port()}", maxSelectionChars=5)
    page = browser.context.new_page()
    page.goto(page_url)
    card = Card(page)
    select_in_textarea(page, "#draft", SENTENCE)
    assert browser.check(page_url) == {"ok": True}
    message = card.wait_for_failure("too_long")
    assert "11 characters" in message and "is 5" in message


def test_nothing_selected(browser, page_url):
    page = browser.context.new_page()
    page.goto(page_url)
    card = Card(page)
    assert browser.check(page_url) == {"ok": True}
    assert "Select some text" in card.wait_for_failure("empty")


def test_page_closed_to_extensions_gets_a_badge_and_popup_message(browser):
    page = browser.context.new_page()
    page.goto("chrome://version/")
    # Without the "tabs" permission the worker cannot see a closed page's URL: check every tab
    # whose URL it cannot see (this one, and the profile's first about:blank tab).
    results = browser.worker.evaluate(
        """async () => {
            const hidden = (await chrome.tabs.query({})).filter((t) => !t.url);
            const out = [];
            for (const tab of hidden) {
                const result = await srllm.checkSelectionInTab(tab.id, 0);
                const key = `problem:${tab.id}`;
                out.push({
                    result,
                    badge: await chrome.action.getBadgeText({ tabId: tab.id }),
                    problem: (await chrome.storage.session.get(key))[key],
                });
            }
            return out;
        }"""
    )
    assert results, "the chrome://version tab is among the tabs"
    for entry in results:
        assert entry["result"] == {"ok": False, "kind": "restricted"}
        assert entry["badge"] == "!"
        assert entry["problem"]["title"] == "srllm cannot run on this page"


def test_selection_inside_an_embedded_frame_says_how_to_check_it(browser, page_url):
    url = page_url.replace("index.html", "frame.html")
    page = browser.context.new_page()
    page.goto(url)
    frame = page.frame_locator("#embedded")
    frame.locator("#inner").click()  # focus moves into the frame
    inner = next(f for f in page.frames if f is not page.main_frame)
    inner.evaluate(
        """() => {
            const range = document.createRange();
            range.selectNodeContents(document.getElementById("inner"));
            getSelection().removeAllRanges();
            getSelection().addRange(range);
        }"""
    )
    # The menu's check for the top frame sees no selection of its own, but a focused frame.
    assert browser.check(url) == {"ok": True}
    card = Card(page)
    assert "inside the frame" in card.wait_for_failure("frame")
    assert card.shadow_eval("(root) => root.querySelector('.title')?.textContent") == (
        "Selection inside an embedded frame"
    )
