"""`srllm extension autostart on | off | status`: the opt-in login entry, written into a temporary
home (Linux: an XDG autostart file, macOS: a LaunchAgent), and what it runs: the native host's
own start of the server."""

from __future__ import annotations

import json
import os
import plistlib
import shlex
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from srllm import autostart, cli, native_host
from srllm.errors import SrllmError
from srllm.native_host import CHROME_EXTENSION_ID, ServerState

PYTHON = "/opt/srllm/.venv/bin/python"
SETTINGS = {"SRLLM_PORT": "9000", "SRLLM_TOKEN": "secret-token-0123456789", "PATH": "/usr/bin"}


@pytest.fixture
def home(tmp_path) -> Path:
    return tmp_path / "home"


def desktop_values(path: Path) -> dict[str, str]:
    lines = path.read_text().splitlines()
    assert lines[0] == "[Desktop Entry]"
    return dict(line.split("=", 1) for line in lines[1:])


def test_linux_on_writes_an_xdg_autostart_entry_that_runs_the_native_hosts_start(home, tmp_path):
    config = tmp_path / "xdg"
    env = {**SETTINGS, "XDG_CONFIG_HOME": str(config)}
    said = autostart.enable(system="linux", home=home, env=env, python=PYTHON)
    path = config / "autostart" / "srllm.desktop"
    assert said == f"autostart on: wrote {path} (starts the srllm server at login)"
    entry = desktop_values(path)
    assert entry["Type"] == "Application" and entry["Terminal"] == "false"
    # The install's settings, never the token; the same module the browser's launcher runs.
    assert entry["Exec"] == f"env SRLLM_PORT=9000 {PYTHON} -m srllm.native_host --at-login"
    assert "secret" not in path.read_text()
    assert not (home / ".config").exists()
    assert [p.name for p in path.parent.iterdir()] == ["srllm.desktop"]  # no temp file left


def test_linux_without_xdg_config_home_uses_dot_config(home):
    autostart.enable(system="linux", home=home, env={}, python=PYTHON)
    entry = desktop_values(home / ".config" / "autostart" / "srllm.desktop")
    assert entry["Exec"] == f"{PYTHON} -m srllm.native_host --at-login"


def test_exec_quotes_and_escapes_as_the_desktop_entry_spec_says(home):
    env = {"SRLLM_HOME": "/data/it's $HOME", "SRLLM_MODEL": "/m/50%.gguf"}
    autostart.enable(system="linux", home=home, env=env, python="/opt/my env/bin/python")
    entry = desktop_values(home / ".config" / "autostart" / "srllm.desktop")
    assert entry["Exec"] == (
        'env "SRLLM_HOME=/data/it\'s \\\\$HOME" SRLLM_MODEL=/m/50%%.gguf '
        '"/opt/my env/bin/python" -m srllm.native_host --at-login'
    )


def test_on_off_status_round_trip(home):
    where = home / ".config" / "autostart" / "srllm.desktop"
    kwargs = {"system": "linux", "home": home, "env": {}}
    assert autostart.status(**kwargs) == f"autostart off: {where}"
    autostart.enable(**kwargs, python=PYTHON)
    assert autostart.status(**kwargs) == f"autostart on: {where}"
    assert autostart.disable(**kwargs) == f"autostart off: removed {where}"
    assert not where.exists()
    assert autostart.status(**kwargs) == f"autostart off: {where}"
    assert autostart.disable(**kwargs) == f"autostart off: {where} does not exist"


def test_macos_on_writes_a_launch_agent_run_at_login(home):
    kwargs = {"system": "macos", "home": home, "env": SETTINGS}
    autostart.enable(**kwargs, python=PYTHON)
    path = home / "Library" / "LaunchAgents" / "srllm.server.plist"
    agent = plistlib.loads(path.read_bytes())
    assert agent["Label"] == "srllm.server"
    assert agent["ProgramArguments"] == [PYTHON, "-m", "srllm.native_host", "--at-login"]
    assert agent["EnvironmentVariables"] == {"SRLLM_PORT": "9000"}
    assert agent["RunAtLoad"] is True and agent["AbandonProcessGroup"] is True
    assert autostart.status(**kwargs) == f"autostart on: {path}"
    autostart.disable(**kwargs)
    assert not path.exists()


def test_elsewhere_it_is_one_clear_error(home, monkeypatch, capsys):
    with pytest.raises(SrllmError, match="Linux and macOS only, not on windows"):
        autostart.enable(system="windows", home=home, env={}, python=PYTHON)
    monkeypatch.setattr(autostart, "current_system", lambda: "windows")
    assert cli.main(["extension", "autostart", "on"]) == 1
    err = capsys.readouterr().err
    assert (
        err == "srllm: error: login autostart is set up on Linux and macOS only, not on windows\n"
    )


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the Linux entry")
def test_the_command_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    path = tmp_path / "xdg" / "autostart" / "srllm.desktop"
    for state, said in [
        ("status", f"autostart off: {path}"),
        ("on", f"autostart on: wrote {path} (starts the srllm server at login)"),
        ("status", f"autostart on: {path}"),
        ("off", f"autostart off: removed {path}"),
    ]:
        assert cli.main(["extension", "autostart", state]) == 0
        assert capsys.readouterr().out == said + "\n"
    assert not path.exists()


# -- what the entry runs -------------------------------------------------------------------


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="runs the Linux entry")
def test_the_entrys_command_starts_the_server_as_the_native_host_does(tmp_path):
    """The Exec line, run as a desktop runs it: the host starts `srllm serve` detached with its
    log and state file, and exits (the server stops at once here: its model does not exist)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    srllm_home = tmp_path / "srllm-home"
    env = {
        "SRLLM_HOME": str(srllm_home),
        "SRLLM_PORT": str(port),
        "SRLLM_MODEL": str(tmp_path / "missing.gguf"),
    }
    autostart.enable(system="linux", home=tmp_path / "home", env=env, python=sys.executable)
    command = desktop_values(tmp_path / "home" / ".config" / "autostart" / "srllm.desktop")["Exec"]
    out = subprocess.run(
        shlex.split(command),
        env={"PATH": os.environ.get("PATH", "")},  # the settings come from the entry
        capture_output=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    state = json.loads((srllm_home / "native-host" / "server.json").read_text())
    assert state["url"] == f"http://127.0.0.1:{port}"
    assert state["origins"] == [f"chrome-extension://{CHROME_EXTENSION_ID}"]
    log = srllm_home / "logs" / "server.log"
    deadline = time.monotonic() + 60
    while "model file not found" not in log.read_text() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert "started by the native host" in log.read_text()
    assert "srllm: error: model file not found" in log.read_text()


class Starts:
    """The server's answer to probe() and the starts the host made (nothing really starts)."""

    def __init__(self, monkeypatch, answer):
        self.origins: list[list[str]] = []
        monkeypatch.setattr(native_host, "probe", lambda url, *a: answer)
        monkeypatch.setattr(native_host, "start_server", self.start)

    def start(self, origins, url):
        self.origins.append(origins)
        return SimpleNamespace(pid=4242), ServerState(4242, url, origins)


def test_at_login_the_host_starts_the_server_for_the_unpacked_extension(monkeypatch):
    starts = Starts(monkeypatch, None)
    assert native_host.main(["--at-login"]) == 0
    assert starts.origins == [[f"chrome-extension://{CHROME_EXTENSION_ID}"]]
    assert (native_host.paths.log_dir() / "native-host.log").is_file()


def test_at_login_the_origins_the_last_server_answered_are_kept(monkeypatch):
    firefox = "moz-extension://0b1d2e3f-4a5b-6c7d-8e9f-0123456789ab"
    ServerState.path().parent.mkdir(parents=True)
    ServerState(1, "http://127.0.0.1:8765", [firefox]).write()
    starts = Starts(monkeypatch, None)
    native_host.start_at_login()
    assert starts.origins == [[firefox]]


def test_at_login_a_server_that_answers_already_is_left_alone(monkeypatch):
    starts = Starts(monkeypatch, 200)
    assert native_host.start_at_login() == 0
    assert starts.origins == []
