"""The Starlette application: `create_app(settings)`; the model is loaded in the lifespan.

Run it with `srllm serve` (see srllm/cli.py), not by importing a module-level app.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from srllm import contract, paths
from srllm.errors import Code, SrllmError
from srllm.server import language, requests, scan, security, task
from srllm.server.engine import Engine
from srllm.server.http_errors import INTERNAL, error_bytes, error_response
from srllm.server.middleware import GuardMiddleware
from srllm.server.openapi import openapi_spec
from srllm.server.runner import ModelRunner, Queued, Started
from srllm.server.settings import ServerSettings

log = logging.getLogger("srllm.server")
T = TypeVar("T")


def _runner(request: Request) -> ModelRunner:
    return request.app.state.runner


def _settings(request: Request) -> ServerSettings:
    return request.app.state.settings


# -- cancellation --------------------------------------------------------------------------


async def _until_disconnect(request: Request, cancel: threading.Event) -> None:
    while True:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            cancel.set()
            return


async def cancellable(request: Request, work: Callable[[threading.Event], Awaitable[T]]) -> T:
    """Run work(cancel); a client that disconnects sets cancel, which stops its generation."""
    cancel = threading.Event()
    watcher = asyncio.create_task(_until_disconnect(request, cancel))
    try:
        return await work(cancel)
    finally:
        watcher.cancel()


def sse(event: str, data: Any) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n".encode()


def sse_error(error: SrllmError) -> bytes:
    return b"event: error\ndata: " + error_bytes(error) + b"\n\n"


# -- payloads ------------------------------------------------------------------------------


async def _task_text(request: Request) -> tuple[dict, str]:
    data = await requests.read_object(request)
    text = requests.text_field(data, _settings(request).max_text_chars)
    _runner(request).engine.check_length(text)
    language.check(text)  # before the queue: the model reads English only
    return data, text


# -- routes --------------------------------------------------------------------------------


async def health(request: Request) -> Response:
    """Without the token: only that the server is up, its contract and that a model is loaded
    (no file paths, no counters); with it, the details the extension and tests read."""
    runner = _runner(request)
    public = {"status": "ok", "contract": contract.CONTRACT_VERSION, "model_loaded": True}
    if not security.token_matches(request.headers.get("authorization"), request.app.state.token):
        return JSONResponse(public)
    return JSONResponse(
        {
            **public,
            "model": runner.engine.info.as_dict(),
            "engine": await _engine_health(runner.engine),
            "contract": contract.CONTRACT_VERSION,
            "limits": {
                "max_text_chars": _settings(request).max_text_chars,
                "max_text_tokens": runner.engine.max_text_tokens(),
                "max_scan_chars": _settings(request).max_scan_chars,
                "max_scan_segments": _settings(request).max_scan_segments,
            },
            "stats": dict(runner.stats),
        }
    )


async def _engine_health(engine) -> dict:
    """Which engine serves; an upstream one (server/upstream.py) is asked whether it answers."""
    check = getattr(engine, "health", None)
    if check is None:
        return {"kind": "llama.cpp"}
    return await asyncio.to_thread(check)


async def _task_route(request: Request, mode: task.Mode) -> Response:
    """/v1/flag, /v1/rewrite and /v1/debias: one task run, serialised as JSON or as events."""
    data, text = await _task_text(request)
    runner = _runner(request)
    streamed = mode is not task.Mode.FLAG and requests.bool_field(data, "stream", False)
    every = mode is task.Mode.REWRITE and requests.bool_field(data, "all", False)
    options = requests.task_options(data)
    if not streamed:
        return JSONResponse(
            await cancellable(request, lambda c: runner.run(text, mode, c, every, options))
        )

    async def events() -> AsyncIterator[bytes]:
        cancel = threading.Event()
        try:
            async for event in runner.events(text, mode, cancel, every, options, True):
                yield sse_event(event)
        except SrllmError as exc:
            yield sse_error(exc)

    return StreamingResponse(events(), media_type="text/event-stream", headers=_SSE_HEADERS)


def sse_event(event: task.Event | Queued | Started) -> bytes:
    if isinstance(event, Queued):
        return sse("queued", {"position": event.position})
    if isinstance(event, Started):
        return sse("started", {})
    if isinstance(event, task.Progress):
        return sse("progress", event.as_dict())
    if isinstance(event, task.Flagged):
        return sse("flag", event.payload)
    if isinstance(event, task.Delta):
        return sse("delta", {"delta": event.text, "sentence": event.index})
    if isinstance(event, task.Rewritten):
        return sse("sentence", event.as_dict())
    return sse("done", event.payload)


async def flag(request: Request) -> Response:
    return await _task_route(request, task.Mode.FLAG)


async def rewrite(request: Request) -> Response:
    return await _task_route(request, task.Mode.REWRITE)


async def debias(request: Request) -> Response:
    return await _task_route(request, task.Mode.DEBIAS)


_SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


async def scan_route(request: Request) -> Response:
    """/v1/scan: every sentence's bias score and label (server/scan.py), as one JSON answer or
    as events: `start`, one `sentence` per sentence in order, `done` with the JSON answer."""
    data = await requests.read_object(request)
    settings = _settings(request)
    pairs, segmented = requests.scan_items(
        data, settings.max_scan_chars, settings.max_scan_segments
    )
    streamed = requests.bool_field(data, "stream", False)
    options = requests.task_options(data)
    runner = _runner(request)
    scanner = await _scanner(request)
    items = [scan.Item(text, sid) for sid, text in pairs]
    work = await asyncio.to_thread(scan.plan, items, segmented, scanner.engine)
    threshold = options.threshold(scanner.engine.info.flag_threshold)

    def run(cancel: threading.Event):
        return scanner.run(work, cancel, threshold, options, runner.task)

    if not streamed:

        async def whole(cancel: threading.Event) -> dict:
            payload = None  # read to the end, so a finished scan is not counted as cancelled
            async for event in runner.iterate(run, cancel):
                if isinstance(event, scan.Finished):
                    payload = event.payload
            if payload is None:
                raise SrllmError(Code.CANCELLED, "scan cancelled")
            return payload

        return JSONResponse(await cancellable(request, whole))

    async def events() -> AsyncIterator[bytes]:
        cancel = threading.Event()
        names = {scan.Started: "start", scan.Scored: "sentence", scan.Finished: "done"}
        try:
            async for event in runner.iterate(run, cancel, report_queue=True):
                if isinstance(event, Queued | Started):
                    yield sse_event(event)
                else:
                    yield sse(names[type(event)], event.payload)
        except SrllmError as exc:
            yield sse_error(exc)

    return StreamingResponse(events(), media_type="text/event-stream", headers=_SSE_HEADERS)


async def _scanner(request: Request) -> scan.Scanner:
    """One scanner per app on the engine that scores scans (the scan model, loaded off the event
    loop on the first scan, or the runner's own), with its own per-sentence score cache (off
    when the result cache is off)."""
    state = request.app.state
    async with state.scanner_lock:
        if getattr(state, "scanner", None) is None:
            size = scan.CACHE_SIZE if _settings(request).cache_size else 0
            scorer = await asyncio.to_thread(_runner(request).engine.scan_engine)
            state.scanner = scan.Scanner(scorer, task.Cache(size))
    return state.scanner


async def models(request: Request) -> Response:
    info = _runner(request).engine.info
    return JSONResponse(
        {
            "object": "list",
            "data": [
                {
                    "id": info.name,
                    "object": "model",
                    "created": 0,
                    "owned_by": "srllm",
                    "finetuned": info.finetuned,
                }
            ],
        }
    )


async def chat_completions(request: Request) -> Response:
    data = await requests.read_object(request)
    messages = requests.chat_messages(data)
    max_tokens = int(requests.number_field(data, "max_tokens", 256, 1, 4096, integer=True))
    temperature = float(requests.number_field(data, "temperature", 0.0, 0.0, 2.0))
    seed = requests.number_field(data, "seed", 0, 0, 2**31 - 1, integer=True)
    stop = requests.stop_field(data)
    stream = requests.bool_field(data, "stream", False)
    runner = _runner(request)
    engine = runner.engine
    prompt_tokens = engine.count_chat_tokens(messages)
    if prompt_tokens + max_tokens > engine.info.n_ctx:
        raise SrllmError(
            Code.TEXT_TOO_LONG,
            f"messages ({prompt_tokens} tokens) plus max_tokens ({max_tokens}) exceed the "
            f"context of {engine.info.n_ctx} tokens",
            limit=engine.info.n_ctx,
            unit="tokens",
        )
    completion_id = f"chatcmpl-{uuid.uuid4().hex[:24]}"
    created = int(time.time())
    model = runner.model_name

    def generate(cancel: threading.Event):
        return engine.stream_chat(
            messages,
            max_tokens=max_tokens,
            temperature=temperature,
            stop=stop,
            seed=int(seed),
            cancel=cancel,
        )

    def chunk(delta: dict, finish: str | None) -> bytes:
        body = {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }
        return f"data: {json.dumps(body, ensure_ascii=False)}\n\n".encode()

    if stream:

        async def events() -> AsyncIterator[bytes]:
            cancel = threading.Event()
            yield chunk({"role": "assistant", "content": ""}, None)
            finish = "stop"
            try:
                async for delta, reason in runner.iterate(generate, cancel):
                    if delta:
                        yield chunk({"content": delta}, None)
                    finish = reason or finish
            except SrllmError as exc:
                yield b"data: " + error_bytes(exc) + b"\n\n"
                return
            yield chunk({}, finish)
            yield b"data: [DONE]\n\n"

        return StreamingResponse(events(), media_type="text/event-stream", headers=_SSE_HEADERS)

    async def work(cancel: threading.Event) -> tuple[str, str]:
        parts, finish = [], "stop"
        async for delta, reason in runner.iterate(generate, cancel):
            parts.append(delta)
            finish = reason or finish
        return "".join(parts), finish

    content, finish = await cancellable(request, work)
    completion_tokens = engine.count_tokens(content)
    return JSONResponse(
        {
            "id": completion_id,
            "object": "chat.completion",
            "created": created,
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": content},
                    "finish_reason": finish,
                }
            ],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
        }
    )


async def openapi(request: Request) -> Response:
    return JSONResponse(openapi_spec())


# -- errors --------------------------------------------------------------------------------


async def on_srllm_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, SrllmError)
    return error_response(exc)


async def on_http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = {404: Code.NOT_FOUND, 405: Code.METHOD_NOT_ALLOWED}.get(
        exc.status_code, Code.BAD_REQUEST
    )
    return error_response(SrllmError(code, f"{request.method} {request.url.path}: {exc.detail}"))


async def on_unexpected(request: Request, exc: Exception) -> Response:
    log.exception("unexpected error on %s %s", request.method, request.url.path)
    return error_response(INTERNAL)


# -- the app -------------------------------------------------------------------------------


def describe_model(info: Any) -> str:
    """The start-up line about what serves: a local GGUF (its type, where it runs, whether it
    is the fine-tuned default or the untuned fallback) or an upstream engine (which says
    neither, so nor does this line)."""
    if getattr(info, "engine", "local") == "upstream":
        tuned = {True: "yes", False: "no"}.get(info.finetuned, "unknown (the engine does not say)")
        return f"model {info.name} from the upstream engine at {info.path} (fine-tuned: {tuned})"
    line = (
        f"model {info.name} ({info.file_type}, "
        f"{'GPU offload' if info.n_gpu_layers else 'CPU'}, fine-tuned: "
        f"{'yes' if info.finetuned else 'no, the untuned fallback'}) from {info.path}"
    )
    if info.rewriter:
        line += f"; rewrites by {info.rewriter['name']} from {info.rewriter['path']}"
    if info.scan:
        line += f"; scans by {info.scan['name']} from {info.scan['path']}"
    return line


def create_app(
    settings: ServerSettings,
    token: str,
    model_path: Path | None = None,
    engine_factory: Callable[..., Any] = Engine,
) -> Starlette:
    """Build the app; the model at model_path (default: resolved) loads when it starts."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        path = model_path or paths.resolve_model(settings.model)
        engine = await asyncio.to_thread(engine_factory, settings.engine_config(path))
        await asyncio.to_thread(engine.warm_up)
        app.state.runner = ModelRunner(engine, settings.cache_size)
        app.state.scanner_lock = asyncio.Lock()
        info = engine.info
        log.info("%s", describe_model(info))
        log.info("serving %s on http://%s:%d", info.name, settings.host, settings.port)
        try:
            yield
        finally:
            engine.close()

    routes = [
        Route("/health", health, methods=["GET"]),
        Route("/openapi.json", openapi, methods=["GET"]),
        Route("/v1/flag", flag, methods=["POST"]),
        Route("/v1/rewrite", rewrite, methods=["POST"]),
        Route("/v1/debias", debias, methods=["POST"]),
        Route("/v1/scan", scan_route, methods=["POST"]),
        Route("/v1/models", models, methods=["GET"]),
        Route("/v1/chat/completions", chat_completions, methods=["POST"]),
    ]
    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        exception_handlers={
            SrllmError: on_srllm_error,
            HTTPException: on_http_error,
            Exception: on_unexpected,
        },
    )
    app.state.settings = settings
    app.state.token = token
    app.add_middleware(GuardMiddleware, settings=settings, token=token)
    return app
