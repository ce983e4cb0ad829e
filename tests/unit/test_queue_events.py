"""A streamed call waiting behind another hears where it is in the line (`queued`, repeated as
a keep-alive), then `started`; one that leaves while queued never reaches the model."""

import asyncio
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from srllm.server import task
from srllm.server.runner import ModelRunner, Queued, Started
from tests.standin import ScriptedEngine, app_client, biased, sse_events

FIRST = "The first text holds the model."
OLD = "Old people are slow with technology."


class GatedEngine(ScriptedEngine):
    """Its flag of FIRST waits until the test opens the gate."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.gate = threading.Event()
        self.entered = threading.Event()

    def flag(self, text, cancel=None, threshold=None):
        if text == FIRST:
            self.entered.set()
            assert self.gate.wait(10), "the test never opened the gate"
        return super().flag(text, cancel, threshold)


def wait_until(predicate, what, timeout=10.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


def test_a_stream_behind_another_hears_its_position_then_started():
    # Each model call takes 50 ms: the third call sees itself move up while the second runs.
    engine = GatedEngine(flags={OLD: biased(["slow"], ["age"])}, delay=0.05)
    with app_client(engine) as client, ThreadPoolExecutor(3) as pool:
        runner = client.app.state.runner
        runner.keepalive_s = 0.05
        first = pool.submit(client.post, "/v1/flag", json={"text": FIRST})
        assert engine.entered.wait(10)
        second = pool.submit(client.post, "/v1/debias", json={"text": OLD, "stream": True})
        wait_until(lambda: runner.stats["queued"] == 1, "the second call to queue")
        third = pool.submit(client.post, "/v1/rewrite", json={"text": OLD, "stream": True})
        wait_until(lambda: runner.stats["queued"] == 2, "the third call to queue")
        time.sleep(0.3)  # several keep-alive periods
        engine.gate.set()
        assert first.result(10).status_code == 200
        got2, got3 = sse_events(second.result(10)), sse_events(third.result(10))
    names2 = [n for n, _ in got2]
    waiting = names2.index("started")
    assert waiting >= 3  # the first `queued` and at least two keep-alives
    assert got2[:waiting] == [("queued", {"position": 1})] * waiting
    assert got2[waiting] == ("started", {})
    assert names2[waiting + 1] == "progress" and names2[-1] == "done"
    positions3 = [d["position"] for n, d in got3 if n == "queued"]
    assert positions3[0] == 2 and positions3[-1] == 1 and positions3 == sorted(positions3)[::-1]
    assert [n for n, _ in got3].index("started") == len(positions3)
    assert runner.stats["queued"] == 0


def test_a_call_that_gets_the_model_at_once_hears_neither():
    with app_client(ScriptedEngine()) as client:
        got = sse_events(client.post("/v1/debias", json={"text": OLD, "stream": True}))
    names = [n for n, _ in got]
    assert "queued" not in names and "started" not in names and names[0] == "progress"


def run(main):
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, main()).result()


def test_leaving_while_queued_takes_the_call_out_of_the_line_without_the_model():
    engine = GatedEngine()

    async def main():
        runner = ModelRunner(engine, keepalive_s=0.05)
        holder = asyncio.ensure_future(runner.run(FIRST, "flag", threading.Event()))
        while not engine.entered.is_set():
            await asyncio.sleep(0.01)
        waiting = runner.events(OLD, "flag", threading.Event(), report_queue=True)
        assert await anext(waiting) == Queued(1)
        assert runner.stats["queued"] == 1
        await waiting.aclose()  # what a client that disconnects (or presses Stop) does
        assert runner.stats["queued"] == 0
        engine.gate.set()
        await holder
        while runner.stats["generations"] < 1:  # the model is handed back once its thread ends
            await asyncio.sleep(0.01)
        # The model is free for the next call, and the one that left never reached it.
        after = runner.events("Next one.", "flag", threading.Event(), report_queue=True)
        events = [e async for e in after]
        assert not any(isinstance(e, Queued | Started) for e in events)
        assert isinstance(events[-1], task.Done)

    run(main)
    assert ("flag", OLD) not in engine.calls and ("flag", "Next one.") in engine.calls


def test_leaving_right_after_started_hands_the_model_on():
    engine = GatedEngine()

    async def main():
        runner = ModelRunner(engine, keepalive_s=0.05)
        holder = asyncio.ensure_future(runner.run(FIRST, "flag", threading.Event()))
        while not engine.entered.is_set():
            await asyncio.sleep(0.01)
        waiting = runner.events(OLD, "flag", threading.Event(), report_queue=True)
        assert await anext(waiting) == Queued(1)
        engine.gate.set()
        while (event := await anext(waiting)) != Started():
            assert event == Queued(1)
        await waiting.aclose()
        await holder
        await asyncio.wait_for(runner.run("Next one.", "flag", threading.Event()), timeout=5)

    run(main)
    assert ("flag", OLD) not in engine.calls


def test_closing_the_connection_stops_the_generation_or_leaves_the_line():
    """What the card's Stop does to its HTTP request, over a real socket (uvicorn)."""
    import httpx

    from srllm.server.app import create_app
    from srllm.server.settings import ServerSettings
    from tests.live import serve_app
    from tests.standin import STANDIN_TOKEN

    long_rewrite = " ".join(f"w{i}" for i in range(400))
    engine = GatedEngine(flags={OLD: biased(["slow"], ["age"])}, rewrites={OLD: long_rewrite})
    engine.delay = 0.01  # 400 words: 4 s of rewrite, far longer than the test waits
    app = create_app(ServerSettings(cache_size=0), STANDIN_TOKEN, engine_factory=lambda _: engine)
    headers = {"Authorization": f"Bearer {STANDIN_TOKEN}"}
    with serve_app(app) as url, httpx.Client(base_url=url, headers=headers, timeout=30) as client:
        runner = app.state.runner
        with client.stream("POST", "/v1/debias", json={"text": OLD, "stream": True}) as r:
            for line in r.iter_lines():
                if line.startswith("data: ") and '"delta"' in line and '"sentence": 0' in line:
                    break  # the rewrite is streaming: Stop
        assert engine.stopped_early.wait(10), "the generation went on after the client left"
        wait_until(lambda: runner.stats["cancelled"] == 1, "the call to count as cancelled")
        # Queued behind a held model, then gone: out of the line, never at the model.
        holder = threading.Thread(
            target=client.post, args=("/v1/flag",), kwargs={"json": {"text": FIRST}}
        )
        holder.start()
        assert engine.entered.wait(10)
        with client.stream(
            "POST", "/v1/rewrite", json={"text": "Left while queued.", "stream": True}
        ) as r:
            for line in r.iter_lines():
                if line.startswith("event: queued"):
                    break
        wait_until(lambda: runner.stats["queued"] == 0, "the stream to leave the line")
        engine.gate.set()
        holder.join(10)
    assert ("flag", "Left while queued.") not in engine.calls
