"""Async access to the blocking engine: a fair queue, a result cache, cancellation.

One generation runs at a time per model context. asyncio.Lock hands the context to waiters in
arrival order, so requests are served first come, first served. Work runs in a thread; a
threading.Event set on client disconnect stops the generation between two tokens, and the
context is released only when the thread has really finished with it.
"""

from __future__ import annotations

import asyncio
import threading
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any, TypeVar

from server import contract
from server.engine import Engine

T = TypeVar("T")
_DONE = object()


class LRUCache:
    def __init__(self, size: int):
        self.size = size
        self._items: OrderedDict[tuple, Any] = OrderedDict()

    def get(self, key: tuple) -> Any | None:
        if key not in self._items:
            return None
        self._items.move_to_end(key)
        return self._items[key]

    def put(self, key: tuple, value: Any) -> None:
        if self.size == 0:
            return
        self._items[key] = value
        self._items.move_to_end(key)
        while len(self._items) > self.size:
            self._items.popitem(last=False)

    def __len__(self) -> int:
        return len(self._items)


class ModelRunner:
    def __init__(self, engine: Engine, cache_size: int = 256):
        self.engine = engine
        self.cache = LRUCache(cache_size)
        self._lock = asyncio.Lock()
        self._model_key = engine.info.path
        self.stats = {"generations": 0, "cancelled": 0, "cache_hits": 0, "queued": 0}

    @property
    def model_name(self) -> str:
        return self.engine.info.name

    async def _acquire(self) -> None:
        self.stats["queued"] += 1
        try:
            await self._lock.acquire()
        finally:
            self.stats["queued"] -= 1

    def _release_when_done(self, future: asyncio.Future, cancel: threading.Event) -> None:
        def release(_: asyncio.Future) -> None:
            self.stats["cancelled" if cancel.is_set() else "generations"] += 1
            self._lock.release()

        future.add_done_callback(release)

    async def call(self, fn: Callable[[threading.Event], T], cancel: threading.Event) -> T:
        """Run fn(cancel) in a thread with the context held; cancelling this coroutine sets
        cancel, and the context is freed when fn returns."""
        await self._acquire()
        future = asyncio.get_running_loop().run_in_executor(None, fn, cancel)
        self._release_when_done(future, cancel)
        try:
            return await asyncio.shield(future)
        except asyncio.CancelledError:
            cancel.set()
            raise

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

    # -- the contract's tasks, cached --------------------------------------------------------

    def _key(self, task: str, text: str) -> tuple:
        return (task, text, self._model_key)

    async def flag(self, text: str, cancel: threading.Event) -> contract.Flag:
        key = self._key("flag", text)
        cached = self.cache.get(key)
        if cached is not None:
            self.stats["cache_hits"] += 1
            return cached
        flag = await self.call(lambda c: self.engine.flag(text, c), cancel)
        self.cache.put(key, flag)
        return flag

    async def rewrite(self, text: str, cancel: threading.Event) -> str:
        parts = [delta async for delta in self.stream_rewrite(text, cancel)]
        return contract.clean_rewrite("".join(parts), original=text)

    async def stream_rewrite(self, text: str, cancel: threading.Event) -> AsyncIterator[str]:
        """Token deltas; a cached rewrite arrives as one delta. What is cached is the raw
        generation, and only when it ran to its end: consumers clean the joined text once."""
        key = self._key("rewrite", text)
        cached = self.cache.get(key)
        if cached is not None:
            self.stats["cache_hits"] += 1
            yield cached
            return
        parts: list[str] = []
        async for delta in self.iterate(lambda c: self.engine.stream_rewrite(text, c), cancel):
            parts.append(delta)
            yield delta
        if not cancel.is_set():
            self.cache.put(key, "".join(parts))
