"""An ASGI app on a real loopback socket, served by uvicorn in a thread: for clients that open
their own connections (srllm batch, the upstream engine), which Starlette's TestClient cannot
serve."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator

import uvicorn

from srllm.server.launch import free_port


@contextlib.contextmanager
def serve_app(app, timeout: float = 20.0) -> Iterator[str]:
    """Serve `app` (lifespan included) on a free port; yields its base URL."""
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name=f"uvicorn-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"the test server on port {port} did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout)
