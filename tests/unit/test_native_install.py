"""`srllm extension install | uninstall`: the launcher and the host manifests written for each
browser, on Linux and macOS (folders) and Windows (registry, faked), as the browsers read them."""

from __future__ import annotations

import io
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from srllm import cli, native_install
from srllm.errors import SrllmError
from srllm.native_host import CHROME_EXTENSION_ID, HOST_NAME, encode_message, read_message

PYTHON = "/opt/srllm/.venv/bin/python"
CHROME_ORIGIN = f"chrome-extension://{CHROME_EXTENSION_ID}/"


@pytest.fixture
def home(tmp_path) -> Path:
    return tmp_path / "home"


@pytest.fixture
def host_dir(tmp_path) -> Path:
    return tmp_path / "data" / "native-host"


def install(home, host_dir, system="linux", env=None, **kwargs) -> list[str]:
    return native_install.install(
        system=system, home=home, env=env or {}, host_dir=host_dir, python=PYTHON, **kwargs
    )


def read(path: Path) -> dict:
    return json.loads(path.read_text())


LINUX = {
    "chrome": ".config/google-chrome/NativeMessagingHosts",
    "chromium": ".config/chromium/NativeMessagingHosts",
    "edge": ".config/microsoft-edge/NativeMessagingHosts",
    "brave": ".config/BraveSoftware/Brave-Browser/NativeMessagingHosts",
    "firefox": ".mozilla/native-messaging-hosts",
}
MACOS = {
    "chrome": "Library/Application Support/Google/Chrome/NativeMessagingHosts",
    "chromium": "Library/Application Support/Chromium/NativeMessagingHosts",
    "edge": "Library/Application Support/Microsoft Edge/NativeMessagingHosts",
    "brave": "Library/Application Support/BraveSoftware/Brave-Browser/NativeMessagingHosts",
    "firefox": "Library/Application Support/Mozilla/NativeMessagingHosts",
}


@pytest.mark.parametrize(("system", "folders"), [("linux", LINUX), ("macos", MACOS)])
def test_each_browser_gets_its_manifest_in_its_own_folder(home, host_dir, system, folders):
    install(home, host_dir, system, browsers=list(folders))
    launcher = host_dir / "srllm-native-host"
    for key, folder in folders.items():
        manifest = read(home / folder / f"{HOST_NAME}.json")
        assert manifest["name"] == HOST_NAME and manifest["type"] == "stdio"
        assert manifest["path"] == str(launcher) and Path(manifest["path"]).is_absolute()
        if key == "firefox":
            assert manifest["allowed_extensions"] == ["srllm@srllm.invalid"]
            assert "allowed_origins" not in manifest
        else:
            assert manifest["allowed_origins"] == [CHROME_ORIGIN]
            assert "allowed_extensions" not in manifest


def test_only_the_browsers_found_are_set_up(home, host_dir):
    (home / ".config" / "chromium").mkdir(parents=True)
    (home / ".mozilla").mkdir(parents=True)
    lines = install(home, host_dir)
    written = sorted(p.relative_to(home).as_posix() for p in home.rglob(f"{HOST_NAME}.json"))
    assert written == [
        f"{LINUX['chromium']}/{HOST_NAME}.json",
        f"{LINUX['firefox']}/{HOST_NAME}.json",
    ]
    assert lines[0].startswith(f"wrote {host_dir / 'srllm-native-host'}")
    assert any("(Chromium)" in line for line in lines) and any(
        "(Firefox)" in line for line in lines
    )
    assert lines[-1] == f"allowed extensions: {CHROME_EXTENSION_ID}, srllm@srllm.invalid"


def test_xdg_config_home_is_where_chrome_looks_on_linux(home, host_dir, tmp_path):
    config = tmp_path / "xdg"
    (config / "google-chrome").mkdir(parents=True)
    install(home, host_dir, env={"XDG_CONFIG_HOME": str(config)})
    assert (config / "google-chrome" / "NativeMessagingHosts" / f"{HOST_NAME}.json").is_file()


def test_no_browser_found_is_one_clear_error(home, host_dir):
    with pytest.raises(SrllmError, match="no supported browser found"):
        install(home, host_dir)
    assert not host_dir.exists()


def test_the_launcher_runs_this_python_with_the_install_settings_but_no_secret(home, host_dir):
    env = {
        "SRLLM_HOME": "/data/it's here",
        "SRLLM_PORT": "9000",
        "SRLLM_TOKEN": "secret-token-0123456789",
        "PATH": "/usr/bin",
    }
    install(home, host_dir, env=env, browsers=["chromium"])
    launcher = host_dir / "srllm-native-host"
    text = launcher.read_text()
    assert text.startswith("#!/bin/sh\n")
    assert text.rstrip().endswith(f'exec {PYTHON} -m srllm.native_host "$@"')
    assert "export SRLLM_HOME='/data/it'\"'\"'s here'" in text
    assert "export SRLLM_PORT=9000" in text
    assert "secret" not in text and "PATH" not in text
    assert stat.S_IMODE(launcher.stat().st_mode) & 0o111


def test_windows_uses_the_registry_and_a_batch_launcher(home, host_dir):
    registry = FakeRegistry({r"Software\Google\Chrome", r"Software\Mozilla"})
    lines = install(home, host_dir, "windows", registry=registry)
    key = rf"Software\Google\Chrome\NativeMessagingHosts\{HOST_NAME}"
    chrome_manifest = Path(registry.values[key])
    assert chrome_manifest.parent == host_dir
    assert read(chrome_manifest)["allowed_origins"] == [CHROME_ORIGIN]
    assert read(chrome_manifest)["path"] == str(host_dir / "srllm-native-host.bat")
    firefox = Path(registry.values[rf"Software\Mozilla\NativeMessagingHosts\{HOST_NAME}"])
    assert read(firefox)["allowed_extensions"] == ["srllm@srllm.invalid"]
    assert set(registry.values) == {key, rf"Software\Mozilla\NativeMessagingHosts\{HOST_NAME}"}
    bat = (host_dir / "srllm-native-host.bat").read_bytes().decode()
    assert bat.startswith("@echo off\r\n") and f'"{PYTHON}" -m srllm.native_host %*' in bat
    assert any(f"HKCU\\{key}" in line for line in lines)

    native_install.uninstall(
        system="windows", home=home, env={}, host_dir=host_dir, registry=registry
    )
    assert registry.values == {} and not chrome_manifest.exists() and not firefox.exists()
    assert not (host_dir / "srllm-native-host.bat").exists()


class FakeRegistry:
    def __init__(self, keys: set[str]):
        self.keys = set(keys)
        self.values: dict[str, str] = {}

    def exists(self, key: str) -> bool:
        return key in self.keys or key in self.values

    def set_default(self, key: str, value: str) -> None:
        self.values[key] = value

    def delete(self, key: str) -> bool:
        return self.values.pop(key, None) is not None


def test_dry_run_writes_nothing_and_says_what_it_would(home, host_dir):
    (home / ".config" / "chromium").mkdir(parents=True)
    lines = install(home, host_dir, dry_run=True)
    assert all(line.startswith(("would write", "allowed")) for line in lines)
    assert not host_dir.exists() and not list(home.rglob("*.json"))


def test_a_profile_folder_of_its_own(home, host_dir, tmp_path):
    folder = tmp_path / "profile" / "NativeMessagingHosts"
    install(home, host_dir, browsers=["chromium"], target_dir=folder)
    assert read(folder / f"{HOST_NAME}.json")["allowed_origins"] == [CHROME_ORIGIN]
    with pytest.raises(SrllmError, match="exactly one --browser"):
        install(home, host_dir, target_dir=folder)


def test_extra_extension_ids_are_sorted_by_browser_and_bad_ones_refused(home, host_dir):
    extra = ["abcdefghijklmnopabcdefghijklmnop", "{12345678-1234-1234-1234-123456789abc}"]
    install(home, host_dir, browsers=["chrome", "firefox"], extension_ids=extra)
    chrome = read(home / LINUX["chrome"] / f"{HOST_NAME}.json")
    assert chrome["allowed_origins"] == [CHROME_ORIGIN, f"chrome-extension://{extra[0]}/"]
    firefox = read(home / LINUX["firefox"] / f"{HOST_NAME}.json")
    assert firefox["allowed_extensions"] == ["srllm@srllm.invalid", extra[1]]
    with pytest.raises(SrllmError, match="neither a Chrome ID"):
        install(home, host_dir, browsers=["chrome"], extension_ids=["*"])


def test_uninstall_removes_what_install_wrote_and_nothing_else(home, host_dir):
    (home / ".config" / "chromium" / "NativeMessagingHosts").mkdir(parents=True)
    other = home / ".config" / "chromium" / "NativeMessagingHosts" / "other.host.json"
    other.write_text("{}")
    install(home, host_dir)
    (host_dir / "server.json").write_text("{}")  # the host's state is not install's to remove
    lines = native_install.uninstall(system="linux", home=home, env={}, host_dir=host_dir)
    assert len(lines) == 2 and all(line.startswith("removed") for line in lines)
    assert other.exists() and (host_dir / "server.json").exists()
    assert not list(home.rglob(f"{HOST_NAME}.json"))
    assert native_install.uninstall(system="linux", home=home, env={}, host_dir=host_dir) == [
        "nothing to remove: the native messaging host is not installed"
    ]


def test_the_command_line(tmp_path, capsys):
    folder = tmp_path / "profile" / "NativeMessagingHosts"
    args = ["extension", "install", "--browser", "chromium", "--dir", str(folder)]
    assert cli.main(args) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[1] == f"wrote {folder / (HOST_NAME + '.json')} (Chromium)"
    assert cli.main(["extension", "uninstall", "--browser", "chromium", "--dir", str(folder)]) == 0
    assert not (folder / f"{HOST_NAME}.json").exists()
    assert cli.main(["extension", "install", "--dir", str(folder)]) == 1
    assert "exactly one --browser" in capsys.readouterr().err


@pytest.mark.skipif(os.name == "nt", reason="runs the POSIX launcher")
def test_the_written_launcher_is_a_working_host(tmp_path):
    """What the browser runs: the launcher, with the origin argument, speaking the protocol."""
    folder = tmp_path / "profile" / "NativeMessagingHosts"
    host_dir = tmp_path / "host"
    env = {"SRLLM_HOME": str(tmp_path / "srllm-home"), "SRLLM_PORT": "9"}
    native_install.install(
        ["chromium"], folder, system="linux", home=tmp_path, env=env, host_dir=host_dir,
        python=sys.executable,
    )  # fmt: skip
    launcher = read(folder / f"{HOST_NAME}.json")["path"]
    out = subprocess.run(
        [launcher, CHROME_ORIGIN],
        input=encode_message({"type": "status"}),
        capture_output=True,
        env={"PATH": os.environ.get("PATH", "")},  # the SRLLM_* settings come from the launcher
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    reply = read_message(io.BytesIO(out.stdout))
    assert reply["type"] == "status" and reply["url"] == "http://127.0.0.1:9"
    assert reply["log"] == str(tmp_path / "srllm-home" / "logs" / "server.log")


def test_the_allowed_chrome_id_is_the_one_the_manifest_key_gives():
    """Chrome derives an unpacked extension's ID from the manifest's public key: the first 32
    hex digits of its SHA-256, written with the letters a-p."""
    import base64
    import hashlib

    manifest = json.loads((Path(__file__).parents[2] / "extension" / "manifest.json").read_text())
    digest = hashlib.sha256(base64.b64decode(manifest["key"])).hexdigest()[:32]
    assert "".join(chr(ord("a") + int(c, 16)) for c in digest) == CHROME_EXTENSION_ID
    assert manifest["browser_specific_settings"]["gecko"]["id"] == "srllm@srllm.invalid"
