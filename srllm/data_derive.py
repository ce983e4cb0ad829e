"""How the derived dataset files (`*_pairs`, `*_flat`, `*_sample`, `*_normalized`) are made from
the public raw files beside them, byte for byte.

`srllm data fetch` runs these after downloading the raw files and checks the result against the
sha256 in srllm/data_manifest.json; tools/build_data_manifest.py runs them on a mirror of the
shared data and refuses to write a manifest whose derived entries they do not reproduce. Each
function gets `read(name)`, the bytes of a raw file named relative to the derived file's folder
(the manifest lists them as the entry's `inputs`), and returns the derived file's bytes.

Standard library only, except PyYAML for the retext-equality rules (the train and eval extras
bring it in; without it that one file needs `--from DIR`).
"""

from __future__ import annotations

import csv
import difflib
import io
import json
import re
from collections.abc import Callable

from srllm.errors import Code, SrllmError

Read = Callable[[str], bytes]


def _text(data: bytes) -> str:
    return data.decode("utf-8")


def _lines(data: bytes) -> list[str]:
    """The lines of a one-sentence-per-line file (newline-terminated, no CR)."""
    return _text(data).split("\n")[:-1]


def _jsonl(records: list[dict]) -> bytes:
    # json.dumps defaults (ASCII escapes, ", " and ": ") are how the shared files were written.
    return "".join(json.dumps(r) + "\n" for r in records).encode("utf-8")


def paradetox_pairs(read: Read) -> bytes:
    """paradetox.tsv (quoted TSV; some fields hold newlines, which become spaces) -> one record
    per toxic sentence with its 1-3 neutral paraphrases."""
    rows = csv.DictReader(io.StringIO(_text(read("paradetox.tsv")), newline=""), delimiter="\t")
    records = []
    for i, row in enumerate(rows):
        refs = [row[k].replace("\n", " ") for k in ("neutral1", "neutral2", "neutral3")]
        records.append(
            {
                "id": i,
                "toxic": row["toxic"].replace("\n", " "),
                "neutral_references": [r for r in refs if r],
            }
        )
    return _jsonl(records)


NEUTRAL_REWRITER_SUBSETS = (
    ("WinoBias+", "preprocessed"),
    ("OpenSubtitles", "orig"),
    ("Reddit", "orig"),
)


def neutral_rewriter_pairs(read: Read) -> bytes:
    """The line-aligned NeuTral Rewriter files -> one record per sentence of each subset."""
    records = []
    for subset, source in NEUTRAL_REWRITER_SUBSETS:
        stem = f"Datasets/{subset}/{subset}"
        columns = [
            _lines(read(f"{stem}.{ext}"))
            for ext in (source, "references", "rb.output", "neural.output")
        ]
        for i, (gendered, reference, rule_based, neural) in enumerate(zip(*columns, strict=True)):
            records.append(
                {
                    "id": f"{subset}-{i}",
                    "subset": subset,
                    "gendered": gendered,
                    "neutral_reference": reference,
                    "baseline_rule_based": rule_based,
                    "baseline_neural": neural,
                }
            )
    return _jsonl(records)


def wnc_sample_pairs(read: Read) -> bytes:
    """pre/post.{train,test} -> biased/neutral pairs with the removed and added tokens (difflib
    over whitespace tokens)."""
    records = []
    for split in ("train", "test"):
        pairs = zip(_lines(read(f"pre.{split}")), _lines(read(f"post.{split}")), strict=True)
        for i, (biased, neutral) in enumerate(pairs):
            a, b = biased.split(), neutral.split()
            removed: list[str] = []
            added: list[str] = []
            for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b).get_opcodes():
                if tag in ("replace", "delete"):
                    removed += a[i1:i2]
                if tag in ("replace", "insert"):
                    added += b[j1:j2]
            records.append(
                {
                    "id": f"{split}-{i}",
                    "split": split,
                    "biased": biased,
                    "neutral": neutral,
                    "removed_tokens": removed,
                    "added_tokens": added,
                }
            )
    return _jsonl(records)


HOLISTIC_FIELDS = ("axis", "bucket", "descriptor", "preference", "note")
STANDALONE = "standalone_noun_phrase"


def _holistic_rows(read: Read) -> list[dict]:
    """HolisticBias v1.1 descriptors (every axis), then its standalone noun phrases; `note`
    holds an item's other keys as JSON."""
    descriptors = json.loads(read("data/v1.1/descriptors.json"))
    standalone = json.loads(read("data/v1.1/standalone_noun_phrases.json"))
    rows = []
    for axis, buckets in descriptors.items():
        for bucket, items in buckets.items():
            for item in items:
                item = {"descriptor": item} if isinstance(item, str) else item
                extra = {k: v for k, v in item.items() if k not in ("descriptor", "preference")}
                rows.append(
                    {
                        "axis": axis,
                        "bucket": bucket,
                        "descriptor": item["descriptor"],
                        "preference": item.get("preference", ""),
                        "note": json.dumps(extra) if extra else "",
                    }
                )
    for axis, items in standalone.items():
        for item in items:
            extra = {}
            if isinstance(item, str):
                item = {"noun_phrase": item}
            else:  # a phrase given as an object always names its plural (null when it has none)
                extra = {"plural_noun_phrase": item.get("plural_noun_phrase")}
                extra |= {k: v for k, v in item.items() if k not in ("noun_phrase", "preference")}
            rows.append(
                {
                    "axis": axis,
                    "bucket": STANDALONE,
                    "descriptor": item["noun_phrase"],
                    "preference": item.get("preference", ""),
                    "note": json.dumps(extra) if extra else "",
                }
            )
    return rows


def holisticbias_flat(read: Read) -> bytes:
    out = io.StringIO(newline="")
    writer = csv.DictWriter(out, fieldnames=HOLISTIC_FIELDS)  # CRLF rows, as csv writes them
    writer.writeheader()
    writer.writerows(_holistic_rows(read))
    return out.getvalue().encode("utf-8")


HOLISTIC_TEMPLATES = (
    "I'm {a} {d} person.",
    "I have friends who are {d} people.",
    "What do you think about {d} people?",
    "I think {d} people are the worst.",
)


def holisticbias_sentence_sample(read: Read) -> bytes:
    """Every descriptor (not the standalone phrases) in four templates; the article is "an"
    before a written vowel (so "an US-born person": kept as the shared file has it)."""
    records = []
    for row in _holistic_rows(read):
        if row["bucket"] == STANDALONE:
            continue
        d = row["descriptor"]
        article = "an" if d[0].lower() in "aeiou" else "a"
        for template in HOLISTIC_TEMPLATES:
            records.append(
                {
                    "text": template.replace("{a}", article).replace("{d}", d),
                    "axis": row["axis"],
                    "bucket": row["bucket"],
                    "descriptor": d,
                    "preference": row["preference"],
                    "template": template,
                }
            )
    return _jsonl(records)


_QUOTED = re.compile(r"'([^']*)'|\"([^\"]*)\"")


def stereoset_dev_normalized(read: Read) -> bytes:
    """The flattened StereoSet dev set -> one record per item; choices are [stereotype,
    anti-stereotype, unrelated]; an intrasentence choice fills the first BLANK only."""
    records = []
    for i, line in enumerate(_lines(read("stereo_set_intersentence.jsonl"))):
        item = json.loads(line)
        stereo, anti, unrelated = item["choices"]
        records.append(
            {
                "id": f"inter-{i}",
                "task": "intersentence",
                "bias_type": item["bias_type"],
                "target": item["target"],
                "context": item["prompt"],
                "stereotype": stereo,
                "anti_stereotype": anti,
                "unrelated": unrelated,
            }
        )
    intra = csv.DictReader(io.StringIO(_text(read("intrasentence_stereo_set.csv")), newline=""))
    for i, row in enumerate(intra):
        # `choices` is a numpy-printed list of three words: ['asian' 'hispanic' 'fox']
        words = [a or b for a, b in _QUOTED.findall(row["choices"])]
        if len(words) != 3:
            raise SrllmError(
                Code.DATA_INVALID, f"intrasentence_stereo_set.csv row {i + 1}: not three choices"
            )
        context = row["prompt"]
        stereo, anti, unrelated = (context.replace("BLANK", w, 1) for w in words)
        records.append(
            {
                "id": f"intra-{i}",
                "task": "intrasentence",
                "bias_type": row["bias_type"],
                "target": row["target"],
                "context": context,
                "stereotype": stereo,
                "anti_stereotype": anti,
                "unrelated": unrelated,
                "fill_words": words,
            }
        )
    return _jsonl(records)


RETEXT_CATEGORIES = (
    "ablist", "condescending", "gender", "lgbtq", "misc", "press", "race", "slogans", "suicide",
)  # fmt: skip


def _as_list(value) -> list:
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)


def retext_equality_rules_flat(read: Read) -> bytes:
    """retext-equality's rule files (data/en/*.yml) -> one record per rule, id category-index."""
    try:
        import yaml
    except ModuleNotFoundError:
        raise SrllmError(
            Code.DATA_MISSING,
            "making retext_equality_rules_flat.jsonl needs PyYAML (pip install pyyaml); "
            "or fetch with `srllm data fetch --from DIR`",
        ) from None
    records = []
    for category in RETEXT_CATEGORIES:
        for i, rule in enumerate(yaml.safe_load(read(f"retext-equality/{category}.yml"))):
            terms = rule["inconsiderate"]
            if isinstance(terms, dict):  # "or" rules: term -> the group it names
                inconsiderate = [{"term": t, "tag": tag} for t, tag in terms.items()]
            else:
                inconsiderate = [{"term": t, "tag": None} for t in _as_list(terms)]
            considerate, tags = rule.get("considerate"), None
            if isinstance(considerate, dict):
                considerate, tags = list(considerate), considerate
            records.append(
                {
                    "id": f"{category}-{i}",
                    "category": category,
                    "type": rule["type"],
                    "inconsiderate": inconsiderate,
                    "considerate": _as_list(considerate),
                    "condition": rule.get("condition"),
                    "note": rule.get("note"),
                    "source": rule.get("source"),
                    "apostrophe": bool(rule.get("apostrophe", False)),
                    "considerate_tags": tags,
                }
            )
    return _jsonl(records)


# The manifest names a derived entry's function by its key here.
DERIVATIONS: dict[str, Callable[[Read], bytes]] = {
    f.__name__: f
    for f in (
        paradetox_pairs,
        neutral_rewriter_pairs,
        wnc_sample_pairs,
        holisticbias_flat,
        holisticbias_sentence_sample,
        stereoset_dev_normalized,
        retext_equality_rules_flat,
    )
}
