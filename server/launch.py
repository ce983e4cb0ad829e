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
from collections.abc import Iterator
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
        deadline = time.monotonic() + timeout
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"server exited early:\n{server.log_text()}")
            if _healthy(url):
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"server not ready in {timeout}s:\n{server.log_text()}")
            time.sleep(0.2)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False
