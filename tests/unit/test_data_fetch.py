"""`srllm data fetch`: every file lands verified (from a mirror, or downloaded from a local HTTP
server standing in for GitHub and then derived), nothing lands unverified or half-written, and
missing data names the command that gets it."""

from __future__ import annotations

import functools
import hashlib
import http.server
import importlib.util
import re
import shutil
import threading
from pathlib import Path
from urllib.parse import unquote

import pytest

from srllm import cli, data, paths
from srllm.errors import Code, SrllmError
from srllm.evaluation import data as eval_data
from srllm.training import data as train_data

REPO = Path(__file__).resolve().parents[2]
MANIFEST = data.load_manifest()
PINNED = re.compile(r"^https://raw\.githubusercontent\.com/[^/]+/[^/]+/[0-9a-f]{40}/\S+$")


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def leftovers(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.name.endswith(".part")]


@pytest.fixture
def mirror(monkeypatch) -> Path:
    """The shared data, found by the one lookup (a checkout's ../shared/data here)."""
    monkeypatch.delenv("SRLLM_DATA", raising=False)
    root = paths.data_root()
    if not (root / "srllm" / "infer_50.csv").is_file():
        pytest.skip(f"no shared data at {root}")
    return root


@pytest.fixture
def target(tmp_path, monkeypatch) -> Path:
    folder = tmp_path / "fetched"
    monkeypatch.setenv("SRLLM_DATA", str(folder))
    return folder


def test_manifest_lists_every_file_the_stages_read_with_its_source_and_licence():
    listed = {f["path"]: f for f in MANIFEST["files"]}
    spec = importlib.util.spec_from_file_location("build_lexicon", REPO / "tools/build_lexicon.py")
    lexicon = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(lexicon)
    read = {f"extra/{p}" for p in train_data.EXTRA_FILES.values()}
    read |= {f"extra/{p}" for p in train_data.WNC_LEXICONS}
    read |= {str(p) for p in (eval_data.INFER_FILE, eval_data.COUNTERFACTUAL_FILE)}
    read |= {str(eval_data.STEREOSET_FILE), f"extra/{lexicon.SOURCE}", "srllm/train_500.csv"}
    assert read <= set(listed), read - set(listed)
    folders = {d["folder"] for d in MANIFEST["datasets"].values()}
    assert {f"{folder}/SOURCE.md" for folder in folders} - {"extra/SOURCE.md"} <= set(listed)

    for path, f in listed.items():
        assert re.fullmatch(r"[0-9a-f]{64}", f["sha256"]) and f["size"] > 0, path
        assert f["license"].strip() and f["dataset"] in MANIFEST["datasets"], path
        kinds = [k for k in ("url", "derive", "text", "mirror_only") if k in f]
        assert len(kinds) == 1, (path, kinds)
        if "url" in f:
            assert PINNED.match(f["url"]), f["url"]
        if "derive" in f:  # made from files that are downloaded, of the same dataset
            assert f["derived_from"] == [listed[i]["url"] for i in f["inputs"]], path
            assert all(listed[i]["dataset"] == f["dataset"] for i in f["inputs"]), path
        if "mirror_only" in f:
            assert f["note"].strip(), path
    assert any("license" in p.lower() for p in listed if p.startswith("extra/paradetox/"))


def test_fetch_from_a_mirror_verifies_every_file_and_a_second_fetch_skips_them(mirror, target):
    report = data.fetch(target, source=mirror)
    every = [f["path"] for f in MANIFEST["files"]]
    assert sorted(report.landed) == sorted(every) and not report.present
    for f in MANIFEST["files"]:
        assert sha256(target / f["path"]) == f["sha256"] == sha256(mirror / f["path"])
    assert not leftovers(target)
    # The one lookup now finds the fetched copy.
    assert paths.dataset_path("srllm", "infer_50.csv") == target / "srllm" / "infer_50.csv"

    again = data.fetch(target, source=mirror)
    assert not again.landed and sorted(again.present) == sorted(every)


def _mirror_with(tmp: Path, mirror: Path, dataset: str) -> Path:
    copy = tmp / "mirror"
    for f in data.select(MANIFEST, [dataset]):
        (copy / f["path"]).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(mirror / f["path"], copy / f["path"])
    return copy


def test_a_corrupted_source_file_is_refused_and_leaves_nothing_behind(mirror, target, tmp_path):
    bad = _mirror_with(tmp_path, mirror, "srllm")
    corrupted = bad / "srllm" / "infer_50.csv"
    corrupted.write_bytes(corrupted.read_bytes().replace(b"Biased", b"biased", 1))
    stale = target / "srllm" / "infer_50.csv"  # what was there before stays as it was
    stale.parent.mkdir(parents=True)
    stale.write_text("stale\n")

    with pytest.raises(SrllmError) as err:
        data.fetch(target, source=bad, only=["srllm"])
    entry = next(f for f in MANIFEST["files"] if f["path"] == "srllm/infer_50.csv")
    assert err.value.code is Code.DATA_INVALID
    assert "srllm/infer_50.csv" in err.value.message
    assert entry["sha256"] in err.value.message and sha256(corrupted) in err.value.message
    assert stale.read_text() == "stale\n"
    assert not leftovers(target)


def test_an_interrupted_write_leaves_no_file(tmp_path):
    entry = {"path": "x/y.txt", "size": 8, "sha256": hashlib.sha256(b"abcdefgh").hexdigest()}

    def chunks():
        yield b"abcd"
        raise KeyboardInterrupt

    dest = tmp_path / "x" / "y.txt"
    with pytest.raises(KeyboardInterrupt):
        data.land(dest, chunks(), entry)
    assert not dest.parent.exists()
    data.land(dest, [b"abcd", b"efgh"], entry)
    assert dest.read_bytes() == b"abcdefgh" and list(dest.parent.iterdir()) == [dest]


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def github(tmp_path, monkeypatch):
    """A local HTTP server standing in for raw.githubusercontent.com; yields (folder, base URL)."""
    monkeypatch.setenv("no_proxy", "*")
    monkeypatch.setenv("NO_PROXY", "*")
    www = tmp_path / "www"
    www.mkdir()
    handler = functools.partial(_Quiet, directory=str(www))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield www, f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_download_derives_and_verifies_all_but_the_mirror_only_files(mirror, target, github):
    www, base = github
    for f in MANIFEST["files"]:
        if "url" in f:  # served where the pinned URL points
            served = www / unquote(f["url"].removeprefix(data.GITHUB_RAW))
            served.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(mirror / f["path"], served)

    report = data.fetch(target, url_base=base)
    only_mirror = [f["path"] for f in MANIFEST["files"] if f.get("mirror_only")]
    assert sorted(report.mirror_only) == sorted(only_mirror)
    assert sorted(report.landed) == sorted(
        f["path"] for f in MANIFEST["files"] if not f.get("mirror_only")
    )
    for f in MANIFEST["files"]:
        if not f.get("mirror_only"):  # derived ones too: byte for byte what the mirror has
            assert sha256(target / f["path"]) == f["sha256"], f["path"]
        else:
            assert not (target / f["path"]).exists()
    assert not leftovers(target)


def test_a_failed_download_names_the_url(target, github):
    _, base = github
    entry = next(f for f in MANIFEST["files"] if f["path"] == "srllm/infer_50.csv")
    manifest = {"datasets": {"srllm": MANIFEST["datasets"]["srllm"]}, "files": [entry]}
    with pytest.raises(SrllmError) as err:
        data.fetch(target, url_base=base, manifest=manifest)
    url = base + entry["url"].removeprefix(data.GITHUB_RAW)
    assert err.value.code is Code.DATA_MISSING and url in err.value.message
    assert not target.exists()  # not even an empty folder that data_root() would prefer


def test_unknown_dataset_names_the_known_ones():
    with pytest.raises(SrllmError) as err:
        data.select(MANIFEST, ["paradetox", "nope"])
    assert err.value.code is Code.BAD_INPUT
    assert "nope" in err.value.message and "stereoset" in err.value.message


def test_cli_missing_from_folder_is_one_error_line(tmp_path, target, capsys):
    missing = tmp_path / "no-such-mirror"
    assert cli.main(["data", "fetch", "--from", str(missing)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert [line for line in err if line.startswith("srllm: error:")] == err
    assert len(err) == 1 and str(missing) in err[0]
    assert not target.exists()


def test_cli_list_shows_verified_missing_and_corrupt_datasets(mirror, target, capsys):
    assert cli.main(["data", "fetch", "--from", str(mirror), "--only", "holisticbias"]) == 0
    (target / "extra/holisticbias/LICENSE").write_text("not the licence\n")
    capsys.readouterr()
    assert cli.main(["data", "list"]) == 0
    out = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()}
    assert str(target) in out["data"]
    n = len(data.select(MANIFEST, ["holisticbias"]))
    assert (
        f"{n - 1}/{n} verified" in out["holisticbias"]
        and "1 checksum mismatch" in out["holisticbias"]
    )
    assert "CC-BY-SA-4.0" in out["holisticbias"]
    assert "missing" in out["paradetox"] and "CC0-1.0" in out["paradetox"]


def test_dataset_path_on_an_empty_srllm_data_names_the_fetch_command(tmp_path, monkeypatch):
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv("SRLLM_DATA", str(empty))
    with pytest.raises(SrllmError) as err:
        paths.dataset_path("srllm", "infer_50.csv")
    assert err.value.code is Code.DATA_MISSING
    assert "srllm data fetch" in err.value.message and str(empty) in err.value.message
