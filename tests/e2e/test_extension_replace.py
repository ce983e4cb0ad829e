"""Replace in the editors people write in, against the real server and model: paragraphs and
<br> lines in a contenteditable, a textarea, a text input, and an editor that keeps its own model
(pages/model-editor.html, which behaves like ProseMirror or Lexical where it matters). Each test
checks the exact text before and after, and the page's or the card's undo. Also here: the card is
closed to the page, content scripts cannot read the token, email fields, and the popup's frame.

Run:  .venv/bin/python -m pytest -m e2e tests/e2e/test_extension_replace.py -v -s
"""

from __future__ import annotations

import pytest

from tests.e2e.conftest import TOKEN, Card, free_port

pytestmark = pytest.mark.e2e

FIRST = "Old people are slow and useless with technology."
SECOND = "The meeting starts at nine."
BEFORE = "Notes from Monday."
AFTER = "End of notes."


def nbsp(text: str) -> str:
    """Chromium types a no-break space for a second space in a row: compare it as a space."""
    return text.replace("\u00a0", " ")


def open_page(browser, server_url: str, page_url: str, name: str, token: str = TOKEN):
    browser.configure(serverUrl=server_url, token=token, timeoutSeconds=600)
    page = browser.context.new_page()
    url = page_url.replace("index.html", name)
    page.goto(url)
    return page, Card(page), url


def select_between(page, selector: str, first: str, last: str) -> str:
    """Select from the start of `first` to the end of `last` in a contenteditable; returns
    what selection.toString() says was selected."""
    return page.evaluate(
        """([selector, first, last]) => {
            const root = document.querySelector(selector);
            root.focus();
            const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
            let start = null;
            let end = null;
            for (let node = walker.nextNode(); node; node = walker.nextNode()) {
                if (!start && node.data.includes(first)) start = [node, node.data.indexOf(first)];
                if (node.data.includes(last)) end = [node, node.data.indexOf(last) + last.length];
            }
            const range = document.createRange();
            range.setStart(...start);
            range.setEnd(...end);
            getSelection().removeAllRanges();
            getSelection().addRange(range);
            return getSelection().toString();
        }""",
        [selector, first, last],
    )


def select_in_field(page, selector: str, text: str) -> None:
    page.evaluate(
        """([selector, text]) => {
            const field = document.querySelector(selector);
            const start = field.value.indexOf(text);
            if (start < 0) throw new Error("text not in field");
            field.focus();
            field.setSelectionRange(start, start + text.length);
        }""",
        [selector, text],
    )


def structure(page, selector: str) -> list[str]:
    """The editor's children as tokens: "#text" for text (adjacent text nodes merged: Chromium
    splits and joins them as it edits), "BR", and "TAG:text" for an element, a <br> inside it
    read as a line break. No-break spaces (Chromium types one for a second space) read as spaces."""
    return page.evaluate(
        """(selector) => {
            const text = (node) => node.nodeType === Node.TEXT_NODE ? node.data
                : node.tagName === "BR" ? "\\n" : [...node.childNodes].map(text).join("");
            const out = [];
            for (const node of document.querySelector(selector).childNodes) {
                if (node.nodeType === Node.TEXT_NODE) {
                    if (typeof out.at(-1) === "string" && out.at(-1).startsWith("#"))
                        out[out.length - 1] += node.data;
                    else out.push("#" + node.data);
                } else if (node.tagName === "BR") out.push("BR");
                else out.push(node.tagName + ":" + text(node));
            }
            return out.map((t) => t.replaceAll("\\u00a0", " "));
        }""",
        selector,
    )


def lines_structure(text: str) -> list[str]:
    """structure() of a <br>-lines editor holding `text`: one BR per line break."""
    tokens: list[str] = []
    for i, line in enumerate(text.split("\n")):
        if i:
            tokens.append("BR")
        if line:
            tokens.append("#" + line)
    return tokens


def passage_rewrite(card: Card, separator: str) -> str:
    """The rewrite of FIRST + separator + SECOND. The server keeps every character outside the
    sentences it rewrites, so the separator is still there (a model may add line breaks of its
    own inside a sentence: Replace keeps those too, as <br>s)."""
    rewrite = card.wait_for_rewrite()
    print(f"rewrite: {rewrite!r}")
    assert rewrite != FIRST + separator + SECOND
    assert separator in rewrite, repr(rewrite)
    return rewrite


def clean_passage_rewrite(card: Card) -> list[str]:
    """The rewrite of the two paragraphs as its two sentences, for an editor that keeps
    only paragraphs: a line break inside a sentence would become a paragraph there (as in
    Lexical), and the card would rightly say the text is not exactly the rewrite."""
    rewrite = passage_rewrite(card, "\n\n")
    parts = rewrite.split("\n\n")
    assert len(parts) == 2 and all(p.strip() and "\n" not in p for p in parts), (
        f"the model put line breaks inside a sentence: {rewrite!r}"
    )
    return parts


def replace(card: Card) -> str:
    card.button("replace").click()
    return card.wait_for_status("Replaced.")


@pytest.fixture(scope="module")
def server(finetuned_server):
    """The shipped default model: what users run, and what writes sentence rewrites (the
    untuned embedded model often wraps its rewrite in "<p>" lines)."""
    return finetuned_server


# ---- each editor kind ----------------------------------------------------------------------


@pytest.mark.parametrize("model", ["shipped", "embedded"])
def test_paragraphs_in_a_contenteditable_stay_paragraphs_and_ctrl_z_restores(
    browser, request, page_url, model
):
    """With the shipped model's sentence rewrite, and with the untuned embedded model's, which
    puts "<p>...</p>" lines of its own inside the sentence (they become <br>s)."""
    server = request.getfixturevalue("server" if model == "shipped" else "srllm_server")
    page, card, url = open_page(browser, server.url, page_url, "editors.html")
    original_html = page.inner_html("#rich")
    original = structure(page, "#rich")
    # selection.toString() reports the paragraph break as "\n\n"; range.toString() has none.
    assert select_between(page, "#rich", FIRST, SECOND) == f"{FIRST}\n\n{SECOND}"

    assert browser.check(url) == {"ok": True}
    rewrite = passage_rewrite(card, "\n\n")
    replace(card)
    # Each paragraph break of the rewrite is a paragraph again; a line break a model put inside
    # a sentence is a <br> (read as "\n" here).
    paragraphs = [f"P:{p}" for p in nbsp(rewrite).split("\n\n")]
    assert structure(page, "#rich") == [f"P:{BEFORE}", *paragraphs, f"P:{AFTER}"]
    assert card.button("undo").is_visible() and card.button("copy").is_visible()
    assert not card.button("replace").is_visible()
    events = page.evaluate("() => window.inputEvents")
    assert set(events) <= {"rich:insertText", "rich:insertParagraph", "rich:insertLineBreak"}
    browser.screenshot(page, f"replace-paragraphs-{model}")

    # The page's own undo: one step brings every paragraph back, as it was.
    page.keyboard.press("Control+z")
    assert page.inner_html("#rich") == original_html
    assert structure(page, "#rich") == original
    assert card.wait_for_status("Undone in the page.")
    assert not card.button("undo").is_visible()


def test_br_lines_in_a_contenteditable_stay_lines_and_the_cards_undo_restores(
    browser, server, page_url
):
    page, card, url = open_page(browser, server.url, page_url, "editors.html")
    original_html = page.inner_html("#lines")
    assert select_between(page, "#lines", FIRST, SECOND) == f"{FIRST}\n{SECOND}"

    assert browser.check(url) == {"ok": True}
    rewrite = passage_rewrite(card, "\n")
    replace(card)
    assert structure(page, "#lines") == lines_structure(f"{BEFORE}\n{nbsp(rewrite)}\n{AFTER}")
    assert "DIV" not in page.inner_html("#lines").upper()

    card.button("undo").click()
    card.wait_for_status("Original restored.")
    assert page.inner_html("#lines") == original_html
    # The browser's undo selects the original again: Replace is offered once more.
    assert card.button("replace").is_visible()
    assert not card.button("undo").is_visible()


def test_textarea_across_a_blank_line_and_ctrl_z(browser, server, page_url):
    page, card, url = open_page(browser, server.url, page_url, "editors.html")
    original = page.input_value("#draft")
    select_in_field(page, "#draft", f"{FIRST}\n\n{SECOND}")

    assert browser.check(url) == {"ok": True}
    rewrite = passage_rewrite(card, "\n\n")
    replace(card)
    assert page.input_value("#draft") == f"{BEFORE}\n{rewrite}\n{AFTER}"
    events = page.evaluate("() => window.inputEvents")
    assert set(events) <= {"draft:insertText", "draft:insertLineBreak"}, events

    page.keyboard.press("Control+z")
    assert page.input_value("#draft") == original


def test_text_input_and_the_cards_undo(browser, server, page_url):
    page, card, url = open_page(browser, server.url, page_url, "editors.html")
    original = page.input_value("#single")
    select_in_field(page, "#single", FIRST)

    assert browser.check(url) == {"ok": True}
    rewrite = card.wait_for_rewrite()
    assert rewrite.strip() and rewrite != FIRST and "\n" not in rewrite, repr(rewrite)
    replace(card)
    assert page.input_value("#single") == original.replace(FIRST, rewrite)

    card.button("undo").click()
    card.wait_for_status("Original restored.")
    assert page.input_value("#single") == original


def test_an_editor_with_its_own_model_takes_the_rewrite_and_undoes_it(browser, server, page_url):
    page, card, url = open_page(browser, server.url, page_url, "model-editor.html")
    original = page.evaluate("() => editorParagraphs()")
    assert original == [BEFORE, FIRST, SECOND, AFTER]
    assert select_between(page, "#editor", FIRST, SECOND) == f"{FIRST}\n\n{SECOND}"

    assert browser.check(url) == {"ok": True}
    first, second = clean_passage_rewrite(card)
    replace(card)
    # The editor applied it to its model (one beforeinput); nothing went around it.
    assert page.evaluate("() => editorParagraphs()") == [BEFORE, first, second, AFTER]
    assert page.evaluate("() => editorLog") == ["insertReplacementText"]

    # The card's Undo asks the editor (beforeinput historyUndo), as its own undo would.
    card.button("undo").click()
    card.wait_for_status("Original restored.")
    assert page.evaluate("() => editorParagraphs()") == original
    assert page.evaluate("() => editorLog") == ["insertReplacementText", "historyUndo"]

    # Again, and this time the editor's own Ctrl+Z (a keydown it handles; no input event).
    assert card.button("replace").is_visible()
    replace(card)
    assert page.evaluate("() => editorParagraphs()") == [BEFORE, first, second, AFTER]
    page.keyboard.press("Control+z")
    assert page.evaluate("() => editorParagraphs()") == original
    # The card's Undo now finds the original already back, and undoes nothing more.
    card.button("undo").click()
    card.wait_for_status("Original restored.")
    assert page.evaluate("() => editorParagraphs()") == original
    assert page.evaluate("() => editorLog").count("historyUndo") == 1
    browser.screenshot(page, "replace-model-editor")


def test_an_editor_that_refuses_the_rewrite_is_left_as_it_was(browser, server, page_url):
    page, card, url = open_page(
        browser, server.url, page_url, "model-editor.html?ignore=insertReplacementText"
    )
    original = page.evaluate("() => editorParagraphs()")
    select_between(page, "#editor", FIRST, SECOND)

    assert browser.check(url) == {"ok": True}
    passage_rewrite(card, "\n\n")
    card.button("replace").click()
    message = card.wait_for_status("This editor did not take the rewrite")
    assert "Copy" in message
    # The browser's own commands went to the DOM; the editor put its model back each time.
    assert page.evaluate("() => editorParagraphs()") == original
    assert "revert" in page.evaluate("() => editorLog")
    assert card.button("copy").is_visible()
    assert not card.button("replace").is_visible() and not card.button("undo").is_visible()
    browser.screenshot(page, "replace-refused")


def test_an_editor_that_changes_the_rewrite_is_reported_and_undone(browser, server, page_url):
    page, card, url = open_page(browser, server.url, page_url, "model-editor.html?firstline")
    original = page.evaluate("() => editorParagraphs()")
    select_between(page, "#editor", FIRST, SECOND)

    assert browser.check(url) == {"ok": True}
    first, _second = clean_passage_rewrite(card)
    card.button("replace").click()
    message = card.wait_for_status("The page changed the text while it went in")
    assert "Undo" in message and "Copy" in message
    # Half the rewrite went in: the card says so instead of calling it done, and offers Undo.
    assert page.evaluate("() => editorParagraphs()") == [BEFORE, first, AFTER]
    assert card.button("undo").is_visible() and card.button("copy").is_visible()
    card.button("undo").click()
    card.wait_for_status("Original restored.")
    assert page.evaluate("() => editorParagraphs()") == original
    browser.screenshot(page, "replace-mismatch")


# ---- fields, frames and what the page can reach (no model needed) ----------------------------


def test_an_email_field_is_checked_not_reported_empty(browser, page_url):
    page, card, url = open_page(
        browser, f"http://127.0.0.1:{free_port()}", page_url, "editors.html"
    )
    page.evaluate("() => { const f = document.getElementById('email'); f.focus(); f.select(); }")
    assert browser.check(url) == {"ok": True}
    # No server at that port: the check fails as "server down", after reading the selection.
    card.wait_for_failure("server_down")
    assert card.part("excerpt").text_content() == "old.people@example.com"
    assert not card.button("replace").is_visible()


def test_the_page_cannot_reach_into_the_card(browser, page_url):
    page, card, url = open_page(
        browser, f"http://127.0.0.1:{free_port()}", page_url, "editors.html"
    )
    select_in_field(page, "#draft", SECOND)
    assert browser.check(url) == {"ok": True}
    card.wait_for_failure("server_down")
    assert card.button("dismiss").is_visible() and card.button("retry").is_visible()

    # The page sees a host with no reachable root, and no button of the card anywhere.
    assert page.evaluate(
        """() => {
            const host = document.querySelector("[data-srllm=card]");
            return [host.shadowRoot, document.querySelectorAll("[data-action]").length];
        }"""
    ) == [None, 0]
    # Script-made events do nothing: an Escape from the page, and click() on Dismiss even
    # from the extension's own world, where the root is known.
    page.evaluate(
        """() => document.dispatchEvent(
            new KeyboardEvent("keydown", { key: "Escape", bubbles: true }))"""
    )
    card.shadow_eval("(root) => root.querySelector('[data-action=dismiss]').click()")
    page.wait_for_timeout(500)
    assert card.host.count() == 1
    # The user's own click works.
    card.button("dismiss").click()
    assert card.host.count() == 0


def test_content_scripts_cannot_read_the_token(browser, page_url):
    page, card, url = open_page(
        browser, f"http://127.0.0.1:{free_port()}", page_url, "editors.html"
    )
    select_in_field(page, "#draft", SECOND)
    assert browser.check(url) == {"ok": True}
    card.wait_for_failure("server_down")
    probe = """async () => {
        try {
            return "read " + JSON.stringify(await chrome.storage.local.get("settings"));
        } catch (error) {
            return "refused: " + error.message;
        }
    }"""
    read = card.shadow_eval(probe)
    assert read.startswith("refused"), read
    assert TOKEN not in read
    stored = browser.worker.evaluate(
        "async () => (await chrome.storage.local.get('settings')).settings.token"
    )
    assert stored == TOKEN, "the extension's own worker still reads it"
    # Control: with the default access level the same probe reads the token, so "refused"
    # above is the restriction at work.
    browser.worker.evaluate(
        "(level) => chrome.storage.local.setAccessLevel({ accessLevel: level })",
        "TRUSTED_AND_UNTRUSTED_CONTEXTS",
    )
    assert TOKEN in card.shadow_eval(probe)


def test_the_popup_checks_the_focused_frame(browser, page_url):
    browser.configure(serverUrl=f"http://127.0.0.1:{free_port()}", token=TOKEN)
    page = browser.context.new_page()
    url = page_url.replace("index.html", "frame.html")
    page.goto(url)
    page.frame_locator("#embedded").locator("#inner").click()  # focus moves into the frame
    inner = next(f for f in page.frames if f is not page.main_frame)
    inner.evaluate(
        """() => {
            const range = document.createRange();
            range.selectNodeContents(document.getElementById("inner"));
            getSelection().removeAllRanges();
            getSelection().addRange(range);
        }"""
    )
    popup = browser.context.new_page()
    origin = browser.worker.url.split("/background.js")[0]
    popup.goto(f"{origin}/popup/popup.html")
    # What the popup's "Check selection" sends, for the test page's tab.
    result = popup.evaluate(
        """async (prefix) => {
            const tabs = await chrome.tabs.query({});
            const tab = tabs.find((t) => (t.url || "").startsWith(prefix));
            const message = { type: "check/active-tab", data: { tabId: tab.id } };
            return chrome.runtime.sendMessage(message);
        }""",
        url,
    )
    assert result == {"ok": True}
    card = Card(page)
    card.wait_for_failure("server_down")
    # The card opened in the frame, with the frame's selection, and not in the top page.
    assert card.part("excerpt").text_content() == "Text inside an embedded frame."
    assert inner.locator("[data-srllm=card]").count() == 1
    assert page.main_frame.locator("[data-srllm=card]").count() == 0
