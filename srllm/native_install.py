"""`srllm extension install | uninstall`: register the native messaging host with the browsers.

Per user only, and nothing that runs at login (that is `srllm extension autostart on`, an opt-in:
srllm/autostart.py). `install` writes:

- the launcher, <data dir>/native-host/srllm-native-host (srllm-native-host.bat on Windows): it
  runs this Python (the absolute path of the environment srllm is installed in) with
  `-m srllm.native_host`, with the SRLLM_* settings that were set at install time;
- a host manifest, srllm.native_host.json, for each browser: in the browser's
  NativeMessagingHosts folder on Linux and macOS; on Windows next to the launcher, with a value
  under HKEY_CURRENT_USER\\Software\\...\\NativeMessagingHosts\\srllm.native_host naming it.

The manifest lets only the srllm extension start the host: Chrome, Chromium, Edge and Brave by
origin (chrome-extension://<ID>/, the ID fixed by the public `key` in extension/manifest.json),
Firefox by add-on ID (srllm@srllm.invalid). `--extension-id` adds more (a store-published copy).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from srllm import paths
from srllm.errors import Code, SrllmError
from srllm.files import write_bytes_atomic
from srllm.native_host import CHROME_EXTENSION_ID, FIREFOX_EXTENSION_ID, HOST_NAME

DESCRIPTION = "srllm: starts the local bias-check server for the srllm extension"
MANIFEST_NAME = f"{HOST_NAME}.json"
# Settings the launcher keeps from the install command's environment, so that the server the
# browser starts is the one the user configured (never SRLLM_TOKEN: no secret in a script).
KEPT_ENV = (
    "SRLLM_HOME",
    "SRLLM_HOST",
    "SRLLM_PORT",
    "SRLLM_MODEL",
    "SRLLM_EMBEDDED_GGUF",
    "SRLLM_N_GPU_LAYERS",
    "SRLLM_THREADS",
    "SRLLM_CTX",
)
CHROME_ID = re.compile(r"[a-p]{32}")
GECKO_ID = re.compile(r"[A-Za-z0-9._+-]*@[A-Za-z0-9._-]+|\{[0-9a-fA-F-]{36}\}")


@dataclass(frozen=True)
class Browser:
    key: str
    name: str
    family: str  # "chromium" (allowed_origins) or "firefox" (allowed_extensions)
    windows_key: str  # under HKEY_CURRENT_USER; the host's key is <this>\<HOST_NAME>

    @property
    def windows_parent(self) -> str:
        return self.windows_key.rsplit("\\", 1)[0]


BROWSERS = (
    Browser("chrome", "Google Chrome", "chromium", r"Software\Google\Chrome\NativeMessagingHosts"),
    Browser("chromium", "Chromium", "chromium", r"Software\Chromium\NativeMessagingHosts"),
    Browser("edge", "Microsoft Edge", "chromium", r"Software\Microsoft\Edge\NativeMessagingHosts"),
    Browser(
        "brave",
        "Brave",
        "chromium",
        r"Software\BraveSoftware\Brave-Browser\NativeMessagingHosts",
    ),
    Browser("firefox", "Firefox", "firefox", r"Software\Mozilla\NativeMessagingHosts"),
)
BROWSER_KEYS = tuple(b.key for b in BROWSERS)
_BY_KEY = {b.key: b for b in BROWSERS}


def current_system() -> str:
    if sys.platform.startswith("linux"):
        return "linux"
    if sys.platform == "darwin":
        return "macos"
    if sys.platform == "win32":
        return "windows"
    raise SrllmError(Code.BAD_CONFIG, f"native messaging is not set up for {sys.platform}")


def locations(system: str, home: Path, env: Mapping[str, str]) -> dict[str, tuple[Path, Path]]:
    """Per browser: (the folder whose presence says it is installed, its NativeMessagingHosts
    folder), on Linux and macOS. Windows uses the registry instead."""
    if system == "linux":
        config = Path(env.get("XDG_CONFIG_HOME") or home / ".config")
        roots = {
            "chrome": config / "google-chrome",
            "chromium": config / "chromium",
            "edge": config / "microsoft-edge",
            "brave": config / "BraveSoftware" / "Brave-Browser",
        }
        found = {key: (root, root / "NativeMessagingHosts") for key, root in roots.items()}
        found["firefox"] = (home / ".mozilla", home / ".mozilla" / "native-messaging-hosts")
        return found
    if system == "macos":
        support = home / "Library" / "Application Support"
        roots = {
            "chrome": support / "Google" / "Chrome",
            "chromium": support / "Chromium",
            "edge": support / "Microsoft Edge",
            "brave": support / "BraveSoftware" / "Brave-Browser",
        }
        found = {key: (root, root / "NativeMessagingHosts") for key, root in roots.items()}
        found["firefox"] = (support / "Firefox", support / "Mozilla" / "NativeMessagingHosts")
        return found
    raise SrllmError(Code.BAD_CONFIG, f"no NativeMessagingHosts folders on {system}")


class Registry(Protocol):
    """The few HKEY_CURRENT_USER operations the install needs (tests pass a dict-backed one)."""

    def exists(self, key: str) -> bool: ...
    def set_default(self, key: str, value: str) -> None: ...
    def delete(self, key: str) -> bool: ...


class WindowsRegistry:
    def __init__(self):
        import winreg

        self.winreg = winreg

    def exists(self, key: str) -> bool:
        try:
            self.winreg.CloseKey(self.winreg.OpenKey(self.winreg.HKEY_CURRENT_USER, key))
            return True
        except OSError:
            return False

    def set_default(self, key: str, value: str) -> None:
        with self.winreg.CreateKey(self.winreg.HKEY_CURRENT_USER, key) as handle:
            self.winreg.SetValueEx(handle, "", 0, self.winreg.REG_SZ, value)

    def delete(self, key: str) -> bool:
        try:
            self.winreg.DeleteKey(self.winreg.HKEY_CURRENT_USER, key)
            return True
        except OSError:
            return False


def split_extension_ids(extra: Iterable[str]) -> tuple[list[str], list[str]]:
    """(Chrome IDs, Firefox add-on IDs): ours first, then the extra ones by their shape."""
    chrome, gecko = [CHROME_EXTENSION_ID], [FIREFOX_EXTENSION_ID]
    for value in extra:
        value = value.strip()
        if CHROME_ID.fullmatch(value):
            chrome.append(value)
        elif GECKO_ID.fullmatch(value):
            gecko.append(value)
        else:
            raise SrllmError(
                Code.BAD_INPUT,
                f"extension ID {value[:80]!r} is neither a Chrome ID (32 letters a-p) nor a "
                "Firefox add-on ID (name@domain or {uuid})",
            )
    return list(dict.fromkeys(chrome)), list(dict.fromkeys(gecko))


def host_manifest(family: str, launcher: Path, extension_ids: Iterable[str] = ()) -> dict:
    chrome, gecko = split_extension_ids(extension_ids)
    manifest = {
        "name": HOST_NAME,
        "description": DESCRIPTION,
        "path": str(launcher),
        "type": "stdio",
    }
    if family == "firefox":
        manifest["allowed_extensions"] = gecko
    else:
        manifest["allowed_origins"] = [f"chrome-extension://{i}/" for i in chrome]
    return manifest


def kept_env(env: Mapping[str, str]) -> dict[str, str]:
    """The SRLLM_* settings of `env` that whatever starts the server later must keep."""
    kept = {name: env[name] for name in KEPT_ENV if env.get(name)}
    if "SRLLM_HOME" in kept:
        kept["SRLLM_HOME"] = str(Path(kept["SRLLM_HOME"]).expanduser().resolve())
    return kept


def launcher_text(system: str, python: str, env: Mapping[str, str]) -> str:
    kept = kept_env(env)
    if system == "windows":
        lines = [
            "@echo off",
            "rem The srllm native messaging host, written by `srllm extension install`:",
            "rem the browser runs it when the srllm extension connects.",
            *(f'set "{name}={value}"' for name, value in kept.items()),
            f'"{python}" -m srllm.native_host %*',
        ]
        return "\r\n".join(lines) + "\r\n"
    lines = [
        "#!/bin/sh",
        "# The srllm native messaging host, written by `srllm extension install`: the browser",
        "# runs it when the srllm extension connects. `srllm extension uninstall` removes it.",
        *(f"export {name}={shlex.quote(value)}" for name, value in kept.items()),
        f'exec {shlex.quote(python)} -m srllm.native_host "$@"',
    ]
    return "\n".join(lines) + "\n"


def launcher_path(system: str, folder: Path) -> Path:
    return folder / ("srllm-native-host.bat" if system == "windows" else "srllm-native-host")


def _choose(
    browsers: Iterable[str] | None,
    target_dir: Path | None,
    system: str,
    home: Path,
    env: Mapping[str, str],
    registry: Registry | None,
    installing: bool,
) -> list[tuple[Browser, Path | None]]:
    """(browser, NativeMessagingHosts folder or None on Windows) for each browser to handle."""
    keys = list(dict.fromkeys(browsers or ()))
    for key in keys:
        if key not in _BY_KEY:
            raise SrllmError(
                Code.BAD_INPUT, f"unknown browser {key!r}: one of {', '.join(BROWSER_KEYS)}"
            )
    if target_dir is not None:
        if len(keys) != 1:
            raise SrllmError(
                Code.BAD_INPUT, "--dir needs exactly one --browser (it decides the file's format)"
            )
        return [(_BY_KEY[keys[0]], Path(target_dir).expanduser().resolve())]
    if system == "windows":
        assert registry is not None
        chosen = [_BY_KEY[k] for k in keys] or [
            b
            for b in BROWSERS
            if registry.exists(b.windows_parent) or (not installing and registry.exists(_key(b)))
        ]
        return [(b, None) for b in chosen]
    places = locations(system, home, env)
    if keys:
        return [(_BY_KEY[k], places[k][1]) for k in keys]
    return [
        (b, places[b.key][1])
        for b in BROWSERS
        if places[b.key][0].is_dir() or (not installing and places[b.key][1].is_dir())
    ]


def _key(browser: Browser) -> str:
    return f"{browser.windows_key}\\{HOST_NAME}"


def _write(path: Path, text: str, mode: int | None = None) -> None:
    write_bytes_atomic(path, text.encode("utf-8"), mode)


def _context(system, home, env, registry, host_dir):
    system = system or current_system()
    env = os.environ if env is None else env
    home = Path.home() if home is None else home
    if system == "windows" and registry is None:
        registry = WindowsRegistry()
    return system, home, env, registry, host_dir or paths.native_host_dir()


def install(
    browsers: Iterable[str] | None = None,
    target_dir: Path | None = None,
    extension_ids: Iterable[str] = (),
    dry_run: bool = False,
    *,
    system: str | None = None,
    home: Path | None = None,
    env: Mapping[str, str] | None = None,
    registry: Registry | None = None,
    host_dir: Path | None = None,
    python: str | None = None,
) -> list[str]:
    """Write the launcher and a host manifest per browser; returns what it did, one line each."""
    system, home, env, registry, host_dir = _context(system, home, env, registry, host_dir)
    extension_ids = tuple(extension_ids)
    split_extension_ids(extension_ids)  # refuse a bad ID before writing anything
    chosen = _choose(browsers, target_dir, system, home, env, registry, installing=True)
    if not chosen:
        raise SrllmError(
            Code.BAD_INPUT,
            "no supported browser found (Chrome, Chromium, Edge, Brave, Firefox): pass "
            "--browser NAME, or --browser NAME --dir FOLDER for a browser with its own profile",
        )
    verb = "would write" if dry_run else "wrote"
    launcher = launcher_path(system, host_dir)
    python = python or sys.executable
    done = [f"{verb} {launcher} (runs {python} -m srllm.native_host)"]
    if not dry_run:
        _write(launcher, launcher_text(system, python, env), 0o755)
    for browser, folder in chosen:
        manifest = host_manifest(browser.family, launcher, extension_ids)
        text = json.dumps(manifest, indent=2) + "\n"
        if folder is None:  # Windows: the file beside the launcher, the registry names it
            path = host_dir / f"{HOST_NAME}.{browser.key}.json"
            if not dry_run:
                _write(path, text)
                registry.set_default(_key(browser), str(path))
            done.append(f"{verb} {path} and HKCU\\{_key(browser)} ({browser.name})")
        else:
            path = folder / MANIFEST_NAME
            if not dry_run:
                _write(path, text)
            done.append(f"{verb} {path} ({browser.name})")
    chrome, gecko = split_extension_ids(extension_ids)
    done.append(f"allowed extensions: {', '.join(chrome + gecko)}")
    return done


def uninstall(
    browsers: Iterable[str] | None = None,
    target_dir: Path | None = None,
    extension_ids: Iterable[str] = (),
    dry_run: bool = False,
    *,
    system: str | None = None,
    home: Path | None = None,
    env: Mapping[str, str] | None = None,
    registry: Registry | None = None,
    host_dir: Path | None = None,
) -> list[str]:
    """Remove the host manifests (and registry values) install wrote, then the launcher."""
    system, home, env, registry, host_dir = _context(system, home, env, registry, host_dir)
    verb = "would remove" if dry_run else "removed"
    done: list[str] = []
    for browser, folder in _choose(browsers, target_dir, system, home, env, registry, False):
        if folder is None:
            path = host_dir / f"{HOST_NAME}.{browser.key}.json"
            if registry.exists(_key(browser)):
                if not dry_run:
                    registry.delete(_key(browser))
                done.append(f"{verb} HKCU\\{_key(browser)} ({browser.name})")
        else:
            path = folder / MANIFEST_NAME
        if path.is_file():
            if not dry_run:
                path.unlink()
            done.append(f"{verb} {path} ({browser.name})")
    everything = not browsers and target_dir is None
    if everything:
        leftovers = [launcher_path(system, host_dir)]
        leftovers += [host_dir / f"{HOST_NAME}.{key}.json" for key in BROWSER_KEYS]
        for path in leftovers:
            if path.is_file():
                if not dry_run:
                    path.unlink()
                done.append(f"{verb} {path}")
    return done or ["nothing to remove: the native messaging host is not installed"]
