"""The runner's queueing, caching and cancellation, around a scripted stand-in engine.

The real engine is exercised by the integration tests.
"""

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from srllm.errors import SrllmError
from srllm.server import task
from srllm.server.runner import ModelRunner
from tests.standin import ScriptedEngine, biased

LONG = "Women are too emotional to lead."


def long_engine() -> ScriptedEngine:
    words = " ".join(f"w{i}" for i in range(50))
    return ScriptedEngine(
        flags={LONG: biased(["emotional"], ["gender"])}, rewrites={LONG: words}, delay=0.005
    )


def run(main):
    """asyncio.run in a thread of its own: a session fixture (Playwright's sync API) may keep
    an event loop running in the main thread."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, main()).result()


def test_cache_evicts_least_recent_and_size_zero_keeps_nothing():
    cache = task.Cache(2)
    cache.put(("a",), 1)
    cache.put(("b",), 2)
    assert cache.get(("a",)) == 1
    cache.put(("c",), 3)
    assert cache.get(("b",)) is None and cache.get(("a",)) == 1 and len(cache) == 2
    off = task.Cache(0)
    off.put(("x",), 1)
    assert off.get(("x",)) is None and len(off) == 0


def test_one_generation_at_a_time_in_arrival_order():
    engine = ScriptedEngine(delay=0.01)

    async def main():
        runner = ModelRunner(engine)
        texts = [f"Text number {i}." for i in range(8)]
        await asyncio.gather(*(runner.run(t, "flag", threading.Event()) for t in texts))
        return texts

    texts = run(main)
    assert engine.max_active == 1
    assert [c[1] for c in engine.calls] == texts


def test_repeated_requests_are_answered_from_the_cache_and_the_key_includes_the_model():
    engine = long_engine()

    async def main():
        runner = ModelRunner(engine)
        first = await runner.run(LONG, "rewrite", threading.Event())
        second = await runner.run(LONG, "rewrite", threading.Event())
        return runner, first, second

    runner, first, second = run(main)
    assert first == second and first["rewrite"].startswith("w0 w1")
    assert [c[0] for c in engine.calls] == ["flag", "rewrite", "score"]  # each once
    assert runner.stats["cache_hits"] == 3  # the flag, the rewrite and its residual score
    other = task.Task(engine, runner.cache)
    engine.info.path = "another.gguf"  # a different model never sees the first one's answers
    engine.calls.clear()
    task.collect(other.run(LONG, "flag"))
    assert engine.calls == [("flag", LONG)]


def test_a_consumer_that_leaves_stops_generation_and_frees_the_context():
    engine = long_engine()

    async def main():
        runner = ModelRunner(engine)
        cancel = threading.Event()
        stream = runner.events(LONG, "rewrite", cancel)
        async for event in stream:
            # The first token of the rewrite: leaving at its Progress event could race the
            # worker to the rewrite's first line, and then nothing would have started to stop.
            if isinstance(event, task.Delta) and event.index is not None:
                break
        await stream.aclose()  # what a disconnect does to the response generator
        # The next request gets the context once the worker thread has really stopped.
        await asyncio.wait_for(runner.run("Next one.", "flag", threading.Event()), timeout=10)
        return runner

    runner = run(main)
    assert engine.stopped_early.is_set()
    assert runner.stats["cancelled"] == 1
    assert engine.max_active == 1
    assert runner.cache.get(("rewrite", LONG, (), "stand-in.gguf", 0.5)) is None  # partial


def test_a_cancelled_call_is_reported_as_cancelled_not_as_bad_model_output():
    engine = long_engine()

    async def main():
        runner = ModelRunner(engine)
        cancel = threading.Event()
        cancel.set()
        await runner.run(LONG, "rewrite", cancel)

    with pytest.raises(SrllmError):
        run(main)
