"""Make sure Debian's Chromium and Firefox ESR are there for the browser end-to-end tests.

Installs what is missing with one apt-get call when running as root (as on CI); otherwise says
how. Nothing ever downloads a browser here: Playwright drives /usr/bin/chromium, and Puppeteer
(puppeteer-core, which has no browser download) drives /usr/bin/firefox-esr.
"""

import os
import shutil
import subprocess
import sys

# Debian package -> the binary the tests run.
BROWSERS = {
    "chromium": "/usr/bin/chromium",
    "firefox-esr": "/usr/bin/firefox-esr",
}


def missing_packages() -> list[str]:
    return [package for package, binary in BROWSERS.items() if not os.path.exists(binary)]


def main() -> int:
    missing = missing_packages()
    if not missing:
        return 0
    names = " and ".join(missing)
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        print(
            f"srllm: error: the browser tests need Debian's {names}: "
            f"sudo apt-get install -y {' '.join(missing)}",
            file=sys.stderr,
        )
        return 1
    print(f"srllm: installing Debian's {names} for the browser tests", file=sys.stderr)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-q"], check=True, env=env)
    subprocess.run(["apt-get", "install", "-y", "-q", *missing], check=True, env=env)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
