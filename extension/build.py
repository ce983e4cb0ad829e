"""Package the extension: extension/dist/srllm-chrome.zip and extension/dist/srllm-firefox.zip.

Run:  python3 extension/build.py            (what `just extension` runs)
      python3 extension/build.py --out DIR

The source tree has one manifest for both browsers (`background` names `service_worker` and
`scripts`); each package keeps only the key its browser reads, so neither store warns. The
Chrome package keeps `key` (the public key that fixes the unpacked extension's ID, which the
native messaging host's manifest allows). The
unpacked trees are kept next to the zips (dist/chrome, dist/firefox) for `web-ext lint` and
for loading by hand. Outputs are written to temporary names and renamed; build.json comes last.
Standard library only.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import sys
import tempfile
import zipfile
from pathlib import Path

SOURCE = Path(__file__).resolve().parent
# What ships: everything else in extension/ (tests, node_modules, this script) is development.
SHIPPED = [
    "manifest.json",
    "background.js",
    "content.js",
    "card.js",
    "scan.js",
    "lib",
    "options",
    "popup",
    "welcome",
    "icons",
    "_locales",
]
SHIPPED_SUFFIXES = {".js", ".json", ".html", ".css", ".png"}
FIXED_TIME = (1980, 1, 1, 0, 0, 0)  # reproducible zips


def shipped_files() -> list[Path]:
    files: list[Path] = []
    for name in SHIPPED:
        path = SOURCE / name
        if not path.exists():
            raise SystemExit(f"srllm: error: extension/{name} is missing")
        if path.is_file():
            files.append(path)
        else:
            files.extend(p for p in path.rglob("*") if p.is_file() and p.suffix in SHIPPED_SUFFIXES)
    return sorted(files)


def browser_manifest(manifest: dict, browser: str) -> dict:
    out = json.loads(json.dumps(manifest))
    background = out["background"]
    if browser == "chrome":
        background.pop("scripts", None)
        out.pop("browser_specific_settings", None)
    else:
        background.pop("service_worker", None)
        out.pop("key", None)  # Chrome's: it fixes the unpacked extension's ID; Firefox uses gecko.id
    return out


def write_tree(files: list[Path], manifest: dict, target: Path) -> None:
    for path in files:
        relative = path.relative_to(SOURCE)
        destination = target / relative
        destination.parent.mkdir(parents=True, exist_ok=True)
        if relative.as_posix() == "manifest.json":
            destination.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
        else:
            shutil.copyfile(path, destination)


def write_zip(tree: Path, target: Path) -> None:
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(p for p in tree.rglob("*") if p.is_file()):
            info = zipfile.ZipInfo(path.relative_to(tree).as_posix(), date_time=FIXED_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, path.read_bytes())


def build(out: Path) -> dict:
    manifest = json.loads((SOURCE / "manifest.json").read_text(encoding="utf-8"))
    files = shipped_files()
    out.mkdir(parents=True, exist_ok=True)
    report = {
        "version": manifest["version"],
        "files": [p.relative_to(SOURCE).as_posix() for p in files],
    }
    with tempfile.TemporaryDirectory(dir=out, prefix=".build-") as scratch:
        for browser in ("chrome", "firefox"):
            tree = Path(scratch) / browser
            write_tree(files, browser_manifest(manifest, browser), tree)
            zip_tmp = Path(scratch) / f"srllm-{browser}.zip"
            write_zip(tree, zip_tmp)
            final_tree = out / browser
            if final_tree.exists():
                shutil.rmtree(final_tree)
            tree.rename(final_tree)
            zip_tmp.replace(out / f"srllm-{browser}.zip")
            digest = hashlib.sha256((out / f"srllm-{browser}.zip").read_bytes()).hexdigest()
            report[browser] = {"zip": f"srllm-{browser}.zip", "sha256": digest}
    build_json = out / "build.json"
    tmp = build_json.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    tmp.replace(build_json)
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=SOURCE / "dist", help="output folder")
    args = parser.parse_args(argv)
    report = build(args.out.resolve())
    for browser in ("chrome", "firefox"):
        print(f"srllm: wrote {args.out / report[browser]['zip']} ({len(report['files'])} files)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
