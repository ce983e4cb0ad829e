"""Async access to the blocking engine: a fair queue, a result cache, cancellation.

One generation runs at a time per model context. asyncio.Lock hands the context to waiters in
arrival order, so requests are served first come, first served. Work runs in a thread; a
threading.Event set on client disconnect stops the generation between two tokens, and the
context is released only when the thread has really finished with it.

A streamed call that has to wait for the model says so: `Queued(position)` when it starts
waiting, again whenever its place in the line changes and at least every KEEPALIVE_S seconds (a
keep-alive, so a client can tell a long queue from a dead server), then `Started()` when it gets
the model. A call that gets the model at once sees neither. Leaving while queued (a closed
stream) takes the call out of the line without ever touching the model.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from typing import TypeVar

from srllm.errors import Code, SrllmError
from srllm.server import task
from srllm.server.engine import Engine

T = TypeVar("T")
_DONE = object()
KEEPALIVE_S = 5.0  # how often a waiting stream hears its position, at the latest


@dataclass(frozen=True)
class Queued:
    position: int  # 1: next to run (only the running call is ahead)


@dataclass(frozen=True)
class Started:
    """The call has the model now (sent only after Queued)."""


class ModelRunner:
    def __init__(self, engine: Engine, cache_size: int = 256, keepalive_s: float = KEEPALIVE_S):
        self.engine = engine
        self.cache = task.Cache(cache_size)  # per sentence, keyed by model and threshold
        self.task = task.Task(engine, self.cache)
        self.keepalive_s = keepalive_s
        # One call at a time on the embedded llama.cpp context; an upstream engine (server/
        # upstream.py) batches concurrent requests itself, so up to its `concurrency` run at once.
        slots = getattr(engine, "concurrency", 1)
        self._lock = asyncio.Lock() if slots == 1 else asyncio.Semaphore(slots)
        self._stats = {"generations": 0, "cancelled": 0, "queued": 0}
        self._line: list[object] = []  # the waiting calls, in arrival order (asyncio.Lock's)
        self._moved = asyncio.Event()  # set (and replaced) whenever the line moves

    @property
    def stats(self) -> dict:
        return {**self._stats, "cache_hits": self.cache.hits}

    @property
    def model_name(self) -> str:
        return self.engine.info.name

    async def _acquire(self) -> None:
        async for _ in self._acquire_reporting(report=False):
            pass

    def _line_moved(self) -> None:
        self._moved.set()
        self._moved = asyncio.Event()

    async def _acquire_reporting(self, report: bool = True) -> AsyncIterator[Queued | Started]:
        """Take the model in arrival order. With `report`, a call that has to wait yields
        Queued(position) at once, on every move up the line and every keepalive_s seconds;
        the model is held when it ends."""
        if not self._lock.locked() and not self._line:
            await self._lock.acquire()
            return
        loop = asyncio.get_running_loop()
        ticket = object()
        self._line.append(ticket)
        self._stats["queued"] += 1
        acquiring = asyncio.ensure_future(self._lock.acquire())
        try:
            reported, at = 0, 0.0
            while not acquiring.done():
                position = self._line.index(ticket) + 1
                if report and (position != reported or loop.time() - at >= self.keepalive_s):
                    reported, at = position, loop.time()
                    yield Queued(position)
                moved = asyncio.ensure_future(self._moved.wait())
                wait_s = max(0.0, self.keepalive_s - (loop.time() - at)) if report else None
                try:
                    await asyncio.wait(
                        {acquiring, moved}, timeout=wait_s, return_when=asyncio.FIRST_COMPLETED
                    )
                finally:
                    moved.cancel()
            acquiring.result()
        except BaseException:
            # The client left while queued: out of the line; a lock it got meanwhile goes on.
            if not acquiring.cancel() and not acquiring.cancelled() and not acquiring.exception():
                self._lock.release()
            raise
        finally:
            self._line.remove(ticket)
            self._stats["queued"] -= 1
            self._line_moved()

    def _release_when_done(self, future: asyncio.Future, cancel: threading.Event) -> None:
        def release(_: asyncio.Future) -> None:
            self._stats["cancelled" if cancel.is_set() else "generations"] += 1
            self._lock.release()

        future.add_done_callback(release)

    async def iterate(
        self,
        make_iter: Callable[[threading.Event], Iterator[T]],
        cancel: threading.Event,
        report_queue: bool = False,
    ) -> AsyncIterator[T | Queued | Started]:
        """Stream items of a blocking iterator produced in a thread, with the context held;
        with `report_queue`, first Queued... and Started when the call had to wait."""
        if not report_queue:
            await self._acquire()
        else:
            waited = False
            async with contextlib.aclosing(self._acquire_reporting()) as line:
                async for queued in line:
                    waited = True
                    yield queued
            if waited:
                try:
                    yield Started()
                except BaseException:  # closed right after getting the model: hand it on
                    self._lock.release()
                    raise
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
        self,
        text: str,
        mode: task.Mode | str,
        cancel: threading.Event,
        rewrite_all: bool = False,
        options: task.Options | None = None,
        report_queue: bool = False,
    ) -> AsyncIterator[task.Event | Queued | Started]:
        """The task's events for one selection, computed in a thread with the model held;
        with `report_queue`, Queued... and Started first when the call had to wait."""
        return self.iterate(
            lambda c: self.task.run(text, mode, c, rewrite_all, options), cancel, report_queue
        )

    async def run(
        self,
        text: str,
        mode: task.Mode | str,
        cancel: threading.Event,
        rewrite_all: bool = False,
        options: task.Options | None = None,
    ) -> dict:
        """The final payload of one call (the JSON routes). The events are read to their end,
        so a finished call is never mistaken for one its client left."""
        payload = None
        async for event in self.events(text, mode, cancel, rewrite_all, options):
            if isinstance(event, task.Done):
                payload = event.payload
        if payload is None:
            raise SrllmError(Code.CANCELLED, "generation cancelled")
        return payload
