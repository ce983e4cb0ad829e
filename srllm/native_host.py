"""The native messaging host: how the browser extension starts the server and pairs with it.

The extension calls `runtime.connectNative("srllm.native_host")`; the browser runs the launcher
that `srllm extension install` wrote (srllm/native_install.py), which runs
`python -m srllm.native_host`. Each message, both ways, is UTF-8 JSON preceded by its length as a
4-byte unsigned integer in native byte order, on stdin/stdout. Nothing else may ever reach
stdout: this module moves file descriptor 1 aside before anything runs, and logs to
<user log dir>/native-host.log.

Requests from the extension, and the replies:

    {"type": "status"}              -> {"type": "status", "version", "url", "running", "log"}
    {"type": "connect", "origin"}   -> {"type": "starting", "url", "log"} when the server must
                                       start, then {"type": "ready", "url", "token", "started",
                                       "version"} or {"type": "error", "code", "message"}

`connect` reuses a server that answers on the configured address (SRLLM_PORT, default 8765) and
accepts the caller, and otherwise starts `srllm serve` in the background: in its own session (it
outlives the browser), logging to <user log dir>/server.log, one at a time (a lock in the data
dir: a second browser's host waits for the first, then reuses its server), with
`--extension-origin` so that it answers only the extension that asked. A server this host started
that does not know the caller's origin yet (Firefox's per-install moz-extension:// UUID, a copy
of the extension with another ID) is restarted with both. The token handed over is the one
`srllm serve` uses. Nothing runs at login unless the user opts in with `srllm extension
autostart on` (srllm/autostart.py): the login entry it writes runs this module with `--at-login`,
which starts the same server the same way, then exits. Otherwise the server starts when the
extension asks (a check, or the welcome page).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import struct
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import BinaryIO

from srllm import __version__, paths
from srllm.errors import Code, SrllmError

HOST_NAME = "srllm.native_host"
# The unpacked extension's ID, fixed by the public `key` in extension/manifest.json (tests check
# that the two agree), and the Firefox add-on ID (browser_specific_settings.gecko.id).
CHROME_EXTENSION_ID = "lkobphabohbmaheiglgplodocailahhi"
FIREFOX_EXTENSION_ID = "srllm@srllm.invalid"

# Chrome refuses host messages over 1 MB; ours are a few hundred bytes either way.
MAX_MESSAGE_BYTES = 1024 * 1024
_LENGTH = struct.Struct("=I")  # native byte order, 4 bytes, as the browsers send it

START_TIMEOUT_S = 600.0  # the first start may merge the fine-tuned default, then loads the model
STOP_TIMEOUT_S = 20.0
POLL_S = 0.25
PROBE_TIMEOUT_S = 3.0
MAX_REMEMBERED_ORIGINS = 8  # Firefox gives a temporary add-on a new UUID on each load
MAX_LOG_BYTES = 5 * 1024 * 1024

log = logging.getLogger("srllm.native_host")


class ProtocolError(Exception):
    """A malformed frame from the browser: the host answers with an error and exits."""


# -- framing -------------------------------------------------------------------------------


def encode_message(message: dict) -> bytes:
    body = json.dumps(message, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    if len(body) > MAX_MESSAGE_BYTES:
        raise ProtocolError(f"message of {len(body)} bytes is over {MAX_MESSAGE_BYTES}")
    return _LENGTH.pack(len(body)) + body


def write_message(stream: BinaryIO, message: dict) -> None:
    stream.write(encode_message(message))
    stream.flush()


def _read_exactly(stream: BinaryIO, size: int) -> bytes:
    chunks = []
    while size:
        chunk = stream.read(size)
        if not chunk:
            break
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def read_message(stream: BinaryIO) -> dict | None:
    """The next message, or None when the browser closed the pipe between messages."""
    header = _read_exactly(stream, _LENGTH.size)
    if not header:
        return None
    if len(header) < _LENGTH.size:
        raise ProtocolError("the pipe closed inside a message's length")
    (length,) = _LENGTH.unpack(header)
    if length > MAX_MESSAGE_BYTES:
        raise ProtocolError(f"message of {length} bytes is over {MAX_MESSAGE_BYTES}")
    body = _read_exactly(stream, length)
    if len(body) < length:
        raise ProtocolError(f"the pipe closed after {len(body)} of {length} bytes")
    try:
        message = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ProtocolError(f"message is not UTF-8 JSON: {exc}") from exc
    if not isinstance(message, dict):
        raise ProtocolError("message is not a JSON object")
    return message


# -- who is calling ------------------------------------------------------------------------


def caller_origin(argv: list[str], requested: object) -> str:
    """Chrome-family browsers pass the caller's origin ('chrome-extension://ID/') as the first
    argument. Firefox passes the host manifest's path and the add-on ID; the moz-extension://
    origin (a UUID per install) then comes from the message: Firefox starts this host only for
    the add-on IDs its manifest allows."""
    from srllm.server.settings import check_extension_origin

    first = argv[0] if argv else ""
    if first.startswith("chrome-extension://"):
        origin = first.rstrip("/")
    elif isinstance(requested, str) and requested.startswith("moz-extension://"):
        origin = requested.rstrip("/")
    else:
        raise SrllmError(Code.BAD_REQUEST, "cannot tell which extension is calling")
    try:
        check_extension_origin(origin)
    except SrllmError as exc:
        raise SrllmError(Code.BAD_REQUEST, exc.message) from exc
    return origin


# -- the server's state --------------------------------------------------------------------


@dataclass
class ServerState:
    """What the host wrote when it started a server: <data dir>/native-host/server.json."""

    pid: int
    url: str
    origins: list[str] = field(default_factory=list)
    log: str = ""
    started: float = 0.0

    @staticmethod
    def path() -> Path:
        return paths.native_host_dir() / "server.json"

    @classmethod
    def read(cls) -> ServerState | None:
        try:
            data = json.loads(cls.path().read_text(encoding="utf-8"))
            return cls(
                pid=int(data["pid"]),
                url=str(data["url"]),
                origins=[str(o) for o in data.get("origins", [])],
                log=str(data.get("log", "")),
                started=float(data.get("started", 0.0)),
            )
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def write(self) -> None:
        path = self.path()
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(self), indent=2) + "\n", encoding="utf-8")
        tmp.replace(path)


def pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    if os.name == "nt":
        import ctypes

        kernel32 = ctypes.windll.kernel32  # type: ignore[attr-defined]
        handle = kernel32.OpenProcess(0x1000, False, pid)  # PROCESS_QUERY_LIMITED_INFORMATION
        if not handle:
            return False
        try:
            code = ctypes.c_ulong()
            kernel32.GetExitCodeProcess(handle, ctypes.byref(code))
            return code.value == 259  # STILL_ACTIVE
        finally:
            kernel32.CloseHandle(handle)
    try:  # our own child that exited: reap it
        if os.waitpid(pid, os.WNOHANG)[0]:
            return False
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # An exited process nobody has reaped yet (a container's init may never) is not alive.
    with contextlib.suppress(OSError, IndexError):
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat[stat.rindex(")") + 2] not in "ZX"
    return True


def _command_line(pid: int) -> str:
    """The process's command line where the system tells it cheaply; '' when it does not."""
    proc = Path(f"/proc/{pid}/cmdline")
    if proc.exists():
        with contextlib.suppress(OSError):
            return proc.read_bytes().replace(b"\0", b" ").decode(errors="replace")
        return ""
    if os.name == "nt":
        return ""
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        out = subprocess.run(
            ["ps", "-o", "command=", "-p", str(pid)], capture_output=True, text=True, timeout=5
        )
        return out.stdout
    return ""


def _is_our_server(state: ServerState | None, url: str) -> bool:
    """The state file names a live `srllm serve` on this URL (a pid the system reused for
    another program after a reboot is not ours to stop)."""
    if state is None or state.url != url or not pid_alive(state.pid):
        return False
    command = _command_line(state.pid)
    return os.name == "nt" or ("srllm" in command and "serve" in command)


# -- talking to the server -----------------------------------------------------------------

# Straight to loopback: a proxy from the browser's environment must not see the token.
_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def probe(url: str, token: str | None = None, origin: str | None = None) -> int | None:
    """The HTTP status of GET /v1/models as the extension would send it (token, Origin), or of
    GET /health without a token; None when nothing answers."""
    headers = {}
    path = "/health"
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
        path = "/v1/models"
    if origin is not None:
        headers["Origin"] = origin
    request = urllib.request.Request(url + path, headers=headers)
    try:
        with _opener.open(request, timeout=PROBE_TIMEOUT_S) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        exc.close()
        return exc.code
    except (urllib.error.URLError, OSError):
        return None


def server_url(host: str, port: int) -> str:
    """The URL the extension should use: it accepts loopback addresses only."""
    if host in ("0.0.0.0", "::", "", "localhost"):
        host = "127.0.0.1"
    return f"http://{host}:{port}"


# -- one host at a time --------------------------------------------------------------------


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """An exclusive lock on `path`, held until the block ends (or the process dies)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a+b") as fh:
        if os.name == "nt":
            import msvcrt

            fh.seek(0)  # the same byte in every process ("a+" starts at the end)
            while True:
                try:  # LK_LOCK retries for 10 s, then raises: keep waiting
                    msvcrt.locking(fh.fileno(), msvcrt.LK_LOCK, 1)
                    break
                except OSError:
                    continue
            try:
                yield
            finally:
                fh.seek(0)
                msvcrt.locking(fh.fileno(), msvcrt.LK_UNLCK, 1)
        else:
            import fcntl

            fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


# -- starting and stopping -----------------------------------------------------------------


def _detached() -> dict:
    """Popen options for a server that outlives the host and the browser."""
    if os.name == "nt":
        flags = subprocess.DETACHED_PROCESS | subprocess.CREATE_NEW_PROCESS_GROUP
        # Chrome runs hosts in a job object that is killed with the browser: break away from it.
        return {"creationflags": flags | subprocess.CREATE_BREAKAWAY_FROM_JOB}
    return {"start_new_session": True}


def _open_log(path: Path):
    path.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(OSError):
        if path.stat().st_size > MAX_LOG_BYTES:
            path.replace(path.with_name(path.name + ".1"))
    return path.open("ab")


def start_server(origins: list[str], url: str) -> tuple[subprocess.Popen, ServerState]:
    """`srllm serve` in the background with this Python, answering only `origins`."""
    log_path = paths.log_dir() / "server.log"
    cmd = [sys.executable, "-m", "srllm", "serve"]
    for origin in origins:
        cmd += ["--extension-origin", origin]
    with _open_log(log_path) as log_fh:
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        log_fh.write(f"\n== {stamp} started by the native host: {' '.join(cmd)}\n".encode())
        log_fh.flush()
        options = _detached()
        try:
            process = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=log_fh,
                stderr=subprocess.STDOUT,
                close_fds=True,
                **options,
            )
        except OSError:
            if os.name != "nt":
                raise
            options["creationflags"] &= ~subprocess.CREATE_BREAKAWAY_FROM_JOB
            process = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=log_fh,
                stderr=subprocess.STDOUT,
                close_fds=True,
                **options,
            )
    state = ServerState(process.pid, url, origins, str(log_path), time.time())
    state.write()
    log.info("started server pid %d for %s (log %s)", process.pid, ", ".join(origins), log_path)
    return process, state


def stop_server(state: ServerState) -> None:
    log.info("stopping server pid %d to add an origin", state.pid)
    with contextlib.suppress(ProcessLookupError):
        os.kill(state.pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT_S
    while pid_alive(state.pid):
        if time.monotonic() > deadline:
            with contextlib.suppress(ProcessLookupError):
                os.kill(state.pid, getattr(signal, "SIGKILL", signal.SIGTERM))
            break
        time.sleep(POLL_S)


def last_log_line(path: str) -> str:
    """The line that says why the server stopped: its one-line error if it printed one."""
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            fh.seek(max(0, fh.tell() - 16384))
            lines = [line.strip() for line in fh.read().decode(errors="replace").splitlines()]
    except OSError:
        return ""
    lines = [line for line in lines if line]
    errors = [line for line in lines if line.startswith("srllm: error:")]
    return (errors or lines or [""])[-1][:300]


def wait_until_ready(
    url: str, token: str, origin: str, alive: Callable[[], bool], log_path: str, timeout: float
) -> None:
    deadline = time.monotonic() + timeout
    while True:
        status = probe(url, token, origin)
        if status == 200:
            return
        if status is not None and status != 503:
            raise SrllmError(
                Code.MODEL_LOAD_FAILED, f"the server at {url} answered HTTP {status} while starting"
            )
        if not alive():
            why = last_log_line(log_path)
            raise SrllmError(
                Code.MODEL_LOAD_FAILED,
                f"the server stopped while starting{': ' + why if why else ''} (log: {log_path})",
            )
        if time.monotonic() > deadline:
            raise SrllmError(
                Code.MODEL_LOAD_FAILED,
                f"the server did not answer within {timeout:.0f} s (log: {log_path})",
            )
        time.sleep(POLL_S)


def remembered_origins(state: ServerState | None, url: str) -> list[str]:
    """The origins the last server this host started on `url` answered."""
    return state.origins if state is not None and state.url == url else []


@dataclass(frozen=True)
class Ready:
    url: str
    token: str
    started: bool


def ensure_server(
    origin: str,
    on_starting: Callable[[str, str], None] = lambda url, log: None,
    timeout: float = START_TIMEOUT_S,
) -> Ready:
    """A server on the configured address that accepts `origin` with the token: reused when one
    answers, else started (or restarted, when this host started it for other origins)."""
    from srllm.server import security
    from srllm.server.settings import from_env

    settings = from_env()
    token = settings.token or security.load_or_create_token()
    url = server_url(settings.host, settings.port)
    with locked(paths.native_host_dir() / "lock"):
        state = ServerState.read()
        ours = _is_our_server(state, url)
        if ours and probe(url) is None:
            # Another host started it and was stopped before it was ready: wait for that one.
            on_starting(url, state.log)
            wait_until_ready(url, token, origin, lambda: pid_alive(state.pid), state.log, timeout)
        status = probe(url, token, origin)
        if status == 200:
            log.info("reusing the server at %s", url)
            return Ready(url, token, started=False)
        if status == 403 and ours:
            stop_server(state)
        elif status == 401:
            raise SrllmError(
                Code.UNAUTHORIZED,
                f"the server at {url} uses another token than `srllm token` prints (SRLLM_TOKEN "
                "set where it started?): stop it, or pair by hand with its token",
            )
        elif status == 403:
            raise SrllmError(
                Code.FORBIDDEN,
                f"the server at {url} does not accept this extension ({origin}): stop it, and "
                "the extension starts its own",
            )
        elif status is not None:
            raise SrllmError(
                Code.BAD_CONFIG,
                f"something else answers at {url} (HTTP {status}): set SRLLM_PORT to a free "
                "port and run `srllm extension install` again",
            )
        origins = list(dict.fromkeys([origin, *remembered_origins(state, url)]))
        origins = origins[:MAX_REMEMBERED_ORIGINS]
        process, started = start_server(origins, url)
        on_starting(url, started.log)
        wait_until_ready(url, token, origin, lambda: process.poll() is None, started.log, timeout)
        log.info("server pid %d ready at %s", process.pid, url)
        return Ready(url, token, started=True)


def start_at_login() -> int:
    """What the login entry of `srllm extension autostart on` runs: the server the extension
    would get, started the same way (start_server: detached, logging, the state file), unless
    one answers already. The origins are those the last started server answered, else the
    unpacked Chrome extension's; another extension that connects later gets the usual restart
    with its origin added (ensure_server)."""
    from srllm.server.settings import from_env

    settings = from_env()
    url = server_url(settings.host, settings.port)
    with locked(paths.native_host_dir() / "lock"):
        if probe(url) is not None:
            log.info("at login: a server answers at %s already", url)
            return 0
        origins = remembered_origins(ServerState.read(), url)
        start_server(origins or [f"chrome-extension://{CHROME_EXTENSION_ID}"], url)
    return 0


# -- requests ------------------------------------------------------------------------------


def handle(message: dict, argv: list[str], send: Callable[[dict], None]) -> None:
    kind = message.get("type")
    if kind == "status":
        from srllm.server.settings import from_env

        settings = from_env()
        url = server_url(settings.host, settings.port)
        send(
            {
                "type": "status",
                "version": __version__,
                "url": url,
                "running": probe(url) == 200,
                "log": str(paths.log_dir() / "server.log"),
            }
        )
    elif kind == "connect":
        origin = caller_origin(argv, message.get("origin"))

        def starting(url: str, log_path: str) -> None:
            send({"type": "starting", "url": url, "log": log_path})

        ready = ensure_server(origin, starting)
        send(
            {
                "type": "ready",
                "url": ready.url,
                "token": ready.token,
                "started": ready.started,
                "version": __version__,
            }
        )
    else:
        raise SrllmError(Code.BAD_REQUEST, f"unknown request type {str(kind)[:40]!r}")


def serve_pipe(stdin: BinaryIO, stdout: BinaryIO, argv: list[str]) -> int:
    """Answer messages until the browser closes the pipe."""

    def send(reply: dict) -> None:
        write_message(stdout, reply)

    while True:
        try:
            message = read_message(stdin)
        except ProtocolError as exc:
            log.warning("bad message: %s", exc)
            send({"type": "error", "code": Code.BAD_REQUEST.value, "message": str(exc)})
            return 1
        if message is None:
            return 0
        try:
            handle(message, argv, send)
        except SrllmError as exc:
            log.warning("%s: %s", exc.code.value, exc.message)
            send({"type": "error", "code": exc.code.value, "message": exc.message})
        except Exception as exc:  # a bug: the extension is told, the traceback goes to the log
            log.exception("request failed")
            send({"type": "error", "code": Code.INTERNAL.value, "message": str(exc)[:300]})


def _setup_logging() -> None:
    folder = paths.log_dir()
    folder.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(folder / "native-host.log", encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(process)d %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)


AT_LOGIN = "--at-login"  # never a browser's first argument (an origin or a manifest path)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv == [AT_LOGIN]:
        _setup_logging()
        return start_at_login()
    # The browser reads frames from file descriptor 1: keep a private copy for them and point
    # 1 (and sys.stdout) at stderr, so a stray print anywhere cannot corrupt the stream.
    sys.stdout.flush()
    out = os.fdopen(os.dup(1), "wb", buffering=0)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    stdin = sys.stdin.buffer
    if os.name == "nt":
        import msvcrt

        msvcrt.setmode(stdin.fileno(), os.O_BINARY)
        msvcrt.setmode(out.fileno(), os.O_BINARY)
    _setup_logging()
    log.info("host %s started for %s", __version__, " ".join(argv[:2]))
    try:
        return serve_pipe(stdin, out, argv)
    finally:
        out.close()


if __name__ == "__main__":
    raise SystemExit(main())
