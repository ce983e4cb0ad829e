"""The native host starting the real `srllm serve` (embedded GGUF), as browsers run it: two
hosts at once start one server, which outlives them, answers only the paired extension, and is
restarted when a second extension (Firefox's per-install origin) connects."""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from srllm.native_host import CHROME_EXTENSION_ID, encode_message, read_message
from tests.support import free_port, running_server

CHROME_ORIGIN = f"chrome-extension://{CHROME_EXTENSION_ID}"
OTHER_EXTENSION = "chrome-extension://abcdefghijklmnopabcdefghijklmnop"
FIREFOX_ORIGIN = "moz-extension://0b1d2e3f-4a5b-6c7d-8e9f-0123456789ab"
FIREFOX_ARGV = ["/x/.mozilla/native-messaging-hosts/srllm.native_host.json", "srllm@srllm.invalid"]


def start_host(env: dict, argv: list[str], *messages: dict) -> subprocess.Popen:
    process = subprocess.Popen(
        [sys.executable, "-m", "srllm.native_host", *argv],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    process.stdin.write(b"".join(encode_message(m) for m in messages))
    process.stdin.close()  # the browser closing the port: the host ends after its replies
    process.stdin = None  # (communicate() would flush it)
    return process


def replies(process: subprocess.Popen, timeout: float = 300) -> list[dict]:
    out, err = process.communicate(timeout=timeout)
    assert process.returncode == 0, err.decode(errors="replace")
    stream, found = io.BytesIO(out), []
    while (message := read_message(stream)) is not None:
        found.append(message)
    return found


def models(url: str, token: str, origin: str) -> int:
    headers = {"Authorization": f"Bearer {token}", "Origin": origin}
    return httpx.get(f"{url}/v1/models", headers=headers, timeout=30).status_code


def read_state(env: dict) -> dict:
    path = Path(env["SRLLM_HOME"]) / "native-host" / "server.json"
    return json.loads(path.read_text(encoding="utf-8"))


@pytest.fixture
def host_env(tmp_path, model_path):
    env = {
        **os.environ,
        "SRLLM_HOME": str(tmp_path / "home"),
        "SRLLM_PORT": str(free_port()),
        "SRLLM_MODEL": str(model_path),  # no fine-tuned build: this test is about the host
        "SRLLM_THREADS": "2",
    }
    yield env
    with contextlib.suppress(OSError, ValueError, KeyError):  # stop what the hosts started
        os.kill(read_state(env)["pid"], signal.SIGTERM)


def test_hosts_start_one_server_that_outlives_them_and_answers_only_its_extensions(host_env):
    connect = {"type": "connect", "origin": "moz-extension://ignored-for-chrome"}
    first = start_host(host_env, [f"{CHROME_ORIGIN}/"], connect)
    time.sleep(0.5)
    second = start_host(host_env, [f"{CHROME_ORIGIN}/"], connect)
    a, b = replies(first), replies(second)
    ready = [r for r in a + b if r["type"] == "ready"]
    assert len(ready) == 2, a + b
    assert sorted(r["started"] for r in ready) == [False, True], "one start, one reuse"
    assert ready[0]["url"] == ready[1]["url"] == f"http://127.0.0.1:{host_env['SRLLM_PORT']}"
    assert ready[0]["token"] == ready[1]["token"]
    assert [r["type"] for r in a + b if r["type"] != "ready"] == ["starting"]
    url, token = ready[0]["url"], ready[0]["token"]

    # Both hosts have exited; the server runs on, in a session of its own.
    state = read_state(host_env)
    pid = state["pid"]
    os.kill(pid, 0)
    assert os.getsid(pid) != os.getsid(0)
    assert state["origins"] == [CHROME_ORIGIN]
    log = str(Path(host_env["SRLLM_HOME"]) / "logs" / "server.log")
    assert "started by the native host" in Path(log).read_text(encoding="utf-8")

    # CORS narrowed to the paired extension.
    assert models(url, token, CHROME_ORIGIN) == 200
    assert models(url, token, OTHER_EXTENSION) == 403
    assert models(url, token, FIREFOX_ORIGIN) == 403

    # Firefox's extension connects: the host restarts its server for both origins.
    firefox = replies(
        start_host(host_env, FIREFOX_ARGV, {"type": "connect", "origin": FIREFOX_ORIGIN})
    )
    assert firefox[-1]["type"] == "ready" and firefox[-1]["started"] is True
    assert firefox[-1]["token"] == token
    restarted = read_state(host_env)
    assert restarted["pid"] != pid and restarted["origins"] == [FIREFOX_ORIGIN, CHROME_ORIGIN]
    assert models(url, token, FIREFOX_ORIGIN) == 200
    assert models(url, token, CHROME_ORIGIN) == 200
    assert models(url, token, OTHER_EXTENSION) == 403

    # status starts nothing and sees it running.
    status = replies(start_host(host_env, [f"{CHROME_ORIGIN}/"], {"type": "status"}))
    assert status == [
        {
            "type": "status",
            "version": status[0]["version"],
            "url": url,
            "running": True,
            "log": log,
        }
    ]


def test_a_server_started_by_hand_is_reused(host_env, tmp_path):
    token = "hand-started-token-0123456789"
    (tmp_path / "hand").mkdir()
    with running_server(
        tmp_path / "hand", model=Path(host_env["SRLLM_MODEL"]), token=token, timeout=240
    ) as server:
        env = {**host_env, "SRLLM_PORT": server.url.rsplit(":", 1)[1], "SRLLM_TOKEN": token}
        out = replies(start_host(env, [f"{CHROME_ORIGIN}/"], {"type": "connect"}))
        assert out == [
            {
                "type": "ready",
                "url": server.url,
                "token": token,
                "started": False,
                "version": out[0]["version"],
            }
        ]
        assert not (Path(host_env["SRLLM_HOME"]) / "native-host" / "server.json").exists()
