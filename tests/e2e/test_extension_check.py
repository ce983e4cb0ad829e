"""The extension against the real server and model: check, rewrite, Replace, undo, restart.

Run:  .venv/bin/python -m pytest -m e2e tests/e2e/test_extension_check.py -v -s
"""

from __future__ import annotations

import pytest

from tests.e2e.conftest import (
    MODEL_TIMEOUT_MS,
    TOKEN,
    VERDICTS,
    Card,
    model_busy,
    select_contents,
    select_in_textarea,
    wait_until,
)

pytestmark = pytest.mark.e2e

BIASED = "Old people are slow and useless with technology."


def open_configured_page(browser, server, page_url):
    browser.configure(serverUrl=server.url, token=TOKEN, timeoutSeconds=600)
    page = browser.context.new_page()
    page.goto(page_url)
    return page, Card(page)


def wait_for_rewrite(card: Card) -> str:
    return card.wait_for_rewrite()


def test_check_then_replace_in_textarea_and_undo(browser, srllm_server, page_url):
    page, card = open_configured_page(browser, srllm_server, page_url)
    original = page.input_value("#draft")
    select_in_textarea(page, "#draft", BIASED)

    assert browser.check(page_url) == {"ok": True}
    verdict = card.wait_for_verdict()
    assert verdict in VERDICTS
    assert card.part("excerpt").text_content() == BIASED
    browser.screenshot(page, "verdict")

    rewrite = wait_for_rewrite(card)
    assert rewrite.strip() and rewrite != BIASED
    # Model text is text: whatever it contains (this model likes "<p>"), no element came of it.
    assert (
        card.shadow_eval("(root) => root.querySelector('[data-part=rewrite]').childElementCount")
        == 0
    )
    assert page.evaluate("() => window.addedElements") == ["SRLLM-CARD[card]"]
    browser.screenshot(page, "rewrite")

    card.button("replace").click()
    card.wait_for_status("Replaced.")
    assert page.input_value("#draft") == original.replace(BIASED, rewrite)
    assert card.button("undo").is_visible(), "the card stays open and offers Undo"
    # The page saw an ordinary edit, and its own undo brings the original back.
    # (Chrome reports one insertText per line of a multi-line insertion.)
    events = page.evaluate("() => window.inputEvents")
    assert events and set(events) <= {"insertText", "insertLineBreak"}, events
    page.focus("#draft")
    page.keyboard.press("Control+z")
    assert page.input_value("#draft") == original
    assert page.evaluate("() => window.addedElements") == ["SRLLM-CARD[card]"]


def test_copy_puts_the_rewrite_on_the_clipboard(browser, srllm_server, page_url):
    browser.context.grant_permissions(["clipboard-read", "clipboard-write"])
    page, card = open_configured_page(browser, srllm_server, page_url)
    original = page.input_value("#draft")
    select_in_textarea(page, "#draft", BIASED)
    assert browser.check(page_url) == {"ok": True}
    rewrite = wait_for_rewrite(card)
    card.button("copy").click()
    card.wait_for_status("Rewrite copied.", timeout_ms=10_000)
    assert page.evaluate("() => navigator.clipboard.readText()") == rewrite
    assert page.input_value("#draft") == original, "Copy leaves the page's text alone"
    assert card.host.count() == 1, "the card stays open after Copy"


def test_worker_restart_mid_check_then_retry(browser, srllm_server, page_url):
    page, card = open_configured_page(browser, srllm_server, page_url)
    sentence = "Closing line."  # not checked by other tests: the server's cache cannot answer it
    select_in_textarea(page, "#draft", sentence)
    with model_busy(srllm_server):
        assert browser.check(page_url) == {"ok": True}
        # The extension's request is waiting at the server: stop every service worker now.
        wait_until(lambda: srllm_server.stats()["queued"] >= 1, 60, "the check to reach the server")
        cdp = browser.context.new_cdp_session(page)
        cdp.send("ServiceWorker.enable")
        cdp.send("ServiceWorker.stopAllWorkers")
        message = card.wait_for_failure("disconnected")
        assert "Retry" in message
        browser.screenshot(page, "interrupted")

    # Retry wakes a fresh worker, which reads server URL and token from storage.
    card.button("retry").click()
    assert card.wait_for_verdict() in VERDICTS
    assert card.part("excerpt").text_content() == sentence
    card.button("dismiss").click()
    assert card.host.count() == 0


def test_contenteditable_with_emoji(browser, srllm_server, page_url):
    page, card = open_configured_page(browser, srllm_server, page_url)
    selected = select_contents(page, "#editor")
    assert "\U0001f474\U0001f3fb" in selected

    assert browser.check(page_url) == {"ok": True}
    card.wait_for_verdict()
    # The excerpt is the selection, character for character, around astral characters; every
    # highlight is a whole word of it (code point spans mapped onto UTF-16).
    assert card.part("excerpt").text_content() == selected
    marks = card.shadow_eval(
        "(root) => [...root.querySelectorAll('[data-part=excerpt] mark')].map((m) => m.textContent)"
    )
    for mark in marks:
        assert mark in selected and "\ufffd" not in mark
    browser.screenshot(page, "emoji")
    page.keyboard.press("Escape")
    assert card.host.count() == 0


def test_the_shipped_model_flags_and_the_card_marks_its_words_around_emoji(
    browser, finetuned_server, page_url
):
    """The fine-tuned default end to end: its biased words become marks in the excerpt, at the
    right places among astral characters, and the rewrite comes without "Rewrite anyway"."""
    page, card = open_configured_page(browser, finetuned_server, page_url)
    selected = select_contents(page, "#editor")
    flag = finetuned_server.post("/v1/flag", {"text": selected})
    assert "spans" in flag, flag
    words = [span["text"] for span in flag["spans"]]
    assert flag["biased"] and words, f"the shipped model no longer flags {selected!r}: {flag}"

    assert browser.check(page_url) == {"ok": True}
    assert card.wait_for_verdict() != "Neutral"
    marks = card.shadow_eval(
        "(root) => [...root.querySelectorAll('[data-part=excerpt] mark')].map((m) => m.textContent)"
    )
    assert marks == words
    assert card.part("excerpt").text_content() == selected
    card.button("replace").wait_for(state="visible", timeout=MODEL_TIMEOUT_MS)
    assert not card.button("rewrite-anyway").is_visible()
    browser.screenshot(page, "finetuned-marks")
    # The card says what the server says of its rewrite: ready, or still flagged and to be
    # reviewed (the same call again, answered from the server's per-sentence cache).
    answer = finetuned_server.post("/v1/debias", {"text": selected})
    assert answer["changed"] and card.part("rewrite").text_content() == answer["rewrite"]
    note = card.shadow_eval(
        "(root) => { const m = root.querySelector('[data-part=message]');"
        " return m.hidden ? null : m.getAttribute('data-kind'); }"
    )
    assert note == ("review" if answer["still_biased"] else None), answer
    expected = "Rewrite ready: review it" if answer["still_biased"] else "Rewrite ready."
    card.wait_for_status(expected)


def test_escape_cancels_the_waiting_check(browser, srllm_server, page_url):
    page, card = open_configured_page(browser, srllm_server, page_url)
    select_contents(page, "#plain")
    with model_busy(srllm_server):
        assert browser.check(page_url) == {"ok": True}
        wait_until(lambda: srllm_server.stats()["queued"] >= 1, 60, "the check to reach the server")
        # The server says the check waits behind the hold (its `queued` event).
        card.wait_for_status("Waiting for another check (position 1)")
        assert card.badge.text_content() == "Waiting\u2026"
        page.keyboard.press("Escape")
        assert card.host.count() == 0
        # The extension dropped its request: the server takes it out of the queue while the
        # model is still busy, so the check never reaches the model.
        wait_until(
            lambda: srllm_server.stats()["queued"] == 0, 60, "the server to drop the request"
        )


def test_a_job_advert_is_marked_and_replaced_in_the_recruiters_own_words(
    browser, srllm_server, page_url
):
    """A recruiter's draft: the card marks what the advert asks by age and gender (the job-ad
    rule, whatever the untuned model scores) and Replace puts in the user's sentence with those
    words put right."""
    ad = "We are looking for a young, energetic salesman to join our team."
    page, card = open_configured_page(browser, srllm_server, page_url)
    page.fill("#draft", f"Draft for Friday.\n{ad}")
    select_in_textarea(page, "#draft", ad)

    assert browser.check(page_url) == {"ok": True}
    assert card.wait_for_verdict() != "Neutral"
    marks = card.shadow_eval(
        "(root) => [...root.querySelectorAll('[data-part=excerpt] mark')].map((m) => m.textContent)"
    )
    assert marks == ["young", "salesman"]
    assert wait_for_rewrite(card) == "We are looking for an energetic salesperson to join our team."
    card.button("replace").click()
    card.wait_for_status("Replaced.")
    assert page.input_value("#draft") == (
        "Draft for Friday.\nWe are looking for an energetic salesperson to join our team."
    )
