"""`srllm extension autostart on | off | status`: the opt-in login item that starts the server.

Nothing starts at login unless the user asks for it here. `on` writes one per-user entry that
runs `python -m srllm.native_host --at-login` (this Python, the SRLLM_* settings of the shell
that ran it, as the native host's launcher keeps them): the native host's own start, so the
server comes up detached, logging to <user log dir>/server.log, with the host's state file, and
the extension reuses it as it reuses any server the host started.

- Linux (any XDG desktop): $XDG_CONFIG_HOME/autostart/srllm.desktop (~/.config by default);
- macOS: ~/Library/LaunchAgents/srllm.server.plist, a LaunchAgent run at load (login).

`off` removes the entry; `status` says whether it is there. Other systems: one clear error.
"""

from __future__ import annotations

import os
import plistlib
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from srllm.errors import Code, SrllmError
from srllm.files import write_bytes_atomic
from srllm.native_host import AT_LOGIN
from srllm.native_install import current_system, kept_env

LAUNCH_AGENT = "srllm.server"
DESKTOP_FILE = "srllm.desktop"
# An argument of a desktop entry's Exec key with one of these characters must be quoted.
_EXEC_RESERVED = re.compile(r"[\s\"'\\><~|&;$*?#()`]")


@dataclass(frozen=True)
class Place:
    system: str
    path: Path


def where(
    system: str | None = None, home: Path | None = None, env: Mapping[str, str] | None = None
) -> Place:
    """The login entry's file on this system; an SrllmError where there is none."""
    try:
        system = system or current_system()
    except SrllmError:
        system = sys.platform
    env = os.environ if env is None else env
    home = Path.home() if home is None else home
    if system == "linux":
        config = Path(env.get("XDG_CONFIG_HOME") or home / ".config")
        return Place(system, config / "autostart" / DESKTOP_FILE)
    if system == "macos":
        return Place(system, home / "Library" / "LaunchAgents" / f"{LAUNCH_AGENT}.plist")
    raise SrllmError(
        Code.BAD_CONFIG, f"login autostart is set up on Linux and macOS only, not on {system}"
    )


def login_command(python: str) -> list[str]:
    """What runs at login: the native host's start of the server."""
    return [python, "-m", "srllm.native_host", AT_LOGIN]


def _exec_arg(arg: str) -> str:
    """One argument as the Desktop Entry spec's Exec key wants it: quoted when it has a
    reserved character (with \\ " ` $ escaped inside), every backslash then escaped again as
    the spec's string type says, and % doubled (a field code otherwise)."""
    if _EXEC_RESERVED.search(arg) or not arg:
        arg = '"' + re.sub(r'(["`$\\])', r"\\\1", arg) + '"'
    return arg.replace("\\", "\\\\").replace("%", "%%")


def desktop_entry(python: str, env: Mapping[str, str]) -> str:
    settings = [f"{name}={value}" for name, value in kept_env(env).items()]
    command = (["env", *settings] if settings else []) + login_command(python)
    lines = [
        "[Desktop Entry]",
        "Type=Application",
        "Name=srllm server",
        "Comment=Starts the local srllm bias-check server at login "
        "(written by `srllm extension autostart on`; `srllm extension autostart off` removes it)",
        "Exec=" + " ".join(_exec_arg(arg) for arg in command),
        "Terminal=false",
        "NoDisplay=true",
        "X-GNOME-Autostart-enabled=true",
    ]
    return "\n".join(lines) + "\n"


def launch_agent(python: str, env: Mapping[str, str]) -> bytes:
    agent = {
        "Label": LAUNCH_AGENT,
        "ProgramArguments": login_command(python),
        "EnvironmentVariables": kept_env(env),
        "RunAtLoad": True,
        # The server runs in a session of its own and outlives this job: launchd must not stop it.
        "AbandonProcessGroup": True,
    }
    return plistlib.dumps(agent)


def enable(
    *,
    system: str | None = None,
    home: Path | None = None,
    env: Mapping[str, str] | None = None,
    python: str | None = None,
) -> str:
    """Write the login entry (again: it follows this Python and these settings)."""
    place = where(system, home, env)
    env = os.environ if env is None else env
    python = python or sys.executable
    if place.system == "linux":
        write_bytes_atomic(place.path, desktop_entry(python, env).encode("utf-8"))
    else:
        write_bytes_atomic(place.path, launch_agent(python, env))
    return f"autostart on: wrote {place.path} (starts the srllm server at login)"


def disable(
    *, system: str | None = None, home: Path | None = None, env: Mapping[str, str] | None = None
) -> str:
    place = where(system, home, env)
    if not place.path.is_file():
        return f"autostart off: {place.path} does not exist"
    place.path.unlink()
    return f"autostart off: removed {place.path}"


def status(
    *, system: str | None = None, home: Path | None = None, env: Mapping[str, str] | None = None
) -> str:
    place = where(system, home, env)
    state = "on" if place.path.is_file() else "off"
    return f"autostart {state}: {place.path}"
