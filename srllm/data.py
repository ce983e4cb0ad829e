"""`srllm data fetch` and `srllm data list`: the datasets training, calibration and evaluation read.

    srllm data fetch                      # download from the public sources, pinned to commits
    srllm data fetch --from ../shared/data   # copy from a mirror of the shared data (offline)
    srllm data fetch --only paradetox stereoset [--force]
    srllm data list                       # each dataset, its licence, present and verified or not

srllm/data_manifest.json (built by tools/build_data_manifest.py) lists every file with its
sha256, size, licence and source: a URL, a derivation from other listed files
(srllm/data_derive.py), its text (the project's own notes), or `mirror_only` where no public file
reproduces it. Files land in paths.fetched_data_dir() (SRLLM_DATA, else the user data dir's
data/), which paths.data_root() then finds. Nothing lands unverified: each file is written to a
temporary file beside its place, checked against its sha256 and only then renamed into place, so
an interrupted or failed fetch leaves no partial file; files already there and verified are
skipped.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import logging
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from srllm import files, paths
from srllm.errors import Code, SrllmError

MANIFEST = Path(__file__).with_name("data_manifest.json")
GITHUB_RAW = "https://raw.githubusercontent.com/"
TIMEOUT_S = 60
CHUNK = 1 << 16
log = logging.getLogger("srllm")


def load_manifest(path: Path = MANIFEST) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def verified(path: Path, entry: dict) -> bool:
    """The file is there with the manifest's size and sha256."""
    return (
        path.is_file()
        and path.stat().st_size == entry["size"]
        and files.sha256_file(path) == entry["sha256"]
    )


def land(dest: Path, chunks: Iterable[bytes], entry: dict) -> None:
    """Write `chunks` to a temporary file beside `dest`, check size and sha256, then rename it
    into place. On a mismatch, an error or Ctrl-C the temporary file is removed and `dest` is
    left as it was, and so are its folders: a failed first fetch must not leave an empty data
    folder that paths.data_root() would then prefer to a checkout's shared data."""
    created = [p for p in (dest.parent, *dest.parent.parents) if not p.exists()]
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        _land(dest, chunks, entry)
    except BaseException:
        for folder in created:  # deepest first
            with contextlib.suppress(OSError):  # not empty: something else is in it
                folder.rmdir()
        raise


def _land(dest: Path, chunks: Iterable[bytes], entry: dict) -> None:
    with files.temp_path(dest) as tmp:
        digest, size = hashlib.sha256(), 0
        with tmp.open("wb") as fh:
            for chunk in chunks:
                size += len(chunk)
                if size > entry["size"]:  # never write more than the file should hold
                    break
                digest.update(chunk)
                fh.write(chunk)
            fh.flush()
            os.fsync(fh.fileno())
        got = digest.hexdigest() if size <= entry["size"] else f"more than {entry['size']} bytes"
        if got != entry["sha256"]:
            raise SrllmError(
                Code.DATA_INVALID,
                f"{entry['path']}: checksum mismatch: expected sha256 {entry['sha256']}, got {got}",
                path=entry["path"],
                expected=entry["sha256"],
                got=got,
            )
        os.replace(tmp, dest)


def _read_file(path: Path) -> Iterator[bytes]:
    with path.open("rb") as fh:
        yield from iter(lambda: fh.read(CHUNK), b"")


def _download(url: str, limit: int) -> Iterator[bytes]:
    """The body of `url`, at most `limit` bytes (the caller checks size and checksum)."""
    import http.client  # here: every `srllm` command imports this module to build its parser
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_S) as response:
            read = 0
            while read <= limit:
                chunk = response.read(CHUNK)
                if not chunk:
                    return
                read += len(chunk)
                yield chunk
    # HTTPError, DNS, refused, timeout, a connection dropped mid-body
    except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
        if isinstance(exc, urllib.error.HTTPError):
            exc.close()  # it holds the response's socket
        reason = getattr(exc, "reason", None) or exc
        raise SrllmError(
            Code.DATA_MISSING,
            f"cannot download {url}: {reason}; without network, `srllm data fetch --from DIR` "
            "copies from a copy of the shared data",
            url=url,
        ) from None


@dataclass
class FetchReport:
    target: Path
    landed: list[str] = field(default_factory=list)
    present: list[str] = field(default_factory=list)
    mirror_only: list[str] = field(default_factory=list)  # not landed: need --from DIR

    def summary(self) -> str:
        line = (
            f"{len(self.landed)} fetched, {len(self.present)} already present and verified, "
            f"into {self.target}"
        )
        if self.mirror_only:
            line += f"; {len(self.mirror_only)} need --from DIR"
        return line


def select(manifest: dict, only: Sequence[str] = ()) -> list[dict]:
    """The manifest's files, or those of the datasets named in `only`."""
    known = list(manifest["datasets"])
    unknown = [name for name in only if name not in known]
    if unknown:
        raise SrllmError(
            Code.BAD_INPUT,
            f"unknown dataset {', '.join(unknown)}; the datasets are {', '.join(known)}",
        )
    return [f for f in manifest["files"] if not only or f["dataset"] in only]


def fetch(
    target: Path,
    *,
    source: Path | None = None,
    only: Sequence[str] = (),
    force: bool = False,
    url_base: str = GITHUB_RAW,
    manifest: dict | None = None,
) -> FetchReport:
    """Get the manifest's files (all, or those of the datasets in `only`) into `target`.

    `source`: a mirror of the shared data to copy every file from, instead of downloading.
    `url_base` replaces https://raw.githubusercontent.com/ in the URLs (a local mirror of them).
    Raises SrllmError for a missing mirror or file, a failed download or a checksum mismatch;
    files that only a mirror has are reported in FetchReport.mirror_only, not raised.
    """
    manifest = manifest or load_manifest()
    entries = select(manifest, only)
    if source is not None and not source.is_dir():
        raise SrllmError(Code.BAD_INPUT, f"--from {source}: no such folder", path=str(source))
    report = FetchReport(target)
    # Derived files are made from files listed before them; plain ones first keeps that true.
    ordered = sorted(entries, key=lambda f: "derive" in f)
    for n, entry in enumerate(ordered, 1):
        where = f"[{n}/{len(ordered)}] {entry['path']}"
        dest = target / entry["path"]
        if not force and verified(dest, entry):
            report.present.append(entry["path"])
            log.info("%s: present", where)
            continue
        if source is not None:
            origin = source / entry["path"]
            if not origin.is_file():
                raise SrllmError(
                    Code.DATA_MISSING,
                    f"{entry['path']} is not in the mirror {source}",
                    path=str(origin),
                )
            land(dest, _read_file(origin), entry)
            how = f"copied from {source}"
        elif entry.get("mirror_only"):
            report.mirror_only.append(entry["path"])
            log.info("%s: needs --from DIR (%s)", where, entry["note"])
            continue
        elif "text" in entry:
            land(dest, [entry["text"].encode("utf-8")], entry)
            how = "written from the manifest"
        elif "derive" in entry:
            land(dest, [_derive(target, entry)], entry)
            how = f"made by {entry['derive']}"
        else:
            url = url_base + entry["url"].removeprefix(GITHUB_RAW)
            land(dest, _download(url, entry["size"]), entry)
            how = f"downloaded from {url}"
        report.landed.append(entry["path"])
        log.info("%s: %s (%s, sha256 verified)", where, how, _size(entry["size"]))
    return report


def _size(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 100_000 else f"{n / 1e3:.1f} kB"


def _derive(target: Path, entry: dict) -> bytes:
    from srllm.data_derive import DERIVATIONS

    folder = target / Path(entry["path"]).parent

    def read(name: str) -> bytes:
        # Inputs were fetched and verified earlier in this run, or found verified and skipped.
        return (folder / name).read_bytes()

    return DERIVATIONS[entry["derive"]](read)


@dataclass(frozen=True)
class DatasetStatus:
    name: str
    license: str
    files: int
    verified: int
    missing: list[str]
    corrupt: list[str]


def status(root: Path, manifest: dict | None = None) -> list[DatasetStatus]:
    """Per dataset: how many of its files are under `root` with the right checksum."""
    manifest = manifest or load_manifest()
    out = []
    for name, info in manifest["datasets"].items():
        entries = [f for f in manifest["files"] if f["dataset"] == name]
        missing = [f["path"] for f in entries if not (root / f["path"]).is_file()]
        corrupt = [
            f["path"]
            for f in entries
            if f["path"] not in missing and not verified(root / f["path"], f)
        ]
        ok = len(entries) - len(missing) - len(corrupt)
        out.append(DatasetStatus(name, info["license"], len(entries), ok, missing, corrupt))
    return out


def register(subparsers: argparse._SubParsersAction) -> None:
    data = subparsers.add_parser("data", help="get and check the datasets (training, eval)")
    actions = data.add_subparsers(dest="data_command", required=True, metavar="ACTION")

    get = actions.add_parser(
        "fetch", help="download the datasets, checksum-verified, into the user data dir"
    )
    get.add_argument(
        "--from", dest="source", type=Path, metavar="DIR",
        help="copy from a mirror of the shared data (a folder holding srllm/ and extra/) "
        "instead of downloading",
    )  # fmt: skip
    get.add_argument(
        "--only", nargs="+", action="extend", default=[], metavar="NAME",
        help="only these datasets (see `srllm data list`)",
    )  # fmt: skip
    get.add_argument("--force", action="store_true", help="fetch again files already verified")
    get.set_defaults(func=_fetch, on_interrupt=": nothing half-written; run it again to resume")

    show = actions.add_parser("list", help="each dataset, its licence, present and verified")
    show.set_defaults(func=_list)


def _fetch(args: argparse.Namespace) -> int:
    target = paths.fetched_data_dir()
    report = fetch(target, source=args.source, only=args.only, force=args.force)
    print(report.summary())
    if report.mirror_only:
        raise SrllmError(
            Code.DATA_MISSING,
            f"{len(report.mirror_only)} files have no public source that reproduces them "
            f"({', '.join(report.mirror_only)}): get them with `srllm data fetch --from DIR`, "
            "DIR a copy of the shared data",
            files=report.mirror_only,
        )
    return 0


def _list(args: argparse.Namespace) -> int:
    root = paths.data_root()
    print(f"data root: {root}")
    for s in status(root):
        if s.verified == s.files:
            state = "verified"
        else:
            parts = [f"{len(s.missing)} missing"] if s.missing else []
            parts += [f"{len(s.corrupt)} checksum mismatch"] if s.corrupt else []
            state = f"{s.verified}/{s.files} verified, " + ", ".join(parts)
        print(f"{s.name:<26} {state:<34} {s.license}")
    return 0
