"""`srllm distill`: the shipped pipeline's own best rewrites of training texts, as training pairs.

    srllm distill --model default.gguf --out training/distilled/v5.jsonl --minutes 30
    srllm distill --model flagger.gguf --rewriter-model rewriter.gguf --out ... (a pair)

At run time a biased sentence gets a greedy rewrite, guided redos and up to SAMPLED_REWRITES
sampled ones, and the candidate the flagger scores least biased is kept (server/task.py). That
search finds better rewrites than the model's first try; training on what it found (expert
iteration, as in ReST) moves the first try toward them, so fewer sentences need the search and
the search starts from better tries.

Inputs are training-side texts only, interleaved so a time budget still gives a mix: the SR-LLM
training split of train_500.csv (the seed's, val_fraction 0.1), ToxiGen's toxic statements
short of the calibration tail (data.training_part) and ParaDetox's toxic comments. Every text runs
through the one task implementation (Mode.DEBIAS) and each sentence the flag calls biased and
the pipeline changed becomes one line of OUT:

    {"id", "text", "rewrite", "p_before", "p_after", "kept": [highlighted words kept],
     "content_kept", "meaning", "generalises"}

`accepted` is the gate training applies to them (data.distilled_examples): the flagger's
P(biased) of the rewrite under ACCEPT_P, no highlighted word kept, a length within ACCEPT_LENGTH
of the sentence's, no claim about a group left that still stereotypes it (generalise), and the
meaning kept: the cosine of the two sentences' MiniLM embeddings at least ACCEPT_MEANING with
ACCEPT_CONTENT_BESIDE of the other content words (lines of v5.jsonl, written before `meaning`
was, need ACCEPT_CONTENT of them instead). Lines are appended and flushed per text, and a second
run over the same OUT skips the texts already done (a "done" line per text), so the budget can
be spent in pieces.
"""

from __future__ import annotations

import itertools
import json
import random
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from srllm import contract
from srllm.errors import Code, SrllmError

# The gate a rewrite passes to become a training target (accepted): clearly fair to the flagger,
# not just under its threshold (0.59 for v5); most of the sentence's other content words kept;
# about as long as the sentence. Looser gates (half the content words, any length) let in
# rewrites that swap the group, moralise or drop the claim (2026-12-03, 297 of 897 vs 104).
ACCEPT_P = 0.3
ACCEPT_CONTENT = 0.67  # two thirds
ACCEPT_LENGTH = (0.6, 1.3)  # rewrite words / sentence words
# Content words alone are a noisy meaning check: "Having another horrible allergy day" ->
# "Having another challenging day" keeps all of them but the one that mattered (cosine 0.33),
# "Reporting facts is a personal attack?" -> "...is a fair evaluation?" says the opposite
# (0.66), while "my leg hurts like a bitch" -> "My leg hurts." keeps the meaning (0.87) and
# two of three content words. On the first 83 texts of the pair's run (2026-12-06) the two
# together reject those two and take in the third; see training/distilled/README.md.
ACCEPT_MEANING = 0.7
ACCEPT_CONTENT_BESIDE = 0.5
SOURCES = ("srllm", "toxigen", "paradetox")


@dataclass(frozen=True)
class DistillConfig:
    model: Path
    out: Path
    minutes: float = 30.0
    limit: int = 0  # texts (0: no limit)
    sources: tuple[str, ...] = SOURCES
    seed: int = 1  # the training seed whose splits to respect (v5: 1)
    val_fraction: float = 0.1
    threads: int = 2
    data_dir: Path | None = None  # holds srllm/ and extra/; None: paths.data_root()
    rewriter: Path | None = None  # a pair's writer (EngineConfig.rewriter_path); None: model

    def __post_init__(self) -> None:
        unknown = [s for s in self.sources if s not in SOURCES]
        if unknown:
            raise SrllmError(
                Code.BAD_INPUT, f"--sources: unknown {unknown[0]!r}; expected {SOURCES}"
            )
        if self.minutes <= 0:
            raise SrllmError(Code.BAD_INPUT, "--minutes must be > 0")
        if self.threads < 1:
            raise SrllmError(Code.BAD_INPUT, "--threads must be >= 1")


def training_texts(cfg: DistillConfig) -> Iterator[tuple[str, str]]:
    """(id, text) of biased training-side texts, the sources interleaved."""
    from srllm import paths
    from srllm.training import data
    from srllm.training.config import TrainConfig

    root = cfg.data_dir or paths.data_root()
    pools: list[list[tuple[str, str]]] = []
    if "srllm" in cfg.sources:
        rows = data.read_rows(root / "srllm" / "train_500.csv")
        train, _ = data.split_rows(rows, cfg.val_fraction, cfg.seed)
        pools.append([(f"srllm:{n}", data.clean_text(r.biased_text)) for n, r in enumerate(train)])
    if "toxigen" in cfg.sources:
        toxic, _ = data.toxigen_pools(root / "extra" / data.EXTRA_FILES["toxigen"], cfg.seed)
        toxic = data.training_part(toxic)
        pools.append([(f"toxigen:{n}", text) for n, (text, _, _) in enumerate(toxic)])
    if "paradetox" in cfg.sources:
        records = data.jsonl(root / "extra" / data.EXTRA_FILES["paradetox"])
        texts = [data.clean_text(r["toxic"]) for r in records]
        random.Random(f"{cfg.seed}:distill").shuffle(texts)
        pools.append([(f"paradetox:{n}", t) for n, t in enumerate(texts)])
    heldout = data.heldout_texts(root / "srllm" / name for name in TrainConfig.heldout_files)
    for group in itertools.zip_longest(*pools):
        for ident, text in filter(None, group):
            if text and contract.normalise(text) not in heldout:
                yield ident, text


def done_ids(out: Path) -> set[str]:
    """The texts OUT has finished, after cutting a line a crash left half-written."""
    if not out.is_file():
        return set()
    raw = out.read_bytes()
    if raw and not raw.endswith(b"\n"):
        with out.open("r+b") as handle:
            handle.truncate(raw.rfind(b"\n") + 1)
    with out.open(encoding="utf-8") as handle:
        return {json.loads(line)["done"] for line in handle if line.startswith('{"done"')}


def sentence_lines(task, ident: str, text: str, payload: dict) -> list[dict]:
    """One line per sentence of `text` the flag called biased and the pipeline changed
    (`payload`: the debias answer)."""
    from srllm.server import generalise
    from srllm.server.task import content_kept, surviving, words_to_drop

    lines = []
    flags = payload["flag"]["sentences"]
    for flag, rewritten in zip(flags, payload["sentences"], strict=True):
        if not rewritten["changed"]:
            continue
        source = text[flag["start"] : flag["end"]]
        words = words_to_drop(flag["spans"])
        rewrite = rewritten["rewrite"]
        kept = surviving(rewrite, words)
        p_after = task.residual(rewrite)
        content = content_kept(source, rewrite, words)
        lines.append(
            {
                "id": f"{ident}#{flag['index']}",
                "text": source,
                "rewrite": rewrite,
                "p_before": flag["p_biased"],
                "p_after": round(p_after, 4),
                "kept": kept,
                "content_kept": round(content, 3),
                "generalises": generalise.still_claims(source, rewrite),
            }
        )
    if lines:
        for line, meaning in zip(lines, meaning_kept(lines), strict=True):
            line["meaning"] = meaning
    return lines


def meaning_kept(lines: list[dict]) -> list[float]:
    """The cosine of each line's sentence and rewrite, as the eval's meaning_kept reads it."""
    from srllm.evaluation.embed import embed
    from srllm.evaluation.metrics import similarities

    texts, rewrites = [line["text"] for line in lines], [line["rewrite"] for line in lines]
    return [round(c, 3) for c in similarities(texts, rewrites, embed)]


def accepted(line: dict) -> bool:
    """Whether a line of OUT is a training target (the one gate: written counts and
    training.data.distilled_examples both ask here)."""
    ratio = len(contract.WORD.findall(line["rewrite"])) / max(
        1, len(contract.WORD.findall(line["text"]))
    )
    meaning = line.get("meaning")
    if meaning is None:  # a line written before the meaning check (v5.jsonl)
        kept_meaning = line["content_kept"] >= ACCEPT_CONTENT
    else:
        kept_meaning = meaning >= ACCEPT_MEANING and line["content_kept"] >= ACCEPT_CONTENT_BESIDE
    return (
        line["p_after"] < ACCEPT_P
        and not line["kept"]
        and not line.get("generalises", False)
        and kept_meaning
        and ACCEPT_LENGTH[0] <= ratio <= ACCEPT_LENGTH[1]
    )


def run(cfg: DistillConfig, log=sys.stderr) -> dict:
    from srllm.evaluation.embed import embed
    from srllm.server.engine import Engine, EngineConfig
    from srllm.server.task import Task

    engine = Engine(EngineConfig(cfg.model, n_threads=cfg.threads, rewriter_path=cfg.rewriter))
    try:
        if engine.info.finetuned is not True:
            raise SrllmError(
                Code.BAD_INPUT, f"{cfg.model}: not a fine-tuned srllm model (nothing to distill)"
            )
        try:
            embed(["the meaning check loads before the first text"])
        except RuntimeError as exc:  # the eval extra is missing
            raise SrllmError(Code.BAD_INPUT, f"srllm distill: {exc}") from exc
        deadline = time.monotonic() + cfg.minutes * 60
        return distill(Task(engine), training_texts(cfg), cfg.out, deadline, cfg.limit, log)
    finally:
        engine.close()


def distill(task, texts, out: Path, deadline: float, limit: int = 0, log=sys.stderr) -> dict:
    """Run `texts` ((id, text) pairs) through `task` (server.task.Task) in debias mode into OUT
    until `deadline` (time.monotonic) or `limit` texts; texts OUT marks done are skipped."""
    from srllm.server.task import Mode, collect

    seen = done_ids(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    counts = {"texts": 0, "skipped": 0, "sentences": 0, "accepted": 0}
    with out.open("a", encoding="utf-8") as handle:
        for ident, text in texts:
            if ident in seen:
                counts["skipped"] += 1
                continue
            if time.monotonic() > deadline or (limit and counts["texts"] >= limit):
                break
            payload = collect(task.run(text, Mode.DEBIAS))
            lines = sentence_lines(task, ident, text, payload) if payload["flag"]["biased"] else []
            for line in [*lines, {"done": ident}]:
                handle.write(json.dumps(line, ensure_ascii=False) + "\n")
            handle.flush()
            counts["texts"] += 1
            counts["sentences"] += len(lines)
            counts["accepted"] += sum(map(accepted, lines))
            if counts["texts"] % 10 == 0:
                print(
                    f"distill: {counts['texts']} texts, {counts['sentences']} rewritten "
                    f"sentences, {counts['accepted']} accepted",
                    file=log,
                    flush=True,
                )
    return counts
