"""Async access to the blocking engine: a fair queue, a result cache, cancellation.

One generation runs at a time per model context. asyncio.Lock hands the context to waiters in
arrival order, so requests are served first come, first served. Work runs in a thread; a
threading.Event set on client disconnect stops the generation between two tokens, and the
context is released only when the thread has really finished with it.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from typing import TypeVar

from srllm.errors import Code, SrllmError
from srllm.server import task
from srllm.server.engine import Engine

T = TypeVar("T")
_DONE = object()


class ModelRunner:
    def __init__(self, engine: Engine, cache_size: int = 256):
        self.engine = engine
        self.cache = task.Cache(cache_size)  # per sentence, keyed by model and threshold
        self.task = task.Task(engine, self.cache)
        self._lock = asyncio.Lock()
        self._stats = {"generations": 0, "cancelled": 0, "queued": 0}

    @property
    def stats(self) -> dict:
        return {**self._stats, "cache_hits": self.cache.hits}

    @property
    def model_name(self) -> str:
        return self.engine.info.name

    async def _acquire(self) -> None:
        self._stats["queued"] += 1
        try:
            await self._lock.acquire()
        finally:
            self._stats["queued"] -= 1

    def _release_when_done(self, future: asyncio.Future, cancel: threading.Event) -> None:
        def release(_: asyncio.Future) -> None:
            self._stats["cancelled" if cancel.is_set() else "generations"] += 1
            self._lock.release()

        future.add_done_callback(release)

    async def iterate(
        self, make_iter: Callable[[threading.Event], Iterator[T]], cancel: threading.Event
    ) -> AsyncIterator[T]:
        """Stream items of a blocking iterator produced in a thread, with the context held."""
        await self._acquire()
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue = asyncio.Queue()

        def work() -> None:
            try:
                for item in make_iter(cancel):
                    loop.call_soon_threadsafe(queue.put_nowait, (item, None))
                    if cancel.is_set():
                        break
            except BaseException as exc:  # handed to the consumer, raised there
                loop.call_soon_threadsafe(queue.put_nowait, (_DONE, exc))
            else:
                loop.call_soon_threadsafe(queue.put_nowait, (_DONE, None))

        future = loop.run_in_executor(None, work)
        self._release_when_done(future, cancel)
        finished = False
        try:
            while True:
                item, exc = await queue.get()
                if item is _DONE:
                    finished = True
                    if exc is not None:
                        raise exc
                    return
                yield item
        finally:
            if not finished:
                cancel.set()  # the consumer left (disconnect): stop generating

    # -- the contract's tasks ---------------------------------------------------------------

    def events(
        self, text: str, mode: task.Mode | str, cancel: threading.Event, rewrite_all: bool = False
    ) -> AsyncIterator[task.Event]:
        """The task's events for one selection, computed in a thread with the model held."""
        return self.iterate(lambda c: self.task.run(text, mode, c, rewrite_all), cancel)

    async def run(
        self, text: str, mode: task.Mode | str, cancel: threading.Event, rewrite_all: bool = False
    ) -> dict:
        """The final payload of one call (the JSON routes). The events are read to their end,
        so a finished call is never mistaken for one its client left."""
        payload = None
        async for event in self.events(text, mode, cancel, rewrite_all):
            if isinstance(event, task.Done):
                payload = event.payload
        if payload is None:
            raise SrllmError(Code.CANCELLED, "generation cancelled")
        return payload
