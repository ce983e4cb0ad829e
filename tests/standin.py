"""A scripted stand-in for server.engine.Engine, for unit tests of the logic around the model.

It answers from tables given by the test: the flag of each sentence, the rewrite of each
sentence (and the rewrite when told to avoid words), and records every call, so a test can
assert exactly what the task asked the model.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from types import SimpleNamespace

from srllm import contract


class StandInInfo(SimpleNamespace):
    def __init__(self):
        super().__init__(path="stand-in.gguf", name="stand-in", finetuned=True, n_ctx=2048,
                         file_type="Q8_0", n_gpu_layers=0, flag_threshold=0.5,
                         rewriter=None, scan=None)  # fmt: skip

    def as_dict(self) -> dict:
        return dict(self.__dict__)


class ScriptedEngine:
    def __init__(
        self,
        flags: dict[str, contract.Flag] | None = None,
        rewrites: dict[str, str] | None = None,
        guided: dict[str | tuple[str, tuple[str, ...]], str] | None = None,
        sampled: dict[tuple[str, int], str] | None = None,
        delay: float = 0.0,
    ):
        self.info = StandInInfo()
        self.flags = flags or {}
        self.rewrites = rewrites or {}
        self.guided = guided or {}
        self.sampled = sampled or {}  # (text, sample) -> the sample-th sampled rewrite
        self.delay = delay
        self.calls: list[tuple] = []
        self.active = 0
        self.max_active = 0
        self.stopped_early = threading.Event()

    def _enter(self, *call) -> None:
        self.calls.append(call)
        self.active += 1
        self.max_active = max(self.max_active, self.active)

    def flag(
        self, text: str, cancel: threading.Event | None = None, threshold: float | None = None
    ) -> contract.Flag:
        """The scripted flag; like the engine, a biased one whose p_biased is under the
        threshold (the calibrated one unless given) comes back neutral."""
        self._enter("flag", text)
        try:
            time.sleep(self.delay)
            flag = self.flags.get(text, contract.Flag(contract.Label.NEUTRAL, p_biased=0.1))
            cut = self.info.flag_threshold if threshold is None else threshold
            if flag.biased and flag.p_biased is not None and flag.p_biased < cut:
                return contract.Flag(contract.Label.NEUTRAL, p_biased=flag.p_biased)
            return flag
        finally:
            self.active -= 1

    def label_probabilities(self, text: str) -> dict[contract.Label, float]:
        self.calls.append(("score", text))
        flag = self.flags.get(text)
        p = 0.1 if flag is None else flag.p_biased
        return {
            contract.Label.NEUTRAL: 1.0 - p,
            contract.Label.SLIGHTLY_BIASED: p,
            contract.Label.HIGHLY_BIASED: 0.0,
        }

    def stream_rewrite(
        self,
        text: str,
        cancel: threading.Event | None = None,
        avoid: list[str] | None = None,
        sample: int = 0,
    ) -> Iterator[str]:
        # ("rewrite", text, avoid), with the sample's number after it for a sampled rewrite
        self._enter("rewrite", text, tuple(avoid or ()), *([sample] if sample else []))
        # A guided answer scripted for these pushed-down words, else for the text; else the plain
        # one (pushing down words the model would not say changes nothing). A sample without a
        # script of its own repeats that answer.
        answer = self.rewrites.get(text, text)
        if avoid:
            answer = self.guided.get((text, tuple(avoid)), self.guided.get(text, answer))
        answer = self.sampled.get((text, sample), answer)
        pieces = answer.split(" ")
        produced = 0
        try:
            for i, piece in enumerate(pieces):
                if cancel is not None and cancel.is_set():
                    return
                time.sleep(self.delay)
                produced += 1
                yield piece if i == len(pieces) - 1 else piece + " "
        finally:
            if produced < len(pieces):
                self.stopped_early.set()
            self.active -= 1

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    def rewrite_budget(self, text: str) -> int:
        return 2 * self.count_tokens(text) + 32

    def max_text_tokens(self) -> int:
        return 1000

    def check_length(self, text: str) -> int:
        return self.count_tokens(text)

    def warm_up(self) -> None:
        self.calls.append(("warm_up",))

    def scan_engine(self):
        return self  # as an Engine without a scan model

    def close(self) -> None:
        pass


def biased(
    words: list[str], categories: list[str], highly: bool = False, p: float = 0.9
) -> contract.Flag:
    label = contract.Label.HIGHLY_BIASED if highly else contract.Label.SLIGHTLY_BIASED
    return contract.Flag(label, categories, words, contract.explain(label, categories, words), p)


STANDIN_TOKEN = "unit-test-token-0123456789abcdef"


def app_client(engine, settings=None, **client_kwargs):
    """The real app (guards, routes, serialisation) around `engine`, through Starlette's client."""
    from pathlib import Path

    from starlette.testclient import TestClient

    from srllm.server.app import create_app
    from srllm.server.settings import ServerSettings

    app = create_app(
        settings or ServerSettings(),
        STANDIN_TOKEN,
        model_path=Path("stand-in.gguf"),
        engine_factory=lambda _: engine,
    )
    headers = {"Authorization": f"Bearer {STANDIN_TOKEN}"}
    return TestClient(app, base_url="http://127.0.0.1:8765", headers=headers, **client_kwargs)


def sse_events(response) -> list[tuple[str, dict]]:
    """(event name, JSON data) of each server-sent event, in order."""
    import json

    out, name = [], None
    for line in response.text.splitlines():
        if line.startswith("event: "):
            name = line[7:]
        elif line.startswith("data: "):
            out.append((name, json.loads(line[6:])))
    return out
