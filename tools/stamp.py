"""Setup stamps: `check NAME FILES...` exits 0 when FILES are unchanged since `write NAME FILES...`.

This keeps `just setup` at about a second when nothing changed.
"""

import hashlib
import sys
from pathlib import Path

STAMPS = Path(".venv/.stamps")


def digest(files: list[str]) -> str:
    h = hashlib.sha256(sys.version.encode())
    for name in files:
        path = Path(name)
        h.update(name.encode())
        h.update(path.read_bytes() if path.exists() else b"missing")
    return h.hexdigest()


def main(argv: list[str]) -> int:
    action, name, *files = argv
    stamp = STAMPS / name
    if action == "check":
        return 0 if stamp.is_file() and stamp.read_text() == digest(files) else 1
    STAMPS.mkdir(parents=True, exist_ok=True)
    stamp.write_text(digest(files))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
