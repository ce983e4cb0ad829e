"""The runner's queueing, caching and cancellation, around a stand-in engine.

The stand-in only records calls and yields tokens; the real engine is exercised by the
integration tests.
"""

import asyncio
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace

from server import contract
from server.runner import LRUCache, ModelRunner


class StandInEngine:
    def __init__(self):
        self.info = SimpleNamespace(path="stand-in.gguf", name="stand-in")
        self.active = 0
        self.max_active = 0
        self.order: list[str] = []
        self.stopped_early = threading.Event()

    def _enter(self, text):
        self.active += 1
        self.max_active = max(self.max_active, self.active)
        self.order.append(text)

    def flag(self, text, cancel):
        self._enter(text)
        time.sleep(0.01)
        self.active -= 1
        return contract.Flag(contract.Label.NEUTRAL)

    def stream_rewrite(self, text, cancel):
        self._enter(text)
        produced = 0
        try:
            for i in range(50):
                if cancel.is_set():
                    return
                time.sleep(0.005)
                produced += 1
                yield f"w{i} "
        finally:
            if produced < 50:  # stopped by the cancel flag or by closing the generator
                self.stopped_early.set()
            self.active -= 1


def run(main):
    """asyncio.run in a thread of its own: a session fixture (Playwright's sync API) may keep
    an event loop running in the main thread."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, main()).result()


def test_lru_cache_evicts_least_recent():
    cache = LRUCache(2)
    cache.put(("a",), 1)
    cache.put(("b",), 2)
    assert cache.get(("a",)) == 1
    cache.put(("c",), 3)
    assert cache.get(("b",)) is None and cache.get(("a",)) == 1 and len(cache) == 2
    LRUCache(0).put(("x",), 1)


def test_one_generation_at_a_time_in_arrival_order():
    engine = StandInEngine()

    async def main():
        runner = ModelRunner(engine)
        texts = [f"t{i}" for i in range(8)]
        await asyncio.gather(*(runner.flag(t, threading.Event()) for t in texts))
        return texts

    texts = run(main)
    assert engine.max_active == 1
    assert engine.order == texts


def test_repeated_requests_are_answered_from_the_cache():
    engine = StandInEngine()

    async def main():
        runner = ModelRunner(engine)
        first = await runner.rewrite("same", threading.Event())
        second = await runner.rewrite("same", threading.Event())
        await runner.flag("same", threading.Event())
        await runner.flag("same", threading.Event())
        return runner, first, second

    runner, first, second = run(main)
    assert first == second and first.startswith("w0 w1")
    assert engine.order == ["same", "same"]  # one rewrite, one flag
    assert runner.stats["cache_hits"] == 2


def test_a_consumer_that_leaves_stops_generation_and_frees_the_context():
    engine = StandInEngine()

    async def main():
        runner = ModelRunner(engine)
        cancel = threading.Event()
        stream = runner.stream_rewrite("long", cancel)
        assert await anext(stream) == "w0 "
        await stream.aclose()  # what a disconnect does to the response generator
        # The next request gets the context once the worker thread has really stopped.
        await asyncio.wait_for(runner.flag("next", threading.Event()), timeout=10)
        return runner

    runner = run(main)
    assert engine.stopped_early.is_set()
    assert runner.stats["cancelled"] == 1
    assert engine.max_active == 1
    assert runner.cache.get(("rewrite", "long", "stand-in.gguf")) is None  # partial not cached


def test_a_cached_rewrite_streams_what_a_fresh_one_streams():
    """The cache keeps the raw generation, so cleaning the streamed text gives the same
    rewrite on a hit as on a miss (cleaning twice would strip nested quotes twice)."""

    class QuotingEngine(StandInEngine):
        def stream_rewrite(self, text, cancel):
            yield from ['"', "'inner'", '"']

    engine = QuotingEngine()

    async def main():
        runner = ModelRunner(engine)
        streamed = []
        for _ in range(2):
            parts = [d async for d in runner.stream_rewrite("x", threading.Event())]
            streamed.append(contract.clean_rewrite("".join(parts), original="x"))
        return streamed, await runner.rewrite("x", threading.Event()), runner

    streamed, rewritten, runner = run(main)
    assert streamed == ["'inner'", "'inner'"] == [rewritten, rewritten]
    assert runner.stats["cache_hits"] == 2
