"""Make sure Debian's Chromium is there for the browser end-to-end tests.

Installs it with apt-get when missing and running as root (as on CI); otherwise says how.
Playwright never downloads a browser here: the tests use /usr/bin/chromium.
"""

import os
import shutil
import subprocess
import sys

CHROMIUM = "/usr/bin/chromium"


def main() -> int:
    if os.path.exists(CHROMIUM):
        return 0
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        print(
            "srllm: error: the browser tests need Debian's chromium: "
            "sudo apt-get install -y chromium",
            file=sys.stderr,
        )
        return 1
    print("srllm: installing Debian's chromium for the browser tests", file=sys.stderr)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-q"], check=True, env=env)
    subprocess.run(["apt-get", "install", "-y", "-q", "chromium"], check=True, env=env)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
