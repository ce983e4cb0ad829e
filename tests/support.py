"""Start the real `srllm serve` in a subprocess on a free loopback port, for tests and benches."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

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

    def client(self, **kwargs) -> httpx.Client:
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
    cmd = [sys.executable, "-m", "server", "serve", "--port", str(port), *args]
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
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
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


def build_default_model(home: Path) -> None:
    """`srllm build-model` into `home`: the repo's adapter merged into the embedded GGUF."""
    built = subprocess.run(
        [sys.executable, "-m", "server", "build-model"],
        capture_output=True,
        text=True,
        env={**os.environ, "SRLLM_HOME": str(home)},
        timeout=600,
    )
    assert built.returncode == 0, built.stderr
