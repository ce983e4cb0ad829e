"""The page scan in real Chromium with the real extension, against the real server and model:
a long article (pages/article.html) and a contenteditable draft (pages/draft.html) are scanned
the way the popup, the context menu and the shortcut start a scan (the worker's
`srllm.scanTab`, which they all call); biased sentences are underlined with CSS Custom
Highlights (read through scan.js's test hook in the extension's world), the page's DOM is not
touched while it runs (a MutationObserver over the whole document), the toolbar badge shows the
count, and a click on an underline opens the card, whose Replace works in the draft; while the
scan runs, that card's "Stop scan" stops it (pages/long.html). Also: the per-site switch (off on
a site, or on only on the listed ones) and the tab's pause refuse a scan and a check, and
check-as-I-type rescans only the edited block.

Run:  .venv/bin/python -m pytest -m e2e tests/e2e/test_extension_scan.py -v -s
"""

from __future__ import annotations

import json
import time

import httpx
import pytest

from srllm import contract
from tests.e2e.conftest import (
    MODEL_TIMEOUT_MS,
    TOKEN,
    Card,
    free_port,
    model_busy,
    select_in_textarea,
    wait_until,
)

pytestmark = pytest.mark.e2e

OLD = "Old people are useless with computers."
WOMEN = "Women are too emotional to lead engineering teams."
# In the article but not shown (hidden, display: none, visibility: hidden), in a script, or in
# a textarea: never scanned, so never underlined.
NOT_SHOWN = (
    "Girls are bad at math",
    "Fat people are lazy",
    "Poor people are lazy",
    "slow and useless",
)

# Every change to the page's DOM, in the page's own world: what the scan must not cause.
OBSERVE = """() => {
    window.mutations = [];
    const name = (n) => n.nodeType === 1 ? n.localName : n.nodeName;
    new MutationObserver((records) => {
        for (const r of records) {
            window.mutations.push([r.type, name(r.target), r.attributeName,
                [...r.addedNodes].map(name), [...r.removedNodes].map(name)]);
        }
    }).observe(document, { childList: true, subtree: true, attributes: true,
                           characterData: true });
}"""


def card_record(record: list) -> bool:
    """A mutation record of the card: its host added or removed, or the host itself changed."""
    kind, target, _attribute, added, removed = record
    return target == "srllm-card" or (
        kind == "childList" and set(added + removed) == {"srllm-card"}
    )


def loose(text: str) -> str:
    """Text compared as it reads: white space (and Chromium's no-break spaces) collapsed."""
    return " ".join(text.replace("\u00a0", " ").split())


def server_labels(server, sentences: list[str]) -> dict[str, str]:
    """What the server's scan says of each sentence on its own (a sentence's score does not
    depend on its neighbours): the labels the underlines must agree with."""
    response = httpx.post(
        f"{server.url}/v1/scan",
        json={"segments": [{"id": str(i), "text": s} for i, s in enumerate(sentences)]},
        headers={"Authorization": f"Bearer {server.token}"},
        timeout=MODEL_TIMEOUT_MS / 1000,
    )
    assert response.status_code == 200, response.text
    labels: dict[str, str] = {}
    for sentence in response.json()["sentences"]:
        text = sentences[int(sentence["id"])]
        labels[text] = sentence["label"]
    return labels


class Scan:
    """The scan of one tab: started and read through the extension's worker (what the popup,
    the context menu and the shortcut call), the underlines through scan.js's test hook."""

    def __init__(self, browser, page, url: str, card: Card):
        self.browser = browser
        self.page = page
        self.url = url
        self.card = card

    @property
    def tab_id(self) -> int:
        return self.browser.worker.evaluate(
            """async (prefix) => {
                const tabs = await chrome.tabs.query({});
                return tabs.find((t) => (t.url || "").startsWith(prefix)).id;
            }""",
            self.url,
        )

    def _call(self, script: str, arg: object = None):
        """`(tabId, arg) => ...` in the extension's worker, for this page's tab."""
        return self.browser.worker.evaluate(
            f"([tabId, arg]) => ({script})(tabId, arg)", [self.tab_id, arg]
        )

    def start(self) -> dict:
        return self._call("(tabId) => srllm.scanTab(tabId)")

    def state(self) -> dict:
        return self._call("(tabId) => srllm.scanState(tabId)")

    def clear(self) -> dict:
        return self._call("(tabId) => srllm.clearScan(tabId)")

    def badge(self) -> str:
        return self._call("(tabId) => chrome.action.getBadgeText({ tabId })")

    def pause(self, paused: bool) -> None:
        self._call(
            "(tabId, paused) => paused"
            " ? chrome.storage.session.set({ [`paused:${tabId}`]: true })"
            " : chrome.storage.session.remove(`paused:${tabId}`)",
            paused,
        )

    def wait_finished(self) -> dict:
        deadline = time.monotonic() + MODEL_TIMEOUT_MS / 1000
        while True:
            state = self.state()
            if state["status"] != "running":
                return state
            assert time.monotonic() < deadline, f"the scan did not finish: {state}"
            time.sleep(0.5)

    def wait_done(self) -> dict:
        state = self.wait_finished()
        assert state["status"] == "done", state
        return state

    def hook(self, script: str, arg: object = None):
        """`(hook, arg) => value` against scan.js's test hook in the extension's world."""
        expression = (
            "(() => { const hook = globalThis.srllmScanTestHook;"
            " if (!hook) return { found: false };"
            f" return {{ found: true, value: ({script})(hook, {json.dumps(arg)}) }}; }})()"
        )
        for result in self.card.world.evaluate_all(expression):
            if result and result.get("found"):
                return result["value"]
        return None

    def underlined(self) -> dict[str, list[str]]:
        return self.hook("(hook) => hook.underlined()") or {"biased": [], "review": []}

    def click(self, fragment: str) -> None:
        """A real (trusted) mouse click on the underline holding `fragment`."""
        point = self.hook("(hook, fragment) => hook.point(fragment)", fragment)
        assert point, f"no underline holds {fragment!r}: {self.underlined()}"
        self.page.mouse.click(point["x"], point["y"])


def open_scan(browser, server_url: str, page_url: str, name: str, **settings):
    browser.configure(serverUrl=server_url, token=TOKEN, timeoutSeconds=600, **settings)
    page = browser.context.new_page()
    url = page_url.replace("index.html", name)
    page.goto(url)
    card = Card(page)
    return page, card, Scan(browser, page, url, card)


def test_article_scan_underlines_in_place_and_opens_the_card(browser, srllm_server, page_url):
    page, card, scan = open_scan(browser, srllm_server.url, page_url, "article.html")
    labels = server_labels(srllm_server, [OLD, WOMEN])
    planted = [s for s in (OLD, WOMEN) if labels[s] == "biased"]
    assert planted, f"the model labels neither planted sentence biased: {labels}"
    # Scrolled to the end: the paragraphs on the screen are to be sent first.
    page.evaluate("() => window.scrollTo(0, document.body.scrollHeight)")
    paragraphs = page.evaluate(
        """() => [...document.querySelectorAll("#article p")]
            .filter((p) => p.checkVisibility({ visibilityProperty: true }))
            .map((p) => {
                const r = p.getBoundingClientRect();
                return [p.innerText, r.bottom > 0 && r.top < innerHeight];
            })"""
    )
    on_screen = [loose(text) for text, shown in paragraphs if shown]
    off_screen = [loose(text) for text, shown in paragraphs if not shown]
    assert on_screen and any("renovated public library" in p for p in off_screen)
    page.evaluate(OBSERVE)

    assert scan.start() == {"ok": True}
    state = scan.wait_done()
    # Scanning changed nothing in the page's DOM: no node, no attribute, no text.
    assert page.evaluate("() => window.mutations") == []
    # Visible text first: every paragraph on the screen went before every one off it.
    sent = [loose(t) for t in scan.hook("(hook) => hook.sentOrder()")]
    assert set(on_screen + off_screen) <= set(sent), (paragraphs, sent)
    assert max(map(sent.index, on_screen)) < min(map(sent.index, off_screen)), sent
    underlined = scan.underlined()
    print(f"underlined: {underlined}")
    biased = [loose(t) for t in underlined["biased"]]
    for sentence in planted:
        assert sentence in biased, (sentence, underlined)
    # The underlines are the server's verdicts, sentence by sentence; nothing that is not shown
    # was read.
    everything = biased + [loose(t) for t in underlined["review"]]
    if everything:
        again = server_labels(srllm_server, everything)
        assert all(again[s] == "biased" for s in biased), again
        assert all(again[loose(s)] == "review" for s in underlined["review"]), again
    for hidden in NOT_SHOWN:
        assert not any(hidden in s for s in everything), hidden
    assert state["fields"] == 1, "the textarea is counted as not scanned"
    assert state["counts"]["biased"] == len(biased)
    assert [f["text"] for f in state["flagged"] if f["label"] == "biased"] == underlined["biased"]
    assert scan.badge() == str(len(biased))
    browser.screenshot(page, "scan-article")
    # (Playwright's screenshot sets a textarea's style and puts it back: not ours.)
    page.evaluate("() => { window.mutations = []; }")

    # A click on an underline far down the article opens the card for that sentence.
    target = planted[-1]
    scan.click(target)
    assert card.wait_for_verdict() in ("Neutral", "Slightly biased", "Highly biased")
    assert loose(card.part("excerpt").text_content()) == target
    rewrite = card.wait_for_rewrite()
    assert rewrite.strip() and loose(rewrite) != target
    # The card is the only node the extension ever added (or changed).
    records = page.evaluate("() => window.mutations")
    assert records, "the card was added to the page"
    assert all(card_record(r) for r in records), records
    browser.screenshot(page, "scan-article-card")

    # Clear underlines (the popup's button): the underlines and the badge go.
    page.keyboard.press("Escape")
    assert scan.clear() == {"ok": True}
    assert scan.underlined() == {"biased": [], "review": []}
    assert scan.badge() == ""
    assert scan.state()["status"] == "none"


def test_the_scan_honours_the_allow_list(browser, srllm_server, page_url):
    """A planted sentence whose every content word the user allowed is not underlined; the other
    planted one still is, as the server labels it. Every word, not only the card's
    highlights: the untuned test model may name a word it does not show ("with computers", a
    guess), which keeps the sentence biased, and which words it names depends on the CPU's
    rounding."""
    labels = server_labels(srllm_server, [OLD, WOMEN])
    assert labels[OLD] == "biased", f"the model does not label {OLD!r} biased: {labels}"
    flag = srllm_server.post("/v1/flag", {"text": OLD})
    assert flag["spans"], flag
    allow = [s["text"].lower() for s in flag["spans"]]
    words = [w.strip(".").lower() for w in OLD.split()]
    allow += [w for w in words if w not in contract.FUNCTION_WORDS and w not in allow]
    assert not set(allow) & set(WOMEN.lower().split()), allow  # WOMEN is still checked
    page, _card, scan = open_scan(
        browser, srllm_server.url, page_url, "article.html", allowTerms=allow
    )
    assert scan.start() == {"ok": True}
    scan.wait_done()
    underlined = [loose(t) for t in scan.underlined()["biased"] + scan.underlined()["review"]]
    assert OLD not in underlined, (allow, underlined)
    if labels[WOMEN] == "biased" and not set(allow) & set(WOMEN.lower().split()):
        assert WOMEN in underlined, underlined
    page.close()


def open_popup(browser, scan: Scan):
    """The toolbar popup, opened as a page about the scanned tab (popup.html?tab=ID: opened as
    a page, its own tab would be the active one)."""
    origin = browser.worker.url.split("/background.js")[0]
    popup = browser.context.new_page()
    popup.goto(f"{origin}/popup/popup.html?tab={scan.tab_id}")
    return popup


def test_popup_scans_and_its_list_opens_the_card_from_the_keyboard(browser, srllm_server, page_url):
    page, card, scan = open_scan(browser, srllm_server.url, page_url, "article.html")
    labels = server_labels(srllm_server, [OLD, WOMEN])
    planted = [s for s in (OLD, WOMEN) if labels[s] == "biased"]
    assert planted, f"the model labels neither planted sentence biased: {labels}"
    popup = open_popup(browser, scan)
    popup.locator("#site").wait_for()
    assert popup.text_content("#site-switch-label") == "Turn off on 127.0.0.1"
    popup.click("#scan-start")
    # The summary replaces the progress when the scan is done.
    popup.locator("#scan-status", has_text="to review in").wait_for(timeout=MODEL_TIMEOUT_MS)
    assert popup.locator("#scan-clear").is_visible()
    items = popup.locator("#scan-list button")
    texts = items.all_text_contents()
    print(f"popup list: {texts}")
    assert len(texts) == len(scan.state()["flagged"])
    browser.screenshot(popup, "scan-popup")
    # Keyboard only: focus the sentence in the list, press Enter; the page opens its card.
    items.filter(has_text=planted[0]).focus()
    popup.keyboard.press("Enter")
    card.wait_for_verdict()
    assert loose(card.part("excerpt").text_content()) == planted[0]
    assert loose(page.evaluate("() => getSelection().toString()")) == planted[0]


def test_popup_stop_cancels_a_waiting_scan_and_site_switch(browser, srllm_server, page_url):
    page, card, scan = open_scan(browser, srllm_server.url, page_url, "draft.html")
    popup = open_popup(browser, scan)
    popup.locator("#site").wait_for()
    with model_busy(srllm_server):
        popup.click("#scan-start")
        # The scan waits at the server behind the busy model: stop it from the popup.
        wait_until(lambda: srllm_server.stats()["queued"] >= 1, 60, "the scan to reach the server")
        popup.locator("#scan-stop").wait_for()
        popup.click("#scan-stop")
        popup.locator("#scan-status", has_text="Stopped.").wait_for()
        # The extension dropped its request: the server takes it out of the queue.
        wait_until(lambda: srllm_server.stats()["queued"] == 0, 60, "the server to drop the scan")
    assert scan.state()["status"] == "stopped"
    assert scan.underlined() == {"biased": [], "review": []}

    # "Turn off on this site": saved in the settings, and the next scan is refused.
    popup.check("#site-switch")
    popup.locator("#scan-status", has_text="srllm is off on 127.0.0.1").wait_for()
    stored = browser.worker.evaluate(
        "async () => (await chrome.storage.local.get('settings')).settings.offSites"
    )
    assert stored == ["127.0.0.1"]
    assert popup.locator("#scan-start").is_disabled()
    assert scan.start()["kind"] == "site_off"
    popup.uncheck("#site-switch")
    wait_until(
        lambda: (
            browser.worker.evaluate(
                "async () => (await chrome.storage.local.get('settings')).settings.offSites"
            )
            == []
        ),
        10,
        "the site to be on again",
    )


def test_stop_scan_in_the_card_of_an_underline_stops_the_scan(browser, srllm_server, page_url):
    page, card, scan = open_scan(browser, srllm_server.url, page_url, "long.html")
    assert server_labels(srllm_server, [OLD])[OLD] == "biased"
    before = srllm_server.stats()
    assert scan.start() == {"ok": True}
    # Visible text first: the sentence on the screen is underlined while the long rest is read.
    wait_until(
        lambda: OLD in [loose(t) for t in scan.underlined()["biased"]],
        MODEL_TIMEOUT_MS / 1000,
        "the first underline",
    )
    assert scan.state()["status"] == "running"
    assert not card.host.count(), "no card before the click"
    scan.click("useless with computers")
    # Its check waits behind the scan at the server; the card offers to stop the scan.
    card.wait_for_status("Waiting for another check")
    card.button("stop-scan").wait_for()
    assert card.button("stop-scan").text_content() == "Stop scan"
    browser.screenshot(page, "scan-stop-from-card")
    card.button("stop-scan").click()
    card.button("stop-scan").wait_for(state="hidden")
    state = scan.state()
    assert state["status"] == "stopped", state
    assert state["progress"]["segments"] < state["progress"]["total"], state
    # The server dropped the scan between two windows of sentences (the popup's Stop does the
    # same), and the check that waited behind it gets the model.
    wait_until(
        lambda: srllm_server.stats()["cancelled"] == before["cancelled"] + 1,
        60,
        "the server to cancel the scan",
    )
    card.wait_for_verdict()
    assert loose(card.part("excerpt").text_content()) == OLD
    # Nothing more comes: the underlines and the final badge (no "…") stay as they are.
    underlined = scan.underlined()
    count = str(len(underlined["biased"]))
    wait_until(lambda: scan.badge() == count, 10, "the badge to show the final count")
    time.sleep(3)
    assert scan.underlined() == underlined
    assert scan.badge() == count
    assert scan.state()["status"] == "stopped"


def test_draft_replace_from_an_underline(browser, srllm_server, page_url):
    page, card, scan = open_scan(browser, srllm_server.url, page_url, "draft.html")
    labels = server_labels(srllm_server, [WOMEN])
    assert labels[WOMEN] == "biased", f"the model no longer labels the sentence biased: {labels}"
    page.evaluate(OBSERVE)

    assert scan.start() == {"ok": True}
    scan.wait_done()
    assert page.evaluate("() => window.mutations") == []
    before = scan.underlined()
    assert WOMEN in [loose(t) for t in before["biased"]]
    assert scan.badge() == str(len(before["biased"]))

    scan.click("too emotional")
    card.wait_for_verdict()
    assert loose(card.part("excerpt").text_content()) == WOMEN
    rewrite = card.wait_for_rewrite()
    print(f"rewrite: {rewrite!r}")
    card.button("replace").click()
    card.wait_for_status("Replaced.")
    paragraphs = page.evaluate(
        "() => [...document.querySelectorAll('#draft p')].map((p) => p.innerText)"
    )
    second = loose(paragraphs[1])
    assert WOMEN not in second
    assert second.startswith("We reviewed the budget for the next quarter.")
    assert second.endswith("The hiring plan will be discussed again next week.")
    assert loose(rewrite) in second
    assert [loose(p) for p in (paragraphs[0], paragraphs[-1])] == [
        "Notes from the planning meeting on Monday.",
        "Thanks to everyone who helped with the release.",
    ]
    # The page saw ordinary edits (its own undo works). After the pause, the replaced sentence's
    # underline goes; those of its neighbours, moved or collapsed by the edit, are put back.
    assert page.evaluate("() => window.inputEvents")
    expected = {
        "biased": [loose(t) for t in before["biased"] if loose(t) != WOMEN],
        "review": [loose(t) for t in before["review"]],
    }

    def underlines() -> dict[str, list[str]]:
        return {k: [loose(t) for t in v] for k, v in scan.underlined().items()}

    wait_until(lambda: underlines() == expected, 10, "the underlines to follow the edit")
    wait_until(
        lambda: scan.badge() == str(len(before["biased"]) - 1), 10, "the badge to count one less"
    )
    browser.screenshot(page, "scan-draft-replaced")


# Neutral paragraphs appended to the draft (distinct, ~50 words each) to make it a long one.
LENGTHEN = """(count) => {
    const draft = document.querySelector('#draft');
    for (let i = 1; i <= count; i++) {
        const p = document.createElement('p');
        p.textContent = `Item ${i} of the plan: the team reviewed the schedule, the budget and `
            + `the open questions for part ${i}, and agreed to meet again on day ${i + 2}. `
            + `Notes for part ${i} are in the shared folder, with the figures from week ${i} `
            + `and a short list of the tasks that are still open for the group.`;
        draft.append(p);
    }
    return draft.innerText.split(/\\s+/).filter(Boolean).length;
}"""


@pytest.mark.parametrize("paragraphs", [0, 40], ids=["short", "2000-words"])
def test_check_as_i_type_rescans_only_the_edited_block(browser, srllm_server, page_url, paragraphs):
    page, card, scan = open_scan(
        browser, srllm_server.url, page_url, "draft.html", checkAsYouType=True
    )
    if paragraphs:  # a long draft: typing still sends only the paragraph typed in
        assert page.evaluate(LENGTHEN, paragraphs) >= 2000
    assert server_labels(srllm_server, [OLD])[OLD] == "biased"
    assert scan.start() == {"ok": True}
    scan.wait_done()
    before = scan.underlined()
    assert OLD not in [loose(t) for t in before["biased"]]
    # Type a sentence at the end of the last paragraph, as the user would.
    page.evaluate(
        """() => {
            const last = document.querySelector('#draft p:last-child');
            document.querySelector('#draft').focus();
            const range = document.createRange();
            range.selectNodeContents(last);
            range.collapse(false);
            getSelection().removeAllRanges();
            getSelection().addRange(range);
        }"""
    )
    page.keyboard.type(" " + OLD)
    wait_until(
        lambda: OLD in [loose(t) for t in scan.underlined()["biased"]],
        MODEL_TIMEOUT_MS / 1000,
        "the typed sentence to be underlined",
    )
    # Only the edited paragraph went to the server; the other underlines stayed as they were.
    assert scan.hook("(hook) => hook.lastSent()") == 1
    after = scan.underlined()
    assert [t for t in after["biased"] if loose(t) != OLD] == before["biased"]
    assert card.host.count() == 0, "typing opens no card"


def test_site_off_and_tab_pause_refuse_scans_and_checks(browser, page_url):
    # No server at this URL: a scan that went ahead would fail as "server down", not refuse.
    page, card, scan = open_scan(
        browser, f"http://127.0.0.1:{free_port()}", page_url, "article.html", offSites=["127.0.0.1"]
    )
    page.evaluate(OBSERVE)
    refused = scan.start()
    assert refused["ok"] is False and refused["kind"] == "site_off", refused
    assert "127.0.0.1" in card.wait_for_failure("site_off")
    assert scan.state()["status"] == "none"
    assert scan.underlined() == {"biased": [], "review": []}
    assert scan.badge() == ""
    card.button("dismiss").click()
    assert browser.check(scan.url)["kind"] == "site_off"
    card.wait_for_failure("site_off")
    card.button("dismiss").click()

    # Back on for the site, paused on this tab: refused again, with the tab's reason.
    browser.configure(offSites=[])
    scan.pause(True)
    assert scan.start()["kind"] == "paused"
    card.wait_for_failure("paused")
    card.button("dismiss").click()
    assert scan.state()["status"] == "none"
    # Resumed: the scan goes ahead, and fails only because no server answers; the badge and
    # the popup say why.
    scan.pause(False)
    assert scan.start() == {"ok": True}
    state = scan.wait_finished()
    assert state["status"] == "failed" and "not running" in state["error"]["title"], state
    wait_until(lambda: scan.badge() == "!", 10, "the badge to say that the scan failed")
    others = [m for m in page.evaluate("() => window.mutations") if not card_record(m)]
    assert others == [], "only the refusals' cards came and went"


def test_only_listed_sites_refuse_the_others_and_the_popup_turns_one_on(
    browser, srllm_server, page_url
):
    page, card, scan = open_scan(browser, srllm_server.url, page_url, "index.html")
    # Options: srllm only on the listed sites, and this one (127.0.0.1) is not listed.
    origin = browser.worker.url.split("/background.js")[0]
    options = browser.context.new_page()
    options.goto(f"{origin}/options/options.html")
    assert options.is_checked("input[name=siteMode][value=everywhere]"), "the default"
    options.check("input[name=siteMode][value=listed]")
    options.fill("#onSites", "www.example.com")
    options.click("button[type=submit]")
    options.locator("#result", has_text="Saved.").wait_for()
    stored = browser.worker.evaluate(
        "async () => (await chrome.storage.local.get('settings')).settings"
    )
    assert (stored["siteMode"], stored["onSites"], stored["offSites"]) == (
        "listed",
        ["example.com"],
        [],
    )

    # A check here is refused with the per-site notice, which says how to turn the site on.
    page.bring_to_front()
    select_in_textarea(page, "#draft", "Intro line.")
    refused = browser.check(page_url)
    assert refused["ok"] is False and refused["kind"] == "site_off", refused
    message = card.wait_for_failure("site_off")
    assert "127.0.0.1 is not one of them" in message and "Sites where srllm is on" in message
    assert card.shadow_eval("(root) => root.querySelector('.title').textContent") == (
        "srllm is off on this site"
    )
    assert scan.start()["kind"] == "site_off"
    card.button("dismiss").click()

    # The popup's switch says what it does in this mode, and turns the site on.
    popup = open_popup(browser, scan)
    popup.locator("#site").wait_for()
    assert popup.text_content("#site-switch-label") == "Turn on for 127.0.0.1"
    assert not popup.is_checked("#site-switch")
    assert popup.locator("#scan-status", has_text="srllm is off on 127.0.0.1.").is_visible()
    assert popup.locator("#scan-start").is_disabled()
    popup.check("#site-switch")
    wait_until(lambda: not popup.locator("#scan-start").is_disabled(), 10, "the scan button")

    def on_sites() -> list[str]:
        return browser.worker.evaluate(
            "async () => (await chrome.storage.local.get('settings')).settings.onSites"
        )

    assert on_sites() == ["127.0.0.1", "example.com"]
    # Listed now: the check goes ahead and the model answers.
    page.bring_to_front()
    select_in_textarea(page, "#draft", "Intro line.")
    assert browser.check(page_url) == {"ok": True}
    card.wait_for_verdict()
    # Off again from the popup: the site leaves the list, the off-list stays empty.
    popup.uncheck("#site-switch")
    wait_until(lambda: on_sites() == ["example.com"], 10, "the site to leave the list")
    assert (
        browser.worker.evaluate(
            "async () => (await chrome.storage.local.get('settings')).settings.offSites"
        )
        == []
    )
