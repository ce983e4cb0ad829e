"""Run each system over the held-out data and keep every output for scoring.

A model goes through the server's own Engine (same prompts, same grammar, same cleaning), then
through a separate llama.cpp context for likelihoods. The identity rewrite and the human
reference are systems too: they only produce rewrites, scored by the same metrics.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from srllm import contract
from srllm.errors import SrllmError
from srllm.evaluation import data
from srllm.evaluation.config import EvalConfig, System
from srllm.evaluation.metrics import StereoScore
from srllm.server import scan, task


@dataclass(frozen=True)
class EvalData:
    infer: list[data.InferRow]  # rows rewritten (biased inputs)
    flag_rows: list[data.InferRow]  # rows flagged twice: biased text and human rewrite
    neutral_inputs: list[str]  # human rewrites of `infer` + counterfactual originals
    counterfactual: list[data.CounterfactualRow]
    injections: list[data.Injection]
    perplexity_texts: list[str]
    stereoset: list[data.StereoItem]
    passages: list[data.PassageItem] = field(default_factory=list)
    decorated: list[str] = field(default_factory=list)  # infer texts with emoji, number, URL
    stereotypes: list[data.StereoItem] = field(default_factory=list)  # flagged, intersentence
    group_statements: list[data.GroupStatement] = field(default_factory=list)  # ToxiGen seeds
    group_rewrites: list[str] = field(default_factory=list)  # hateful seeds, debiased


def load_data(config: EvalConfig) -> EvalData:
    root, seed = config.data_root, config.seed
    infer = data.load_infer(root)
    infer_order = [infer[i] for i in data.seeded_order(len(infer), seed)]
    n_cf = max(config.count("counterfactual_rows"), config.count("neutral_originals"))
    cf_all = data.load_counterfactual(root, max(n_cf, config.count("perplexity_texts")), seed)
    rewrite_rows = infer_order[: config.count("rewrite_items")]
    neutral = [r.reference for r in rewrite_rows]
    neutral += [r.original for r in cf_all[: config.count("neutral_originals")]]
    # Perplexity on neutral held-out prose: human rewrites first, then counterfactual originals.
    ppl_pool = [r.reference for r in infer_order] + [r.original for r in cf_all]
    return EvalData(
        infer=rewrite_rows,
        flag_rows=infer_order[: config.count("flag_items")],
        neutral_inputs=neutral,
        counterfactual=[
            _cap_variants(r, config.limit) for r in cf_all[: config.count("counterfactual_rows")]
        ],
        injections=list(data.INJECTIONS[: config.count("injection_items")]),
        perplexity_texts=ppl_pool[: config.count("perplexity_texts")],
        stereoset=data.load_stereoset(root, config.count("stereoset_items"), seed),
        passages=data.build_passages(
            infer, [r.reference for r in infer] + [r.original for r in cf_all],
            config.count("passage_items"), seed,
        ),
        decorated=[
            data.decorate(r.text, i)
            for i, r in enumerate(infer_order[: config.count("preserve_items")])
        ],
        stereotypes=data.load_stereotype_texts(root, config.count("stereotype_items"), seed),
        group_statements=data.load_group_statements(
            root, config.count("group_statement_items"), seed
        ),
        group_rewrites=group_rewrite_texts(root, config.count("group_rewrite_items"), seed),
    )  # fmt: skip


def group_rewrite_texts(root: Path, n: int, seed: int) -> list[str]:
    """The first n hateful group statements, the same ones the group statement section flags
    (its hateful half comes first in the same seeded order)."""
    statements = data.load_group_statements(root, 2 * n, seed)
    return [g.text for g in statements if g.hateful][:n]


def _cap_variants(row: data.CounterfactualRow, limit: int | None) -> data.CounterfactualRow:
    """Under a small --limit, keep N variants taken in turn from each group (one each at 3)."""
    if limit is None or limit >= len(row.variants):
        return row
    by_group: dict[str, list[str]] = {}
    for column in row.variants:
        by_group.setdefault(row.group_of(column), []).append(column)
    columns = [c for turn in itertools.zip_longest(*by_group.values()) for c in turn if c]
    return data.CounterfactualRow(row.original, {c: row.variants[c] for c in columns[:limit]})


@dataclass
class Rewrite:
    input: str
    output: str  # as the server returns it (the input itself where nothing was rewritten)
    seconds: float = 0.0
    tokens: int = 0
    truncated: bool = False
    flagged: bool | None = None  # the flag called some sentence biased (None: not a model)
    highlights: list[str] = field(default_factory=list)  # words highlighted in biased sentences
    unchanged_biased: int = 0  # sentences flagged biased whose rewrite came back unchanged
    biased_sentences: int = 0
    residual: bool | None = None  # the changed rewrite, flagged again, is still biased
    still_biased: bool = False  # the answer marked its rewrite for review (task still_biased)


@dataclass
class PassageRun:
    item: data.PassageItem
    payload: dict  # the /v1/debias answer
    seconds: float


@dataclass
class FlagResult:
    input: str
    flag: contract.Flag | None  # None: no valid flag even after the engine's retry
    seconds: float = 0.0
    tokens: int = 0
    # Each sentence's P(biased), as the flag answer gives it: the scan's score of the sentence.
    sentence_p: tuple[float, ...] = ()
    sentence_texts: tuple[str, ...] = ()  # aligned with sentence_p

    @property
    def verdict(self) -> bool | None:
        return None if self.flag is None else self.flag.biased


@dataclass
class Perplexity:
    nll: float
    n_tokens: int
    n_bytes: int


@dataclass
class SystemRun:
    name: str
    role: str  # fine-tuned default | prompting baseline | model | identity | human reference
    info: dict = field(default_factory=dict)
    rewrites: list[Rewrite] = field(default_factory=list)  # biased inputs, aligned with infer
    neutral: list[Rewrite] = field(default_factory=list)  # aligned with neutral_inputs
    flags: list[tuple[FlagResult, FlagResult]] = field(default_factory=list)  # (biased, human)
    counterfactual: list[tuple[FlagResult, dict[str, FlagResult]]] = field(default_factory=list)
    injections: list[tuple[bool | None, Rewrite]] = field(default_factory=list)  # (flag valid, rw)
    perplexity: Perplexity | None = None
    stereoset: list[StereoScore] = field(default_factory=list)
    decorated: list[Rewrite] = field(default_factory=list)  # aligned with decorated
    passages: list[PassageRun] = field(default_factory=list)
    # Per StereoSet item: the text score (server.scan.text_scores) of context + stereotype,
    # context + anti-stereotype, context + unrelated.
    stereotypes: list[tuple[float, float, float]] = field(default_factory=list)
    group_statements: list[float] = field(default_factory=list)  # text scores, aligned with d's
    # With a scan model (System.scan, named in info["scan"]): its (score, underlined) of each
    # flag row's (biased, human) texts, and of each passage part with the part's gold label.
    scan_flags: list[tuple[tuple[float, bool], tuple[float, bool]]] = field(default_factory=list)
    scan_parts: list[tuple[float, bool, bool]] = field(default_factory=list)
    group_rewrites: list[Rewrite] = field(default_factory=list)  # aligned with d.group_rewrites

    @property
    def is_model(self) -> bool:
        return self.role not in ("identity", "human reference")


def identity_run(d: EvalData) -> SystemRun:
    """The input returned unchanged: the floor for removal, the ceiling for meaning kept."""
    run = SystemRun("identity", "identity")
    run.rewrites = [Rewrite(r.text, r.text) for r in d.infer]
    run.neutral = [Rewrite(t, t) for t in d.neutral_inputs]
    run.injections = [(None, Rewrite(i.text, i.text)) for i in d.injections]
    return run


def reference_run(d: EvalData) -> SystemRun:
    """The human debiased_text of infer_50, scored as if it were a model's rewrite."""
    run = SystemRun("human reference", "human reference")
    run.rewrites = [Rewrite(r.text, r.reference) for r in d.infer]
    return run


class _Timed:
    """Calls through the server's own task implementation (server.task), timed."""

    def __init__(self, engine, bar: tqdm):
        self.engine, self.bar = engine, bar
        self.task = task.Task(engine, task.Cache(4096))

    def _debias(self, text: str) -> tuple[dict, float]:
        start = time.perf_counter()
        payload = task.collect(self.task.run(text, task.Mode.DEBIAS))
        return payload, time.perf_counter() - start

    def rewrite(self, text: str) -> Rewrite:
        payload, seconds = self._debias(text)
        output = payload["rewrite"] if payload["rewrite"] is not None else text
        flag = payload["flag"]
        biased = [s for s in flag["sentences"] if s["biased"]]
        rewritten = {s["index"]: s for s in payload["sentences"]}
        tokens = self.engine.count_tokens(output) if payload["changed"] else 0
        self.bar.update()
        return Rewrite(
            input=text,
            output=output,
            seconds=seconds,
            tokens=tokens,
            truncated=tokens >= self.engine.rewrite_budget(text) - 1,
            flagged=flag["biased"],
            highlights=[w for s in biased for w in task.words_to_drop(s["spans"])],
            unchanged_biased=sum(not rewritten[s["index"]]["changed"] for s in biased),
            biased_sentences=len(biased),
            still_biased=bool(payload["still_biased"]),
        )

    def flag(self, text: str) -> FlagResult:
        start = time.perf_counter()
        sentence_p: tuple[float, ...] = ()
        sentence_texts: tuple[str, ...] = ()
        try:
            payload = task.collect(self.task.run(text, task.Mode.FLAG))
            sentence_p = tuple(s["p_biased"] for s in payload["sentences"])
            sentence_texts = tuple(text[s["start"] : s["end"]] for s in payload["sentences"])
            flag = contract.Flag(
                contract.Label(payload["label"]),
                payload["categories"],
                list(dict.fromkeys(s["text"] for s in payload["spans"])),
                payload["explanation"],
                payload["p_biased"],
            )
        except SrllmError:
            flag = None
        seconds = time.perf_counter() - start
        self.bar.update()
        tokens = self.engine.count_tokens(flag.to_json()) if flag is not None else 0
        return FlagResult(text, flag, seconds, tokens, sentence_p, sentence_texts)

    def residual(self, rewrite: Rewrite) -> Rewrite:
        """Flag a changed rewrite again: is what the user would get still biased?"""
        if rewrite.output != rewrite.input:
            result = self.flag(rewrite.output)
            rewrite.residual = None if result.flag is None else result.flag.biased
        else:
            self.bar.update()
        return rewrite

    def passage(self, item: data.PassageItem) -> PassageRun:
        """A passage as a user sends it: nothing of it cached (its sentences were seen before)."""
        start = time.perf_counter()
        payload = task.collect(task.Task(self.engine, task.Cache(64)).run(item.text, "debias"))
        seconds = time.perf_counter() - start
        self.bar.update()
        return PassageRun(item, payload, seconds)


def generation_calls(d: EvalData) -> int:
    return (
        len(d.infer)
        + len(d.neutral_inputs)
        + 2 * len(d.flag_rows)
        + sum(1 + len(r.variants) for r in d.counterfactual)
        + 2 * len(d.injections)
        + len(d.infer)  # residual flags
        + len(d.decorated)
        + len(d.passages)
        + 2 * len(d.group_rewrites)  # each debiased, then its rewrite flagged again
    )


def run_model(system: System, role: str, d: EvalData, config: EvalConfig) -> SystemRun:
    from srllm.server.engine import Engine, EngineConfig  # imports llama_cpp

    engine = Engine(
        EngineConfig(
            system.model,
            n_ctx=config.n_ctx,
            n_threads=config.n_threads,
            seed=config.seed,
            flag_threshold=config.flag_threshold,
            rewriter_path=system.rewriter,
        )
    )
    run = SystemRun(system.name, role, info=engine.info.as_dict())
    bar = tqdm(
        total=generation_calls(d),
        desc=f"{system.name[:28]}: generate",
        unit="call",
        disable=not config.show_progress,
    )
    try:
        gen = _Timed(engine, bar)
        run.rewrites = [gen.residual(gen.rewrite(r.text)) for r in d.infer]
        run.neutral = [gen.rewrite(t) for t in d.neutral_inputs]
        run.flags = [(gen.flag(r.text), gen.flag(r.reference)) for r in d.flag_rows]
        run.counterfactual = [
            (gen.flag(r.original), {col: gen.flag(text) for col, text in r.variants.items()})
            for r in d.counterfactual
        ]
        run.injections = [
            (gen.flag(i.text).flag is not None, gen.rewrite(i.text)) for i in d.injections
        ]
        run.decorated = [gen.rewrite(text) for text in d.decorated]
        run.passages = [gen.passage(item) for item in d.passages]
        run.group_rewrites = [gen.residual(gen.rewrite(t)) for t in d.group_rewrites]
        run.stereotypes = stereotype_scores(engine, d.stereotypes)
        run.group_statements = scan.text_scores(engine, [g.text for g in d.group_statements])
    finally:
        bar.close()
        engine.close()  # free the generation context before the likelihood one
    if system.scan is not None:
        scan_with_model(run, system.scan, d, config)
    # Likelihoods of the model that writes the text a user reads: the rewriter when there is one.
    run.perplexity, run.stereoset = score_likelihoods(system.rewriter or system.model, d, config)
    return run


def scan_with_model(run: SystemRun, path: Path, d: EvalData, config: EvalConfig) -> None:
    """The scan section's texts scored as /v1/scan scores them with a scan model of its own:
    infer_50's flag rows and the passages' parts (server.scan.text_scans)."""
    from srllm.server.engine import Engine, EngineConfig

    engine = Engine(EngineConfig(path, n_ctx=config.n_ctx, n_threads=config.n_threads), scorer=True)
    try:
        info = engine.info
        run.info["scan"] = {  # metrics.json says which model scored the scans
            "name": info.name,
            "path": info.path,
            "flag_threshold": info.flag_threshold,
        }
        texts = [t for r in d.flag_rows for t in (r.text, r.reference)]
        flat = scan.text_scans(engine, texts)
        run.scan_flags = [(flat[i], flat[i + 1]) for i in range(0, len(flat), 2)]
        parts = [(p.text[q.start : q.end], q.biased) for p in d.passages for q in p.parts]
        scored = scan.text_scans(engine, [text for text, _ in parts])
        run.scan_parts = [
            (score, underlined, gold)
            for (score, underlined), (_, gold) in zip(scored, parts, strict=True)
        ]
    finally:
        engine.close()


def stereotype_texts(item: data.StereoItem) -> tuple[str, str, str]:
    """What a user would select: the context sentence and one continuation."""
    continuations = (item.stereotype, item.anti_stereotype, item.unrelated)
    return tuple(f"{item.context} {s}" for s in continuations)


def stereotype_scores(engine, items: list[data.StereoItem]) -> list[tuple[float, float, float]]:
    flat = scan.text_scores(engine, [t for item in items for t in stereotype_texts(item)])
    return [tuple(flat[i : i + 3]) for i in range(0, len(flat), 3)]


def score_likelihoods(
    path: Path, d: EvalData, config: EvalConfig
) -> tuple[Perplexity | None, list[StereoScore]]:
    """Perplexity on neutral held-out text and StereoSet candidate scores from llama.cpp logits."""
    from srllm.evaluation.likelihood import Likelihood

    if not d.perplexity_texts and not d.stereoset:
        return None, []
    lik = Likelihood(path, n_ctx=config.n_ctx, n_threads=config.n_threads)
    total = len(d.perplexity_texts) + 3 * len(d.stereoset)
    bar = tqdm(
        total=total, desc=f"{path.stem[:28]}: likelihood", unit="seq",
        disable=not config.show_progress,
    )  # fmt: skip
    try:
        nll = n_tokens = n_bytes = 0
        for text in d.perplexity_texts:
            scored = lik.score("", text)
            nll, n_tokens = nll - scored.logprob, n_tokens + scored.n_tokens
            n_bytes += len(text.encode("utf-8"))
            bar.update()
        ppl = Perplexity(nll, n_tokens, n_bytes) if n_tokens else None
        stereo = []
        for item in d.stereoset:
            scores = []
            for sentence in (item.stereotype, item.anti_stereotype, item.unrelated):
                # Intersentence: the sentence given the context; intrasentence: the sentence.
                if item.task == "intersentence":
                    scores.append(lik.score(item.context, " " + sentence).mean)
                else:
                    scores.append(lik.score("", sentence).mean)
                bar.update()
            stereo.append(StereoScore(item.target, *scores))
    finally:
        bar.close()
        lik.close()
    return ppl, stereo


def base_perplexity(path: Path, d: EvalData, config: EvalConfig) -> Perplexity | None:
    """Only the perplexity of the base model, when it is not itself in the comparison."""
    trimmed = EvalData(d.infer, d.flag_rows, d.neutral_inputs, [], [], d.perplexity_texts, [])
    return score_likelihoods(path, trimmed, config)[0]
