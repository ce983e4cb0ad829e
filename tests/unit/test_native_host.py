"""The native messaging host: framing, who is calling, the requests, stdout hygiene, and the
start/reuse/restart decisions (with the server's answers scripted). The real server started by
the real host: tests/integration/test_native_host.py and tests/e2e/test_native_pairing.py."""

from __future__ import annotations

import io
import json
import os
import struct
import subprocess
import sys
import time
from types import SimpleNamespace

import pytest

from srllm import native_host
from srllm.errors import Code, SrllmError
from srllm.native_host import (
    CHROME_EXTENSION_ID,
    ProtocolError,
    ServerState,
    caller_origin,
    encode_message,
    read_message,
    serve_pipe,
)

CHROME_ORIGIN = f"chrome-extension://{CHROME_EXTENSION_ID}"
FIREFOX_ORIGIN = "moz-extension://0b1d2e3f-4a5b-6c7d-8e9f-0123456789ab"


def frame(payload: bytes) -> bytes:
    return struct.pack("=I", len(payload)) + payload


def frames(data: bytes) -> list[dict]:
    stream, out = io.BytesIO(data), []
    while (message := read_message(stream)) is not None:
        out.append(message)
    return out


# -- framing -------------------------------------------------------------------------------


def test_a_message_is_its_length_in_native_byte_order_then_utf8_json():
    data = encode_message({"type": "status", "text": "é"})
    body = '{"type":"status","text":"é"}'.encode()
    assert data == struct.pack("=I", len(body)) + body
    assert int.from_bytes(data[:4], sys.byteorder) == len(body)


def test_messages_round_trip_one_after_another_and_eof_between_them_is_the_end():
    stream = io.BytesIO(encode_message({"a": 1}) + encode_message({"b": [2, "x"]}))
    assert read_message(stream) == {"a": 1}
    assert read_message(stream) == {"b": [2, "x"]}
    assert read_message(stream) is None


class Trickle(io.RawIOBase):
    """A pipe that hands over one byte per read."""

    def __init__(self, data: bytes):
        self.data = data

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        chunk, self.data = self.data[:1], self.data[1:]
        return chunk


def test_a_message_split_across_reads_is_put_together():
    assert read_message(Trickle(encode_message({"type": "connect"}))) == {"type": "connect"}


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (b"\x05\x00", "inside a message's length"),
        (frame(b'{"a": 1}')[:-2], "closed after"),
        (struct.pack("=I", native_host.MAX_MESSAGE_BYTES + 1), "over"),
        (frame(b"[1, 2]"), "not a JSON object"),
        (frame(b"{nope"), "not UTF-8 JSON"),
        (frame(b'"\xff"'), "not UTF-8 JSON"),
    ],
)
def test_malformed_frames_are_refused(data, why):
    with pytest.raises(ProtocolError, match=why):
        read_message(io.BytesIO(data))


def test_a_reply_over_the_browsers_limit_is_refused_before_it_is_written():
    with pytest.raises(ProtocolError, match="over"):
        encode_message({"x": "a" * native_host.MAX_MESSAGE_BYTES})


# -- who is calling ------------------------------------------------------------------------


def test_chrome_names_the_caller_in_argv_and_the_message_cannot_override_it():
    assert caller_origin([f"{CHROME_ORIGIN}/"], "moz-extension://evil") == CHROME_ORIGIN
    # Windows adds --parent-window after the origin.
    assert caller_origin([f"{CHROME_ORIGIN}/", "--parent-window=0"], None) == CHROME_ORIGIN


def test_firefox_passes_manifest_and_add_on_id_and_the_origin_comes_from_the_message():
    argv = ["/home/u/.mozilla/native-messaging-hosts/srllm.native_host.json", "srllm@srllm.invalid"]
    assert caller_origin(argv, f"{FIREFOX_ORIGIN}/") == FIREFOX_ORIGIN


@pytest.mark.parametrize(
    ("argv", "requested"),
    [
        ([], None),
        (["/path/manifest.json", "srllm@srllm.invalid"], "https://example.com"),
        (["chrome-extension://UPPER/"], None),
        (["chrome-extension://a/b/"], None),
        ([], "moz-extension://x\r\nInjected: yes"),
    ],
)
def test_an_unknown_or_malformed_caller_is_refused(argv, requested):
    with pytest.raises(SrllmError) as info:
        caller_origin(argv, requested)
    assert info.value.code is Code.BAD_REQUEST


# -- requests over the pipe ----------------------------------------------------------------


def run_pipe(*messages: dict, argv=(f"{CHROME_ORIGIN}/",), raw: bytes = b"") -> tuple[int, list]:
    stdin = io.BytesIO(b"".join(encode_message(m) for m in messages) + raw)
    stdout = io.BytesIO()
    code = serve_pipe(stdin, stdout, list(argv))
    return code, frames(stdout.getvalue())


def test_status_says_where_the_server_is_and_whether_it_answers(monkeypatch):
    monkeypatch.setenv("SRLLM_PORT", "9123")
    monkeypatch.setattr(
        native_host, "probe", lambda url, *a: 200 if url.endswith(":9123") else None
    )
    code, replies = run_pipe({"type": "status"})
    assert code == 0
    assert replies == [
        {
            "type": "status",
            "version": native_host.__version__,
            "url": "http://127.0.0.1:9123",
            "running": True,
            "log": str(native_host.paths.log_dir() / "server.log"),
        }
    ]


def test_connect_hands_over_url_and_token_after_its_progress(monkeypatch):
    seen = {}

    def ensure(origin, on_starting):
        seen["origin"] = origin
        on_starting("http://127.0.0.1:8765", "/logs/server.log")
        return native_host.Ready("http://127.0.0.1:8765", "tok" * 10, started=True)

    monkeypatch.setattr(native_host, "ensure_server", ensure)
    code, replies = run_pipe({"type": "connect", "origin": "moz-extension://ignored"})
    assert code == 0 and seen["origin"] == CHROME_ORIGIN
    assert replies == [
        {"type": "starting", "url": "http://127.0.0.1:8765", "log": "/logs/server.log"},
        {
            "type": "ready",
            "url": "http://127.0.0.1:8765",
            "token": "tok" * 10,
            "started": True,
            "version": native_host.__version__,
        },
    ]


def test_errors_are_replies_and_the_host_keeps_answering(monkeypatch):
    def ensure(origin, on_starting):
        raise SrllmError(Code.MODEL_MISSING, "no model: pass --model PATH")

    monkeypatch.setattr(native_host, "ensure_server", ensure)
    monkeypatch.setattr(native_host, "probe", lambda *a: None)
    code, replies = run_pipe({"type": "connect"}, {"type": "nope"}, {"type": "status"})
    assert code == 0
    assert replies[0] == {
        "type": "error",
        "code": "model_missing",
        "message": "no model: pass --model PATH",
    }
    assert replies[1]["code"] == "bad_request" and "nope" in replies[1]["message"]
    assert replies[2]["type"] == "status" and replies[2]["running"] is False


def test_a_bug_is_an_internal_error_reply_not_a_dead_pipe(monkeypatch):
    def ensure(origin, on_starting):
        raise RuntimeError("boom")

    monkeypatch.setattr(native_host, "ensure_server", ensure)
    _, replies = run_pipe({"type": "connect"})
    assert replies == [{"type": "error", "code": "internal_error", "message": "boom"}]


def test_a_malformed_frame_gets_an_error_and_the_host_exits():
    code, replies = run_pipe(raw=frame(b"[]"))
    assert code == 1 and replies[0]["code"] == "bad_request"


STRAY_OUTPUT = """
import os, sys
from srllm import native_host
handle = native_host.handle
def noisy(message, argv, send):
    print("stray print")
    os.write(1, b"stray C-level write")
    handle(message, argv, send)
native_host.handle = noisy
sys.exit(native_host.main())
"""


def test_the_process_writes_only_frames_to_stdout(tmp_path):
    """As the launcher runs it, with a handler that prints and writes to file descriptor 1:
    the browser's pipe still gets nothing but frames."""
    env = {**os.environ, "SRLLM_HOME": str(tmp_path), "SRLLM_PORT": "9"}
    out = subprocess.run(
        [sys.executable, "-c", STRAY_OUTPUT, f"{CHROME_ORIGIN}/"],
        input=encode_message({"type": "status"}) + encode_message({"type": "status"}),
        capture_output=True,
        env=env,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert [r["type"] for r in frames(out.stdout)] == ["status", "status"]
    assert frames(out.stdout)[0]["running"] is False
    assert b"stray print" in out.stderr and b"stray C-level write" in out.stderr
    assert (tmp_path / "logs" / "native-host.log").is_file()


# -- start, reuse, restart -----------------------------------------------------------------


class Script:
    """The server's answers to probe(), in order, and what the host did."""

    def __init__(self, monkeypatch, answers, ours=False, state=None):
        self.answers = list(answers)
        self.started: list[list[str]] = []
        self.stopped: list[int] = []
        monkeypatch.setattr(native_host, "probe", self.probe)
        monkeypatch.setattr(native_host, "start_server", self.start)
        monkeypatch.setattr(native_host, "stop_server", lambda s: self.stopped.append(s.pid))
        monkeypatch.setattr(native_host, "_is_our_server", lambda s, url: ours)
        monkeypatch.setattr(native_host, "POLL_S", 0.0)
        if state is not None:
            state.write()

    def probe(self, url, token=None, origin=None):
        return self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]

    def start(self, origins, url):
        self.started.append(origins)
        state = ServerState(4242, url, origins, "/logs/server.log")
        state.write()
        return SimpleNamespace(pid=4242, poll=lambda: None), state


@pytest.fixture
def state_dir():
    folder = native_host.paths.native_host_dir()
    folder.mkdir(parents=True)
    return folder


def test_a_server_that_answers_and_accepts_the_caller_is_reused(monkeypatch, state_dir):
    script = Script(monkeypatch, [200])
    ready = native_host.ensure_server(CHROME_ORIGIN)
    assert ready.started is False and ready.url == "http://127.0.0.1:8765"
    assert ready.token == native_host.paths.token_file().read_text().strip()
    assert script.started == []


def test_nothing_answering_starts_one_server_for_the_caller(monkeypatch, state_dir):
    script = Script(monkeypatch, [None, None, 200])
    progress = []
    ready = native_host.ensure_server(CHROME_ORIGIN, lambda url, log: progress.append(log))
    assert ready.started is True
    assert script.started == [[CHROME_ORIGIN]]
    assert progress == ["/logs/server.log"]
    assert ServerState.read().origins == [CHROME_ORIGIN]


def test_a_restart_keeps_the_origins_it_served(monkeypatch, state_dir):
    old = ServerState(1, "http://127.0.0.1:8765", [CHROME_ORIGIN], "/logs/server.log")
    script = Script(monkeypatch, [200, 403, 200], ours=True, state=old)
    ready = native_host.ensure_server(FIREFOX_ORIGIN)
    assert ready.started is True
    assert script.stopped == [1]
    assert script.started == [[FIREFOX_ORIGIN, CHROME_ORIGIN]]


@pytest.mark.parametrize(
    ("answer", "code", "says"),
    [
        (401, Code.UNAUTHORIZED, "another token"),
        (403, Code.FORBIDDEN, "does not accept this extension"),
        (404, Code.BAD_CONFIG, "something else answers"),
    ],
)
def test_a_server_the_host_did_not_start_is_never_stopped(
    monkeypatch, state_dir, answer, code, says
):
    script = Script(monkeypatch, [answer])
    with pytest.raises(SrllmError, match=says) as info:
        native_host.ensure_server(CHROME_ORIGIN)
    assert info.value.code is code
    assert script.started == [] and script.stopped == []


def test_a_server_that_dies_while_starting_says_why(monkeypatch, state_dir, tmp_path):
    log = tmp_path / "server.log"
    log.write_text("srllm: loading\nsrllm: error: no model: pass --model PATH\nTraceback\n")
    monkeypatch.setattr(native_host, "probe", lambda *a: None)
    monkeypatch.setattr(native_host, "POLL_S", 0.0)

    def start(origins, url):
        return SimpleNamespace(pid=1, poll=lambda: 1), ServerState(1, url, origins, str(log))

    monkeypatch.setattr(native_host, "start_server", start)
    with pytest.raises(SrllmError, match="stopped while starting: srllm: error: no model"):
        native_host.ensure_server(CHROME_ORIGIN)


def test_the_state_file_survives_garbage():
    ServerState.path().parent.mkdir(parents=True)
    ServerState.path().write_text("{not json")
    assert ServerState.read() is None
    ServerState.path().write_text(json.dumps({"pid": "x", "url": "u"}))
    assert ServerState.read() is None


def test_a_recycled_pid_is_not_our_server(state_dir):
    state = ServerState(os.getpid(), "http://127.0.0.1:8765", [], "")
    # This pytest process is alive, but it is not `srllm serve`.
    assert native_host._is_our_server(state, state.url) is False
    assert native_host._is_our_server(None, state.url) is False


LOCK_WAITER = """
import sys, time
from pathlib import Path
from srllm.native_host import locked
start = time.monotonic()
with locked(Path(sys.argv[1])):
    print(round(time.monotonic() - start, 1))
"""


def test_the_lock_is_exclusive_between_processes(state_dir):
    lock = state_dir / "lock"
    with native_host.locked(lock):
        waiter = subprocess.Popen(
            [sys.executable, "-c", LOCK_WAITER, str(lock)], stdout=subprocess.PIPE, text=True
        )
        with pytest.raises(subprocess.TimeoutExpired):
            waiter.wait(timeout=1.5)  # still waiting: the lock is held
    out, _ = waiter.communicate(timeout=30)
    assert waiter.returncode == 0 and float(out) > 0.5  # it waited, then got it


@pytest.mark.skipif(os.name == "nt", reason="POSIX processes")
def test_a_process_that_exited_is_not_alive_even_before_it_is_reaped():
    pid = os.posix_spawn(sys.executable, [sys.executable, "-c", "pass"], os.environ)
    deadline = time.monotonic() + 30
    while native_host.pid_alive(pid):  # reaps it (our own child) once it has exited
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert native_host.pid_alive(os.getpid())
    assert not native_host.pid_alive(0)
