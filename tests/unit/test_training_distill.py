"""`srllm distill` (training/distill.py) around a scripted engine, and how training reads it."""

import json
import time

import pytest

from srllm.errors import SrllmError
from srllm.paths import data_root
from srllm.server.task import Task
from srllm.training import data, distill
from srllm.training.config import load_config
from tests.standin import ScriptedEngine, biased

OLD = "Old people are slow and useless with technology."
WOMEN = "My boss is too emotional to lead engineering teams."
FAIR = "The meeting starts at noon."
OLD_FIXED = "Some old people find new technology harder to learn."
WOMEN_KEPT = "My boss is too emotional for some engineering teams."


def engine() -> ScriptedEngine:
    return ScriptedEngine(
        flags={
            OLD: biased(["slow", "useless"], ["age"]),
            WOMEN: biased(["emotional"], ["gender"], True),
            # the flagger still calls this rewrite biased
            WOMEN_KEPT: biased(["emotional"], ["gender"], p=0.8),
        },
        rewrites={OLD: OLD_FIXED, WOMEN: WOMEN_KEPT},
    )


def lines(path):
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_each_rewritten_biased_sentence_is_a_line_and_only_clean_ones_are_accepted(tmp_path):
    out = tmp_path / "d.jsonl"
    texts = [("a", f"{OLD} {FAIR}"), ("b", WOMEN), ("c", FAIR)]
    counts = distill.distill(Task(engine()), texts, out, time.monotonic() + 60)
    assert counts == {"texts": 3, "skipped": 0, "sentences": 2, "accepted": 1}
    got = lines(out)
    assert [g.get("done") for g in got if "done" in g] == ["a", "b", "c"]
    old, women = (g for g in got if "id" in g)
    assert old["id"] == "a#0" and old["text"] == OLD and old["rewrite"] == OLD_FIXED
    assert distill.accepted(old) and old["kept"] == [] and old["p_after"] < distill.ACCEPT_P
    assert old["p_before"] == 0.9
    assert 0.7 <= old["meaning"] <= 1 and old["generalises"] is False
    # still flagged (0.8) and keeps the highlighted word: never a training target
    assert not distill.accepted(women) and women["kept"] == ["emotional"]
    assert women["p_after"] == 0.8


def test_a_second_run_skips_the_texts_already_done(tmp_path):
    out = tmp_path / "d.jsonl"
    texts = [("a", OLD), ("b", WOMEN), ("c", OLD)]
    first = distill.distill(Task(engine()), texts, out, time.monotonic() + 60, limit=1)
    assert first["texts"] == 1
    scripted = engine()
    second = distill.distill(Task(scripted), texts, out, time.monotonic() + 60)
    assert second["skipped"] == 1 and second["texts"] == 2
    assert [g["done"] for g in lines(out) if "done" in g] == ["a", "b", "c"]
    assert ("flag", OLD) in scripted.calls  # "c" ran: only ids are skipped, not texts


def test_a_line_cut_by_a_crash_is_dropped_and_its_text_redone(tmp_path):
    out = tmp_path / "d.jsonl"
    distill.distill(Task(engine()), [("a", OLD)], out, time.monotonic() + 60)
    with out.open("a", encoding="utf-8") as handle:
        handle.write('{"id": "b#0", "text": "Wom')
    counts = distill.distill(Task(engine()), [("a", OLD), ("b", WOMEN)], out, time.monotonic() + 60)
    assert counts["skipped"] == 1 and counts["texts"] == 1
    assert [g.get("done") for g in lines(out) if "done" in g] == ["a", "b"]


def test_a_spent_budget_runs_nothing(tmp_path):
    out = tmp_path / "d.jsonl"
    counts = distill.distill(Task(engine()), [("a", OLD)], out, time.monotonic() - 1)
    assert counts["texts"] == 0 and out.read_text() == ""


@pytest.mark.parametrize(
    ("change", "ok"),
    [
        ({}, True),
        ({"p_after": 0.3}, False),  # under the threshold is not enough: clearly fair
        ({"kept": ["slow"]}, False),
        ({"content_kept": 0.6}, False),  # a line without `meaning` (v5.jsonl): two thirds
        ({"meaning": 0.8, "content_kept": 0.55}, True),  # the meaning check beside half
        ({"meaning": 0.66}, False),  # "Reporting facts is a fair evaluation?"
        ({"meaning": 0.9, "content_kept": 0.4}, False),
        ({"generalises": True}, False),  # "All Asians have a peculiar appearance"
        ({"rewrite": "Some people."}, False),  # much shorter: the claim is gone
        ({"rewrite": OLD_FIXED + " It is important to be kind to everyone."}, False),
    ],
)
def test_the_gate_wants_fair_close_rewrites(change, ok):
    line = {"text": OLD, "rewrite": OLD_FIXED, "p_after": 0.1, "kept": [], "content_kept": 0.8}
    assert distill.accepted(line | change) is ok


def test_training_reads_only_accepted_lines_as_rewrite_examples(tmp_path):
    out = tmp_path / "d.jsonl"
    distill.distill(Task(engine()), [("a", OLD), ("b", WOMEN)], out, time.monotonic() + 60)
    examples = data.distilled_examples(out)
    assert [(e.text, e.target, e.kind, e.source) for e in examples] == [
        (OLD, OLD_FIXED, "rewrite_distilled", "distilled:a#0")
    ]
    nothing = tmp_path / "none.jsonl"
    nothing.write_text('{"done": "x"}\n')
    with pytest.raises(SrllmError, match="no accepted rewrites"):
        data.distilled_examples(nothing)


def test_a_run_can_keep_the_first_texts_of_a_file_a_resumed_distill_appended_to(tmp_path):
    line = {"text": OLD, "rewrite": OLD_FIXED, "p_after": 0.1, "kept": [], "content_kept": 0.8}
    path = tmp_path / "d.jsonl"
    rows = [line | {"id": "a#0"}, {"done": "a"}, line | {"id": "b#0"}, {"done": "b"}]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    sources = [[e.source for e in data.distilled_examples(path, texts=n)] for n in (1, 2, 0)]
    assert sources == [["distilled:a#0"], ["distilled:a#0", "distilled:b#0"]] + [sources[1]]


@pytest.mark.skipif(not (data_root() / "srllm").is_dir(), reason="data not present")
def test_the_dataset_repeats_the_distilled_rewrites_and_records_the_file(tmp_path):
    out = tmp_path / "d.jsonl"
    distill.distill(Task(engine()), [("a", OLD)], out, time.monotonic() + 60)
    cfg = load_config(None, [f'distilled_file="{out}"', "distilled_repeat=2"])
    ds = data.build_dataset(cfg)
    assert [e.target for e in ds.train if e.kind == "rewrite_distilled"] == [OLD_FIXED] * 2
    assert str(out) in ds.files


@pytest.mark.skipif(not (data_root() / "srllm").is_dir(), reason="data not present")
def test_a_missing_distilled_file_is_named():
    cfg = load_config(None, ['distilled_file="/nonexistent/d.jsonl"'])
    with pytest.raises(SrllmError, match="distilled_file.*d.jsonl not found"):
        data.build_dataset(cfg)


def test_the_config_resolves_the_file_from_the_repository_and_bounds_the_repeat():
    cfg = load_config(None, ['distilled_file="training/distilled/x.jsonl"', "distilled_repeat=3"])
    assert cfg.distilled().parts[-3:] == ("training", "distilled", "x.jsonl")
    assert cfg.distilled().is_absolute()
    assert load_config(None, []).distilled() is None
    with pytest.raises(SrllmError, match="distilled_repeat"):
        load_config(None, ["distilled_repeat=0"])
    with pytest.raises(SrllmError, match="distilled_texts"):
        load_config(None, ["distilled_texts=-1"])


def test_unknown_sources_and_budgets_are_refused():
    with pytest.raises(SrllmError, match="unknown 'wiki'"):
        distill.DistillConfig(model=None, out=None, sources=("wiki",))
    with pytest.raises(SrllmError, match="minutes"):
        distill.DistillConfig(model=None, out=None, minutes=0)


@pytest.mark.skipif(not (data_root() / "extra").is_dir(), reason="data not present")
def test_inputs_are_training_side_only_and_interleaved(tmp_path):
    cfg = distill.DistillConfig(model=None, out=None)
    items = list(distill.training_texts(cfg))
    ids = [i for i, _ in items]
    assert len(ids) == len(set(ids))
    assert [i.split(":")[0] for i in ids[:6]] == ["srllm", "toxigen", "paradetox"] * 2
    # ToxiGen's calibration tail (data.held_back) is never an input
    toxic, _ = data.toxigen_pools(data_root() / "extra" / data.EXTRA_FILES["toxigen"], cfg.seed)
    tail = {text for text, _, _ in toxic[len(toxic) - data.held_back(len(toxic)) :]}
    assert tail and tail.isdisjoint(text for _, text in items)
    # the SR-LLM validation rows and the held-out files are not inputs either
    rows = data.read_rows(data_root() / "srllm" / "train_500.csv")
    _, val = data.split_rows(rows, cfg.val_fraction, cfg.seed)
    texts = {text for _, text in items}
    assert texts.isdisjoint(data.clean_text(r.biased_text) for r in val)
    held = data.heldout_texts([data_root() / "srllm" / "infer_50.csv"])
    from srllm import contract

    assert not any(contract.normalise(t) in held for t in texts)


def test_a_rewrite_that_still_says_the_stereotype_is_marked_and_refused(tmp_path):
    """The flagger may pass a rewrite that keeps the claim in other words; the group rule does
    not, and the gate refuses it (a group addressed gets no recast that would win instead)."""
    claim = "You arabs are violent."
    kept = "You arabs are not peaceful."
    scripted = ScriptedEngine(
        flags={claim: biased(["violent"], ["race_ethnicity"])}, rewrites={claim: kept}
    )
    out = tmp_path / "d.jsonl"
    distill.distill(Task(scripted), [("g", claim)], out, time.monotonic() + 60)
    line = next(g for g in lines(out) if "id" in g)
    assert line["rewrite"] == kept and line["generalises"] is True
    assert line["p_after"] < distill.ACCEPT_P and not distill.accepted(line)
