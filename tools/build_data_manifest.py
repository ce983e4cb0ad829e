"""Build srllm/data_manifest.json, the list of dataset files `srllm data fetch` gets, from a mirror
of the shared data (no network):

    python tools/build_data_manifest.py [--from ../shared/data]

Each file gets its sha256, size, licence and where it comes from: a raw download URL pinned to a
commit (the local file is a verbatim copy of it); a derivation (srllm/data_derive.py) from such
files, run here on the mirror and required to reproduce the local file byte for byte; the text
itself, for this project's own notes (SOURCE.md); or `mirror_only`, with the reason, where no
public file reproduces it. The sources, commits and licences are those the datasets' SOURCE.md
files give.
"""

from __future__ import annotations

import argparse
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

from srllm.data_derive import DERIVATIONS, NEUTRAL_REWRITER_SUBSETS, RETEXT_CATEGORIES

REPO = Path(__file__).resolve().parents[1]

OUT = REPO / "srllm" / "data_manifest.json"
NOTES = "srllm's own notes on the data (Apache-2.0)"


def gh(repo: str, commit: str, path: str) -> str:
    return f"https://raw.githubusercontent.com/{repo}/{commit}/{quote(path)}"


@dataclass(frozen=True)
class Derived:
    function: str  # a key of srllm.data_derive.DERIVATIONS
    inputs: tuple[str, ...]  # files of the same folder, each listed in the dataset too


@dataclass(frozen=True)
class MirrorOnly:
    why: str
    derived_from: tuple[str, ...] = ()


EMBED = "embed"  # the file's text travels in the manifest


@dataclass(frozen=True)
class Dataset:
    folder: str
    license: str
    source: str  # the public repository, for `srllm data list`
    files: dict  # name in folder -> URL | Derived | MirrorOnly | EMBED
    licenses: dict = field(default_factory=dict)  # name -> licence, where not the dataset's


SRLLM_REPO = ("shainarazavi/Safe-Responsible-LLM", "875eb53e5561bc3cc78399fcca5fc536a3309a7e")
PARADETOX = ("s-nlp/paradetox", "d97b17d0813539cf05c74f9cdb5e66372704ca57")
NEUTRAL = ("vnmssnhv/NeuTralRewriter", "0503ed5a0d915e0fa6628aec852fb2b5c95767f9")
WNC = ("rpryzant/neutralizing-bias", "b7b42e71d211b4f9a757a5e8d9aa98236fb733ec")
FAIR_LLM = ("i-gallegos/Fair-LLM-Benchmark", "b21f3912c4722f1b067e646d1cb100771b65095f")
ELIDEK = "elidek-themis/datasets"
STEREOSET = ("moinnadeem/StereoSet", "ead7d086a64a192a1eca88e0dd2fd163de375218")
TOXIGEN = ("microsoft/TOXIGEN", "01517e814639e0334c920a3c502036c8158aac87")
TOXIGEN_MIRROR = (
    "Sanjana-Srinidhi/Hate-speech-detection",
    "558b470eb4c0d456205a0d85a4f0a9c2ef9c14df",
)
# The groups of ToxiGen's prompt files (prompts/{hate,neutral}_<group>_1k.txt).
TOXIGEN_PROMPT_GROUPS = (
    "asian", "bisexual", "black", "chinese", "immigrant", "jewish", "latino", "lgbtq",
    "mental_disability", "mexican", "middle_east", "muslim", "native_american",
    "physical_disability", "trans", "women",
)  # fmt: skip
RETEXT = ("retextjs/retext-equality", "192deddf13bc2823540b0d9a0a6e17fb6d995bcd")

NEUTRAL_FILES = tuple(
    f"Datasets/{subset}/{subset}.{ext}"
    for subset, source in NEUTRAL_REWRITER_SUBSETS
    for ext in (source, "references", "rb.output", "neural.output")
)
HOLISTIC_FILES = ("data/v1.1/descriptors.json", "data/v1.1/standalone_noun_phrases.json")
WNC_FILES = ("pre.train", "post.train", "pre.test", "post.test")
WNC_LEXICONS = ("npov_lexicon.txt", "strong_subjectives_riloff2003.txt")  # the ones training reads
RETEXT_FILES = tuple(f"retext-equality/{c}.yml" for c in RETEXT_CATEGORIES)

# Every file that training, calibration, eval, the lexicon builder and the benchmarks read, the
# raw files the derived ones are made from, and each dataset's notes and licence.
DATASETS = {
    "srllm": Dataset(
        folder="srllm",
        license="none stated (the repository's README releases the data; cite Raza et al. 2024)",
        source="https://github.com/shainarazavi/Safe-Responsible-LLM",
        files={
            name: gh(*SRLLM_REPO, f"datasets/{name}")
            for name in ("train_500.csv", "infer_50.csv", "counterfactual-inhouse.csv")
        }
        | {"SOURCE.md": EMBED},
    ),
    "extra": Dataset(
        folder="extra",
        license=NOTES,
        source="this project: the index of the extra datasets",
        files={"README.md": EMBED},
    ),
    "paradetox": Dataset(
        folder="extra/paradetox",
        license="CC0-1.0",
        source="https://github.com/s-nlp/paradetox",
        files={
            "paradetox.tsv": gh(*PARADETOX, "paradetox/paradetox.tsv"),
            "paradetox_pairs.jsonl": Derived("paradetox_pairs", ("paradetox.tsv",)),
            "LICENSE_CC0-1.0": gh(*PARADETOX, "LICENSE"),
            "SOURCE.md": EMBED,
        },
    ),
    "neutral_rewriter_gender": Dataset(
        folder="extra/neutral_rewriter_gender",
        license="CC-BY-SA-4.0 (WinoBias+); none stated (OpenSubtitles, Reddit): evaluation only",
        source="https://github.com/vnmssnhv/NeuTralRewriter",
        files={name: gh(*NEUTRAL, name) for name in NEUTRAL_FILES}
        | {
            "neutral_rewriter_pairs.jsonl": Derived("neutral_rewriter_pairs", NEUTRAL_FILES),
            "LICENSE_CC-BY-SA-4.0_from_Fair-LLM-Benchmark": MirrorOnly(
                "the CC BY-SA 4.0 text copied from i-gallegos/Fair-LLM-Benchmark; SOURCE.md does "
                "not record its path there"
            ),
            "SOURCE.md": EMBED,
        },
        licenses={
            **{n: "CC-BY-SA-4.0" for n in NEUTRAL_FILES if "WinoBias+" in n},
            **{n: "none stated: evaluation only" for n in NEUTRAL_FILES if "WinoBias+" not in n},
            "LICENSE_CC-BY-SA-4.0_from_Fair-LLM-Benchmark": "CC-BY-SA-4.0",
        },
    ),
    "wnc_sample": Dataset(
        folder="extra/wnc_sample",
        license="MIT (code); the text is from Wikipedia (CC-BY-SA)",
        source="https://github.com/rpryzant/neutralizing-bias",
        files={name: gh(*WNC, f"baselines/test_data/{name}") for name in WNC_FILES}
        | {f"lexicons/{name}": gh(*WNC, f"src/lexicons/{name}") for name in WNC_LEXICONS}
        | {
            "wnc_sample_pairs.jsonl": Derived("wnc_sample_pairs", WNC_FILES),
            "LICENSE_MIT_code": gh(*WNC, "LICENSE"),
            "SOURCE.md": EMBED,
        },
    ),
    "holisticbias": Dataset(
        folder="extra/holisticbias",
        license="CC-BY-SA-4.0",
        source="https://github.com/i-gallegos/Fair-LLM-Benchmark (HolisticBias/)",
        files={name: gh(*FAIR_LLM, f"HolisticBias/{name}") for name in HOLISTIC_FILES}
        | {
            "holisticbias_v1.1_descriptors_flat.csv": Derived("holisticbias_flat", HOLISTIC_FILES),
            "holisticbias_sentence_sample.jsonl": Derived(
                "holisticbias_sentence_sample", HOLISTIC_FILES
            ),
            "LICENSE": gh(*FAIR_LLM, "HolisticBias/LICENSE"),
            "SOURCE.md": EMBED,
        },
    ),
    "stereoset": Dataset(
        folder="extra/stereoset",
        license="CC-BY-SA-4.0",
        source="https://github.com/elidek-themis/datasets (a flattened StereoSet dev set)",
        files={
            "stereo_set_intersentence.jsonl": gh(
                ELIDEK,
                "73bf599d88b0fc4c3c3da9ba05705c1475f079bd",
                "notebooks/stereo_set_intersentence.json",
            ),  # fmt: skip
            "intrasentence_stereo_set.csv": gh(
                ELIDEK,
                "a2e635422e1bfdcc8242b247a7d598c4f7b37f78",
                "llms/stereo_set/data/intrasentence_stereo_set.csv",
            ),  # fmt: skip
            "stereoset_dev_normalized.jsonl": Derived(
                "stereoset_dev_normalized",
                ("stereo_set_intersentence.jsonl", "intrasentence_stereo_set.csv"),
            ),
            "LICENSE_StereoSet_CC-BY-SA-4.0.md": gh(*STEREOSET, "LICENSE.md"),
            "SOURCE.md": EMBED,
        },
    ),
    "toxigen": Dataset(
        folder="extra/toxigen",
        license="CDLA-Permissive-2.0 (data), MIT (code); research use",
        source="https://github.com/microsoft/TOXIGEN (annotated train split, via a mirror)",
        files={
            "toxigen_annotated_train_clean.csv": MirrorOnly(
                "made from the mirror's data/toxigen.csv (text stored as Python bytes literals: "
                "decoded, stripped, rewritten by csv); the raw file was not kept, so the "
                "derivation could not be checked byte for byte",
                (gh(*TOXIGEN_MIRROR, "data/toxigen.csv"),),
            ),
            "toxigen_seed_statements.jsonl": MirrorOnly(
                "the unique statements of the 32 prompt files (a `- ` list each), with their "
                "label from the file name; the prompt files were not kept, so the split could "
                "not be checked byte for byte",
                tuple(
                    gh(*TOXIGEN, f"prompts/{label}_{group}_1k.txt")
                    for label in ("hate", "neutral")
                    for group in TOXIGEN_PROMPT_GROUPS
                ),
            ),
            "LICENSE_TOXIGEN_MIT_and_CDLA-Permissive-2.0.txt": gh(*TOXIGEN, "LICENSE.txt"),
            "LICENSE_mirror_repo": gh(*TOXIGEN_MIRROR, "LICENSE"),
            "SOURCE.md": EMBED,
        },
        licenses={"LICENSE_mirror_repo": "MIT"},
    ),
    "inclusive_language_rules": Dataset(
        folder="extra/inclusive_language_rules",
        license="MIT",
        source="https://github.com/retextjs/retext-equality",
        files={name: gh(*RETEXT, f"data/en/{Path(name).name}") for name in RETEXT_FILES}
        | {
            "retext_equality_rules_flat.jsonl": Derived("retext_equality_rules_flat", RETEXT_FILES),
            "retext-equality/LICENSE_MIT": gh(*RETEXT, "license"),
            "SOURCE.md": EMBED,
        },
    ),
}


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def entry(name: str, dataset: str, spec: Dataset, how, mirror: Path) -> dict:
    path = f"{spec.folder}/{name}"
    local = mirror / path
    if not local.is_file():
        raise SystemExit(f"{local}: not in the mirror")
    data = local.read_bytes()
    record = {
        "path": path,
        "dataset": dataset,
        "sha256": sha256(data),
        "size": len(data),
        "license": NOTES if how == EMBED else spec.licenses.get(name, spec.license),
    }
    if how == EMBED:
        record["text"] = data.decode("utf-8")
    elif isinstance(how, str):
        record["url"] = how
    elif isinstance(how, Derived):
        folder = mirror / spec.folder
        made = DERIVATIONS[how.function](lambda n: (folder / n).read_bytes())
        if made != data:
            raise SystemExit(f"{path}: {how.function} does not reproduce the mirror's file")
        record |= {
            "derive": how.function,
            "inputs": [f"{spec.folder}/{n}" for n in how.inputs],
            "derived_from": [spec.files[n] for n in how.inputs],
        }
    else:
        record |= {"mirror_only": True, "note": how.why}
        if how.derived_from:
            record["derived_from"] = list(how.derived_from)
    return record


def build(mirror: Path) -> dict:
    files = []
    for dataset, spec in DATASETS.items():
        for name, how in spec.files.items():
            if isinstance(how, Derived):
                missing = [n for n in how.inputs if not isinstance(spec.files.get(n), str)]
                if missing:
                    raise SystemExit(f"{name}: inputs without a download URL: {missing}")
            files.append(entry(name, dataset, spec, how, mirror))
    return {
        "version": 1,
        "generated_by": "tools/build_data_manifest.py",
        "datasets": {
            name: {"folder": s.folder, "license": s.license, "source": s.source}
            for name, s in DATASETS.items()
        },
        "files": files,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--from", dest="mirror", type=Path, default=REPO.parent / "shared" / "data",
        help="a mirror of the shared data (default ../shared/data)",
    )  # fmt: skip
    args = parser.parse_args()
    manifest = build(args.mirror)
    tmp = OUT.with_suffix(".tmp")
    tmp.write_text(json.dumps(manifest, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    tmp.replace(OUT)
    kinds = [
        "mirror_only" if f.get("mirror_only") else "derived" if "derive" in f
        else "embedded" if "text" in f else "url"
        for f in manifest["files"]
    ]  # fmt: skip
    counts = ", ".join(
        f"{kinds.count(k)} {k}" for k in ("url", "derived", "embedded", "mirror_only")
    )
    print(f"{OUT}: {len(kinds)} files ({counts})")


if __name__ == "__main__":
    main()
