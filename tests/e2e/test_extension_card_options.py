"""The card while the server's queue makes a check wait, its Stop button, the language notice
for text the model does not read (right to left, as written), and the confidence and Disagree
on a verdict: real Chromium, the real server and model.

Run:  .venv/bin/python -m pytest -m e2e tests/e2e/test_extension_card_options.py -v -s
"""

from __future__ import annotations

import json
import time

import pytest

from tests.e2e.conftest import (
    MODEL_TIMEOUT_MS,
    TOKEN,
    Card,
    model_busy,
    select_in_textarea,
    wait_until,
)

pytestmark = pytest.mark.e2e

SENTENCE = "Old people are slow and useless with technology."
ARABIC = "كبار السن بطيئون وعديمو الفائدة مع التكنولوجيا الحديثة."


def test_a_check_behind_another_waits_without_timing_out_and_stop_cancels_it(
    browser, srllm_server, page_url
):
    # The shortest timeout there is: the wait below is longer, and must not count.
    browser.configure(serverUrl=srllm_server.url, token=TOKEN, timeoutSeconds=5)
    page = browser.context.new_page()
    page.goto(page_url)
    card = Card(page)
    select_in_textarea(page, "#draft", SENTENCE)
    before = srllm_server.stats()
    with model_busy(srllm_server) as hold:
        assert browser.check(page_url) == {"ok": True}
        card.wait_for_status("Waiting for another check (position 1)")
        assert card.button("stop").is_visible()
        assert card.badge.text_content() == "Waiting\u2026"
        browser.screenshot(page, "check-queued")
        time.sleep(9)  # past the 5 s timeout: the queue's keep-alives come every 5 s
        assert card.status.startswith("Waiting for another check"), card.status
        assert srllm_server.stats()["queued"] == 1
        card.button("stop").click()
        card.wait_for_status("Stopped.")
        # Closing the port closed the request: the server took it out of its line.
        wait_until(lambda: srllm_server.stats()["queued"] == 0, 30, "the check to leave the queue")
        assert card.button("retry").is_visible()
        assert not card.button("stop").is_visible()
        hold.release()
    # The stopped check never reached the model: only the hold ran (and was cancelled).
    wait_until(
        lambda: srllm_server.stats()["cancelled"] == before["cancelled"] + 1,
        60,
        "the hold to end as cancelled",
    )
    assert srllm_server.stats()["generations"] == before["generations"]
    assert card.status == "Stopped."


def test_another_language_gets_a_plain_notice_and_reads_right_to_left(
    browser, srllm_server, page_url
):
    browser.configure(serverUrl=srllm_server.url, token=TOKEN)
    page = browser.context.new_page()
    page.goto(page_url)
    page.fill("#draft", ARABIC)
    select_in_textarea(page, "#draft", ARABIC)
    card = Card(page)
    before = srllm_server.stats()
    assert browser.check(page_url) == {"ok": True}
    message = card.wait_for_failure("unsupported_language")
    assert "English only" in message and "Arabic script" in message
    assert card.shadow_eval("(root) => root.querySelector('.title').textContent") == (
        "Language not supported"
    )
    assert not card.button("retry").is_visible()
    excerpt = card.part("excerpt")
    assert excerpt.text_content() == ARABIC
    direction = card.shadow_eval(
        "(root) => { const el = root.querySelector('[data-part=excerpt]');"
        " return [el.getAttribute('dir'), getComputedStyle(el).direction]; }"
    )
    assert direction == ["auto", "rtl"]
    assert srllm_server.stats()["generations"] == before["generations"]  # refused up front
    browser.screenshot(page, "unsupported-language-rtl")


def test_a_verdict_shows_the_confidence_and_disagree_keeps_a_local_note(
    browser, srllm_server, page_url
):
    browser.configure(serverUrl=srllm_server.url, token=TOKEN, strictness="sensitive")
    page = browser.context.new_page()
    page.goto(page_url)
    select_in_textarea(page, "#draft", SENTENCE)
    card = Card(page)
    assert browser.check(page_url) == {"ok": True}
    verdict = card.wait_for_verdict()
    confidence = card.part("confidence").text_content()
    assert confidence.startswith("Model confidence: ") and "%" in confidence, confidence
    # Once the check is over (a rewrite would set the status after the note).
    card.button("stop").wait_for(state="hidden", timeout=MODEL_TIMEOUT_MS)
    card.button("disagree").click()
    card.wait_for_status("Noted on this computer only")
    rows = browser.worker.evaluate(
        "async () => (await chrome.storage.local.get('disagreements')).disagreements"
    )
    assert len(rows) == 1
    row = rows[0]
    assert row["biased_text"] == SENTENCE
    expected = "neutral" if verdict != "Neutral" else "slightly biased"
    assert row["label"] == expected and row["disagree"] == {"kind": "verdict"}
    # The manifest's strings come from _locales: the browser resolved them.
    title = browser.worker.evaluate("() => chrome.runtime.getManifest().action.default_title")
    assert title == "srllm: check text for bias"
    browser.screenshot(page, "verdict-confidence")


def test_options_keep_strictness_and_the_allow_list_and_move_them_as_json(browser, tmp_path):
    origin = browser.worker.url.split("/background.js")[0]
    page = browser.context.new_page()
    page.goto(f"{origin}/options/options.html")
    assert page.input_value("#strictness") == "conservative"
    page.select_option("#strictness", "balanced")
    page.fill("#allowTerms", "old people\nOld People\nslow")
    page.uncheck("input[value=age]")
    page.click("button[type=submit]")
    page.locator("#result", has_text="Saved.").wait_for()
    stored = browser.worker.evaluate(
        "async () => (await chrome.storage.local.get('settings')).settings"
    )
    assert stored["strictness"] == "balanced"
    assert stored["allowTerms"] == ["old people", "slow"]  # once each, whatever the case

    with page.expect_download() as download_info:
        page.click("#exportAllow")
    exported = tmp_path / "allow.json"
    download_info.value.save_as(exported)
    data = json.loads(exported.read_text(encoding="utf-8"))
    assert data["terms"] == ["old people", "slow"] and data["mute"] == ["age"]

    other = tmp_path / "other.json"
    other.write_text(json.dumps({"terms": ["elderly"], "mute": ["gender"]}), encoding="utf-8")
    page.set_input_files("#importAllow", str(other))
    page.locator("#result", has_text="Imported 1 terms").wait_for()
    assert page.input_value("#allowTerms") == "elderly"
    assert page.is_checked("input[value=age]") and not page.is_checked("input[value=gender]")
    bad = tmp_path / "bad.json"
    bad.write_text("{", encoding="utf-8")
    page.set_input_files("#importAllow", str(bad))
    page.locator("#result", has_text="not JSON").wait_for()

    # A note kept by "Disagree" exports as JSON lines in the evaluation's columns.
    browser.worker.evaluate(
        """async () => chrome.storage.local.set({ disagreements: [
            { biased_text: "Old people are slow.", label: "neutral", biased_words: [] } ] })"""
    )
    page.locator("#disagree-count", has_text="1 note").wait_for()
    with page.expect_download() as download_info:
        page.click("#exportDisagree")
    notes = tmp_path / "notes.jsonl"
    download_info.value.save_as(notes)
    rows = [json.loads(line) for line in notes.read_text(encoding="utf-8").splitlines()]
    assert rows == [{"biased_text": "Old people are slow.", "label": "neutral", "biased_words": []}]
    browser.screenshot(page, "options-allow-list")
