"""Start `srllm serve` in a subprocess on a free loopback port and wait until /health answers.

Used by the integration tests and `just bench`; a client is an httpx.Client (the dev extra).
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

TOKEN = "integration-test-token-0123456789"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class RunningServer:
    url: str
    token: str
    process: subprocess.Popen
    log: Path

    def client(self, **kwargs):
        import httpx

        headers = {"Authorization": f"Bearer {self.token}"}
        return httpx.Client(base_url=self.url, headers=headers, timeout=120, **kwargs)

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


@contextlib.contextmanager
def running_server(
    home: Path, *args: str, model: Path | None = None, token: str = TOKEN, timeout: float = 60
) -> Iterator[RunningServer]:
    port = free_port()
    env = {**os.environ, "SRLLM_HOME": str(home), "SRLLM_TOKEN": token}
    cmd = [sys.executable, "-m", "srllm", "serve", "--port", str(port), *args]
    if model is not None:
        cmd += ["--model", str(model)]
    log = home / f"server-{port}.log"
    with log.open("w") as log_fh:
        process = subprocess.Popen(cmd, env=env, stdout=log_fh, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    server = RunningServer(url, token, process, log)
    try:
        wait_ready(process, lambda: answers(f"{url}/health"), timeout, server.log_text)
        yield server
    finally:
        stop(process)


def wait_ready(
    process: subprocess.Popen, ready: Callable[[], bool], timeout: float, log: Callable[[], str]
) -> None:
    """Poll `ready` until it is true; RuntimeError with the process's log if the process exits
    first or `timeout` seconds pass."""
    deadline = time.monotonic() + timeout
    while not ready():
        if process.poll() is not None:
            raise RuntimeError(f"server exited early:\n{log()}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"server not ready in {timeout}s:\n{log()}")
        time.sleep(0.2)


def stop(process: subprocess.Popen) -> None:
    """Terminate, and kill what does not end within 15 s."""
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def answers(url: str) -> bool:
    """Whether a GET of `url` answers 200 (within 2 s)."""
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False
