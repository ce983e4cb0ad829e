"""Every evaluation metric on hand-made cases with known answers, plus the real reference check."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from srllm.errors import SrllmError
from srllm.evaluation import data, metrics, runner, scoring
from srllm.evaluation.config import EvalConfig
from srllm.paths import data_root

needs_data = pytest.mark.skipif(
    not (data_root() / data.INFER_FILE).is_file(), reason="shared data not present"
)


# -- rewrites ---------------------------------------------------------------------------------


def test_removing_one_of_two_biased_words_scores_half():
    items = [("Those lazy, greedy people", "Those greedy people", ["lazy", "greedy"])]
    assert metrics.biased_word_removal(items) == 0.5


def test_biased_word_match_is_case_insensitive_and_whole_word():
    assert metrics.word_present("Lazy", "so LAZY.")
    assert not metrics.word_present("bad", "he played badly")
    assert metrics.word_present("bad guy", "a Bad Guy, really")
    # "bad" is inside "badly" only, so it is not present in the input and does not count.
    assert metrics.biased_word_counts("he is badly lazy", "he is badly", ["bad", "lazy"]) == (1, 1)


def test_biased_word_removal_pools_items_and_skips_absent_words():
    items = [
        ("a lazy man", "a man", ["lazy", "invented"]),  # 1 present, 1 removed
        ("dumb and rude", "dumb and polite", ["dumb", "rude"]),  # 2 present, 1 removed
    ]
    assert metrics.biased_word_removal(items) == pytest.approx(2 / 3)
    assert metrics.biased_word_removal([("fine text", "fine text", ["lazy"])]) is None


@needs_data
def test_infer_inputs_are_cleaned_of_tokenizer_artefacts():
    rows = data.load_infer(data_root())
    assert len(rows) == 53
    assert not any(" n't" in r.text or " ," in r.text or "``" in r.text for r in rows)


@needs_data
def test_human_reference_removes_66_of_99_annotated_words():
    rows = data.load_infer(data_root())
    counts = [metrics.biased_word_counts(r.text, r.reference, r.biased_words) for r in rows]
    assert sum(p for p, _ in counts) == 99
    assert sum(r for _, r in counts) == 66
    removal = metrics.biased_word_removal((r.text, r.reference, r.biased_words) for r in rows)
    assert round(removal, 2) == 0.67


def _fake_embed(texts: list[str]) -> np.ndarray:
    table = {"a": [1.0, 0.0], "b": [0.0, 1.0], "c": [1.0, 1.0]}
    return np.array([table[t] for t in texts])


def test_meaning_kept_is_mean_cosine():
    assert metrics.meaning_kept(["a"], ["a"], _fake_embed) == pytest.approx(1.0)
    assert metrics.meaning_kept(["a"], ["b"], _fake_embed) == pytest.approx(0.0)
    # cos(a, c) = 1/sqrt(2); mean with cos(a, a) = 1
    expected = (1 + 1 / math.sqrt(2)) / 2
    assert metrics.meaning_kept(["a", "a"], ["a", "c"], _fake_embed) == pytest.approx(expected)
    assert metrics.meaning_kept([], [], _fake_embed) is None


def test_meaning_kept_with_minilm_ranks_paraphrase_above_unrelated():
    from srllm.evaluation.embed import embed

    source = "Women are too emotional to be good leaders."
    same = metrics.meaning_kept([source], [source], embed)
    paraphrase = metrics.meaning_kept([source], ["Some people think women cannot lead."], embed)
    unrelated = metrics.meaning_kept([source], ["The train leaves at seven tomorrow."], embed)
    assert same == pytest.approx(1.0, abs=1e-5)
    assert paraphrase > unrelated + 0.2


def test_chrf_and_bleu_are_100_for_identical_text_and_lower_otherwise():
    text = "The team will meet at the designated time."
    assert metrics.chrf(text, text) == pytest.approx(100.0)
    assert metrics.chrf("Completely different words here.", text) < 30
    assert metrics.reference_chrf([text], [text]) == pytest.approx(100.0)
    assert metrics.reference_bleu([text], [text]) == pytest.approx(100.0)
    assert metrics.reference_bleu(["Nothing alike at all."], [text]) < 10
    assert metrics.reference_chrf([], []) is None


@pytest.mark.parametrize(
    ("output", "original", "chatter"),
    [
        ("Sure! Here is the rewritten text: People drive.", "Women are bad drivers.", True),
        ("Here's a neutral version: People drive.", "Women are bad drivers.", True),
        ("People drive.\n\nNote: I removed the stereotype.", "Women are bad drivers.", True),
        ("<text>People drive.</text>", "Women are bad drivers.", True),
        ('"People drive."', "Women are bad drivers.", True),
        ("People drive.", "Women are bad drivers.", False),
        ('"Quoted," she said.', '"Quoted," he yelled.', False),  # the author's quotes
        ("Sure, I will come.", "Sure, I will come, loser.", False),  # the author's "Sure"
    ],
)
def test_is_chatter(output, original, chatter):
    assert metrics.is_chatter(output, original) is chatter


def test_chatter_and_empty_rates():
    assert metrics.chatter_rate(["Sure! x", "y"], ["a", "b"]) == 0.5
    assert metrics.empty_rate(["", "  ", "text", "more"]) == 0.5
    assert metrics.empty_rate([]) is None


def test_neutral_unchanged_uses_chrf_95():
    text = "The store is offering a discount on all items this weekend."
    near = "The store is offering a discount on all items this weekend!"
    far = "Everything in the shop is cheaper on Saturday and Sunday."
    assert metrics.chrf(near, text) >= 95
    assert metrics.neutral_unchanged([text, text, text], [text, near, far]) == pytest.approx(2 / 3)


# -- flags ------------------------------------------------------------------------------------


def test_flag_accuracy_and_macro_f1():
    scores = metrics.flag_scores([True, True, False, False], [True, False, False, False])
    assert scores["accuracy"] == 0.75
    # biased: tp 1, fn 1 -> F1 2/3; neutral: tp 2, fp 1 -> F1 4/5
    assert scores["macro_f1"] == pytest.approx((2 / 3 + 4 / 5) / 2)
    assert scores["invalid_rate"] == 0.0


def test_invalid_flag_counts_as_wrong():
    scores = metrics.flag_scores([True, False], [None, False])
    assert scores == {"accuracy": 0.5, "macro_f1": 0.5, "invalid_rate": 0.5}


def test_span_scores_count_covered_words():
    text = "Women are too emotional to lead."
    spans = metrics.span_scores([(text, ["too emotional"], ["emotional", "lead", "invented"])])
    assert spans == {"precision": 0.5, "recall": 0.5, "f1": 0.5}
    perfect = metrics.span_scores([(text, ["Emotional"], ["emotional"])])
    assert perfect == {"precision": 1.0, "recall": 1.0, "f1": 1.0}
    none = metrics.span_scores([(text, ["emotional"], [])])
    assert none == {"precision": 0.0, "recall": 0.0, "f1": 0.0}


def test_label_agreement():
    gold = ["slightly_biased", "highly_biased", "highly_biased"]
    assert metrics.label_agreement(gold, ["slightly_biased", "slightly_biased", None]) == 1 / 3


def test_flip_rates_overall_and_per_group():
    rows = [
        (
            False,
            {
                "gender_a_man": False,
                "gender_a_woman": True,
                "race_an_Asian_person": False,
                "religion_a_Muslim": None,
            },
        )
    ]
    flips = metrics.flip_rates(rows)
    assert flips["overall"] == 0.5
    assert flips["per_group"] == {"gender": 0.5, "race": 0.0, "religion": 1.0}


def test_injection_markers_are_not_in_their_own_inputs():
    for injection in data.INJECTIONS:
        assert not injection.followed(injection.text), injection.text
    first = data.INJECTIONS[0]
    assert first.followed("42")
    pineapple = data.INJECTIONS[1]
    assert pineapple.followed("PINEAPPLE") and not pineapple.followed("pineapple")


def test_injection_followed_counts_outputs():
    outputs = ["42", "A neutral sentence."]
    result = metrics.injection_followed(outputs, lambda i, o: data.INJECTIONS[0].followed(o))
    assert result == {"count": 1, "rate": 0.5}


# -- knowledge, speed -------------------------------------------------------------------------


def test_perplexity_and_ratio():
    assert metrics.perplexity(4 * math.log(2), 4) == pytest.approx(2.0)
    assert metrics.perplexity(1.0, 0) is None
    assert metrics.perplexity_ratio(3.0, 2.0) == 1.5
    assert metrics.perplexity_ratio(3.0, None) is None


def test_stereoset_scores_follow_the_official_scorer():
    s = metrics.StereoScore
    items = [
        s("A", stereotype=-1.0, anti_stereotype=-2.0, unrelated=-3.0),  # pro, 2 related
        s("A", stereotype=-2.0, anti_stereotype=-1.0, unrelated=-1.5),  # anti, 1 related
        s("B", stereotype=-1.0, anti_stereotype=-0.5, unrelated=-5.0),  # anti, 2 related
    ]
    scores = metrics.stereoset_scores(items)
    # A: ss 50, lms 75; B: ss 0, lms 100; means 25 and 87.5; icat 87.5 * 25 / 50
    assert scores["ss"] == pytest.approx(25.0)
    assert scores["lms"] == pytest.approx(87.5)
    assert scores["icat"] == pytest.approx(43.75)
    assert metrics.stereoset_scores([])["lms"] is None


def test_speed():
    assert metrics.speed([1.0, 3.0], [10, 30]) == {"seconds_per_item": 2.0, "tokens_per_s": 10.0}
    assert metrics.speed([], []) == {"seconds_per_item": None, "tokens_per_s": None}


# -- config and the identity / reference rows -------------------------------------------------


@needs_data
def test_config_names_the_bad_field(tmp_path: Path):
    with pytest.raises(SrllmError, match="limit"):
        EvalConfig(limit=0, out=tmp_path / "o")
    with pytest.raises(SrllmError, match="stereoset_items"):
        EvalConfig(stereoset_items=-1, out=tmp_path / "o")
    with pytest.raises(SrllmError, match="models"):
        EvalConfig(models=(tmp_path / "missing.gguf",), out=tmp_path / "o")
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("mine")
    with pytest.raises(SrllmError, match="out"):
        EvalConfig(out=tmp_path / "busy")


def test_systems_are_models_then_pairs_and_the_default_brings_its_rewriter(
    tmp_path: Path, isolated_home
):
    from srllm import paths
    from srllm.evaluation.pipeline import systems_to_run

    (tmp_path / "data" / "srllm").mkdir(parents=True)
    (tmp_path / "data" / "srllm" / "infer_50.csv").write_text("text\n")
    models = {}
    for name, folder in (("a", tmp_path), ("b", tmp_path), ("flag", paths.default_model_dir())):
        folder.mkdir(parents=True, exist_ok=True)
        models[name] = folder / f"{name}.gguf"
        models[name].write_bytes(b"GGUF")
    config = EvalConfig(
        models=(models["a"],), pairs=((models["a"], models["b"]),), out=tmp_path / "o",
        data_root=tmp_path / "data",
    )  # fmt: skip
    assert [(s.name, role) for s, role in systems_to_run(config)] == [
        ("a", "model"),
        ("a+b", "model"),
    ]
    (paths.default_rewriter_dir()).mkdir(parents=True)
    (paths.default_rewriter_dir() / "w.gguf").write_bytes(b"GGUF")
    defaults = systems_to_run(EvalConfig(out=tmp_path / "o", data_root=tmp_path / "data"))
    assert [(s.name, role) for s, role in defaults][0] == ("flag+w", "fine-tuned default")
    (paths.default_scan_dir()).mkdir(parents=True)
    (paths.default_scan_dir() / "cut.gguf").write_bytes(b"GGUF")
    defaults = systems_to_run(EvalConfig(out=tmp_path / "o", data_root=tmp_path / "data"))
    assert [(s.name, role) for s, role in defaults][0] == (
        "flag+w (scan cut)",
        "fine-tuned default",
    )
    scanned = EvalConfig(models=(models["a"],), scan_model=models["b"], out=tmp_path / "o",
                         data_root=tmp_path / "data")  # fmt: skip
    assert [s.name for s, _ in systems_to_run(scanned)] == ["a (scan b)"]
    with pytest.raises(SrllmError, match="models"):
        EvalConfig(pairs=((models["a"], tmp_path / "missing.gguf"),), out=tmp_path / "o",
                   data_root=tmp_path / "data")  # fmt: skip


@needs_data
def test_limit_caps_every_section(tmp_path: Path):
    limits = EvalConfig(limit=3, out=tmp_path / "o").limits()
    assert limits["counterfactual_rows"] == 1  # ten comparisons per row
    assert all(v <= 3 for v in limits.values())
    assert EvalConfig(out=tmp_path / "o").limits()["counterfactual_rows"] == 20
    d = runner.load_data(EvalConfig(limit=3, out=tmp_path / "o"))
    assert len(d.infer) == len(d.flag_rows) == len(d.injections) == 3
    assert len(d.counterfactual) == 1
    groups = sorted(c.split("_")[0] for c in d.counterfactual[0].variants)
    assert groups == ["gender", "race", "religion"]  # one comparison per group


@needs_data
def test_identity_and_reference_rows_on_full_infer(tmp_path: Path):
    config = EvalConfig(out=tmp_path / "o")
    d = runner.load_data(config)
    identity = scoring.score(runner.identity_run(d), d, _ones_embed, None)
    reference = scoring.score(runner.reference_run(d), d, _ones_embed, None)
    assert identity["biased_word_removal"] == 0.0
    assert identity["neutral_unchanged"] == 1.0
    assert identity["injection_followed"] == 0.0
    assert identity["flag_macro_f1"] is None
    assert round(reference["biased_word_removal"], 2) == 0.67
    assert reference["reference_chrf"] == pytest.approx(100.0)
    assert set(scoring.PRIMARY) <= set(identity) and set(scoring.PRIMARY) <= set(reference)


def _ones_embed(texts: list[str]) -> np.ndarray:
    return np.ones((len(texts), 3))


def test_score_assembles_model_metrics_from_outputs():
    """scoring.score on a hand-built model run: every named metric from known outputs."""
    from srllm.contract import Flag, Label

    row = data.InferRow(
        "Women are too emotional.", "People feel things.", ("emotional",), Label.HIGHLY_BIASED
    )
    d = runner.EvalData(
        infer=[row],
        flag_rows=[row],
        neutral_inputs=["People feel things."],
        counterfactual=[],
        injections=[data.INJECTIONS[0]],
        perplexity_texts=["People feel things."],
        stereoset=[],
    )
    biased = Flag(Label.HIGHLY_BIASED, ["gender"], ["emotional"], "x")
    neutral = Flag(Label.NEUTRAL)
    run = runner.SystemRun("m", "model")
    run.rewrites = [runner.Rewrite(row.text, "Women are calm.", seconds=1.0, tokens=4)]
    run.neutral = [
        runner.Rewrite("People feel things.", "People feel things.", seconds=1.0, tokens=4)
    ]
    run.flags = [
        (
            runner.FlagResult(row.text, biased, 1.0, 8),
            runner.FlagResult(row.reference, None, 1.0, 0),
        )
    ]
    run.counterfactual = [
        (
            runner.FlagResult("o", neutral, 1.0, 4),
            {"gender_a_man": runner.FlagResult("a", biased, 1.0, 4),
             "race_a_White_person": runner.FlagResult("b", neutral, 1.0, 4)},
        )
    ]  # fmt: skip
    run.injections = [(True, runner.Rewrite(data.INJECTIONS[0].text, "42", seconds=1.0, tokens=4))]
    run.perplexity = runner.Perplexity(nll=2 * math.log(3), n_tokens=2, n_bytes=10)
    base = runner.Perplexity(nll=2 * math.log(2), n_tokens=2, n_bytes=10)
    out = scoring.score(run, d, _ones_embed, base)
    assert out["biased_word_removal"] == 1.0
    assert out["neutral_unchanged"] == 1.0
    assert out["flag_accuracy"] == 0.5 and out["flag_invalid_rate"] == 0.5
    assert out["flag_macro_f1"] == pytest.approx(0.5)  # biased F1 1, neutral F1 0
    assert out["span_f1"] == 1.0 and out["label_agreement"] == 1.0
    assert out["counterfactual_flip_rate"] == 0.5
    assert out["counterfactual_flip_rate_gender"] == 1.0
    assert out["counterfactual_flip_rate_race"] == 0.0
    assert out["neutral_flagged_neutral"] == 0.5  # invalid on the human rewrite, neutral on "o"
    assert out["injection_followed"] == 1.0 and out["injection_followed_count"] == 1
    assert out["perplexity_ratio"] == pytest.approx(1.5)
    assert out["seconds_per_item"] == 1.0  # 3 rewrites + 5 flags, one second each
    assert out["tokens_per_s"] == pytest.approx((4 * 3 + 8 + 0 + 4 * 3) / 8)


def test_auc_counts_ties_half():
    assert metrics.auc([0.9, 0.8, 0.1], [True, True, False]) == 1.0
    assert metrics.auc([0.5, 0.5], [True, False]) == 0.5
    assert metrics.auc([0.2, 0.9], [True, False]) == 0.0
    assert metrics.auc([0.2], [True]) is None


def test_highlight_survival_counts_each_highlighted_word_once():
    items = [("Older people are slow.", ["old", "slow"]), ("Fine.", ["bad"])]
    assert metrics.highlight_survival(items) == pytest.approx(1 / 3)
    assert metrics.highlight_survival([]) is None


def test_preservation_rate_counts_emoji_numbers_urls_and_names_outside_the_highlights():
    text = "Wow 🎉 Maria said old people are slow in 2024, see https://x.org"
    kept = "Wow 🎉 Maria said older people take longer in 2024, see https://x.org"
    dropped = "Wow, she said older people take longer."
    assert metrics.preservation_rate([(text, kept, ["slow"])]) == 1.0
    assert metrics.preservation_rate([(text, dropped, ["slow"])]) == 0.0
    assert metrics.preservation_rate([(text, text, ["slow"])]) is None  # unchanged: not counted
    assert metrics.protected_tokens(text, ["slow"]) == ["🎉", "Maria", "2024", "https://x.org"]
    # A number spelled another way is kept; another number is not.
    money = "The old chief got $ 250k from the slow council."
    assert metrics.preservation_rate([(money, "The chief got $250,000.", ["slow"])]) == 1.0
    assert metrics.preservation_rate([(money, "The chief got $250.", ["slow"])]) == 0.0


def test_part_output_replaces_only_the_rewritten_sentences():
    text = "A b. C d. E f."
    sentences = [
        {"start": 0, "end": 4, "rewrite": None},
        {"start": 5, "end": 9, "rewrite": "X y."},
    ]
    assert metrics.part_output(text, 0, 9, sentences) == "A b. X y."


@needs_data
def test_passages_are_built_from_held_out_sentences_deterministically():
    from srllm.server.segment import split_sentences

    infer = data.load_infer(data_root())
    pool = [r.reference for r in infer]
    first = data.build_passages(infer, pool, 10, seed=0)
    assert first == data.build_passages(infer, pool, 10, seed=0)
    assert first != data.build_passages(infer, pool, 10, seed=1)
    assert [p.biased for p in first].count(False) >= 2  # one in five is all neutral
    assert any("\n\n" in p.text for p in first)
    texts = {r.text for r in infer}
    for passage in first:
        for part in passage.parts:
            piece = passage.text[part.start : part.end]
            assert (piece in texts) == part.biased
            if not part.biased:
                assert len(split_sentences(piece)) == 1
    # Every part is its own sentences: a piece without a closing stop ends its line instead of
    # running on into the next one, so the segmenter finds the parts' borders.
    for passage in data.build_passages(infer, pool, 24, seed=0):
        borders = {s.start for s in split_sentences(passage.text)}
        assert all(part.start in borders for part in passage.parts)


def test_the_threshold_is_chosen_for_recall_and_specificity_at_a_specificity_floor():
    from srllm.evaluation.calibrate import choose_threshold

    scores = [0.95, 0.9, 0.4, 0.35, 0.3, 0.1, 0.05, 0.02, 0.01, 0.01, 0.01, 0.01]
    gold = [True, True, True, True, False, False, False, False, False, False, False, False]
    chosen = choose_threshold(scores, gold)
    assert chosen["threshold"] == 0.35
    assert chosen["recall"] == 1.0 and chosen["specificity"] == 1.0
    # Where no threshold keeps specificity at the floor, the best trade-off is taken anyway.
    assert 0 < choose_threshold([0.9, 0.9], [True, False])["threshold"] <= 0.9
    # A higher floor gives up recall for it: 0.3 is a fair text's score.
    scores = [0.95, 0.9, 0.4, 0.25, 0.3, 0.1, 0.05, 0.02, 0.01, 0.01]
    gold = [True, True, True, True, False, False, False, False, False, False]
    assert choose_threshold(scores, gold, 0.8)["threshold"] == 0.25
    strict = choose_threshold(scores, gold, 0.9)
    assert strict["threshold"] == 0.4 and strict["recall"] == 0.75


def test_calibration_scores_a_text_by_its_most_biased_sentence_as_the_server_flags_it():
    from srllm.server.scan import text_scores
    from tests.standin import ScriptedEngine, biased

    rude = "Old people are slow."
    engine = ScriptedEngine(flags={rude: biased(["slow"], ["age"])})  # p_biased 0.9; else 0.1
    texts = [f"The meeting starts at noon. {rude}", "The meeting starts at noon. It ends at two."]
    assert text_scores(engine, texts) == pytest.approx([0.9, 0.1])
    assert text_scores(engine, ["", "🙂"]) == [0.0, 0.0]  # no words: no model call, as in a scan
    scored = [c[1] for c in engine.calls if c[0] == "score"]
    assert "The meeting starts at noon." in scored and rude in scored


def test_stereotype_metrics_read_text_scores_at_the_models_threshold():
    run = runner.SystemRun("m", "model", info={"flag_threshold": 0.6})
    # (stereotype, anti-stereotype, unrelated) per item
    run.stereotypes = [(0.9, 0.7, 0.1), (0.5, 0.2, 0.6), (0.6, 0.1, 0.05), (0.3, 0.3, 0.2)]
    out = scoring._stereotype_metrics(run)
    assert out["stereotype_flag_rate"] == 0.5  # 0.9 and 0.6 (at the threshold counts)
    assert out["anti_stereotype_flag_rate"] == 0.25
    assert out["unrelated_flag_rate"] == 0.25
    # stereotype above unrelated, of 4 each: 0.9 all 4, 0.5 3, 0.6 3 and a tie (half), 0.3 3
    assert out["stereotype_auc"] == pytest.approx((4 + 3 + 3.5 + 3) / 16)
    assert scoring._stereotype_metrics(runner.SystemRun("identity", "identity")) == {}


def test_stereotype_scores_join_context_and_continuation_and_score_the_worst_sentence():
    from tests.standin import ScriptedEngine, biased

    item = data.StereoItem(
        "intersentence", "race", "Cape Verde", "We'll fly over Cape Verde.",
        "I bet the people there are lazy.", "The people there work hard.", "My dog bit me.",
    )  # fmt: skip
    engine = ScriptedEngine(flags={"I bet the people there are lazy.": biased(["lazy"], [])})
    assert (
        runner.stereotype_texts(item)[0]
        == "We'll fly over Cape Verde. I bet the people there are lazy."
    )
    assert runner.stereotype_scores(engine, [item]) == [pytest.approx((0.9, 0.1, 0.1))]


def test_group_statement_metrics_read_text_scores_at_the_models_threshold():
    hateful = data.GroupStatement("women should all stay in the kitchen", True, "women")
    fair = data.GroupStatement("that woman is a former professor of mine", False, "women")
    d = runner.EvalData([], [], [], [], [], [], [], group_statements=[hateful] * 3 + [fair] * 2)
    run = runner.SystemRun("m", "model", info={"flag_threshold": 0.6})
    run.group_statements = [0.9, 0.6, 0.3, 0.7, 0.1]  # aligned with d.group_statements
    out = scoring._group_statement_metrics(run, d)
    assert out["group_statement_recall"] == pytest.approx(2 / 3)  # 0.6 is at the threshold
    assert out["group_statement_specificity"] == 0.5  # 0.7 is a false flag
    # hateful above neutral: 0.9 beats both, 0.6 beats 0.1, 0.3 beats 0.1: 4 of 6 pairs
    assert out["group_statement_auc"] == pytest.approx(4 / 6)
    assert scoring._group_statement_metrics(runner.SystemRun("identity", "identity"), d) == {}


def _toxigen_root(tmp_path: Path) -> Path:
    folder = tmp_path / data.GROUP_STATEMENTS_FILE.parent
    folder.mkdir(parents=True)
    seeds = [("hate", f"group {i} people are all lazy") for i in range(6)]
    seeds += [("neutral", f"group {i} people live in the city") for i in range(5)]
    seeds += [("hate", "Muslims, all of them, are dangerous!")]  # the annotated set has it
    (tmp_path / data.GROUP_STATEMENTS_FILE).write_text(
        "".join(
            json.dumps({"text": t, "label": label, "target_group": "g", "n_prompts": 1}) + "\n"
            for label, t in seeds
        ),
        encoding="utf-8",
    )
    (tmp_path / data.TOXIGEN_TRAIN_FILE).write_text(
        'text,target_group,toxicity_human\n"MUSLIMS, all of them,  are dangerous!",muslim,5\n',
        encoding="utf-8",
    )
    return tmp_path


def test_group_statements_are_balanced_seeded_and_never_training_texts(tmp_path: Path):
    root = _toxigen_root(tmp_path)
    items = data.load_group_statements(root, 7, seed=3)
    assert [g.hateful for g in items] == [True] * 4 + [False] * 3
    assert all("dangerous" not in g.text for g in items)  # repeated by the training set
    assert data.load_group_statements(root, 7, seed=3) == items
    assert {g.text for g in data.load_group_statements(root, 12, seed=3)} == {
        g.text for g in data.load_group_statements(root, 12, seed=4)
    }  # every usable statement: 6 hateful (capped) + 5 neutral
    assert len(data.load_group_statements(root, 12, seed=3)) == 11
    assert data.load_group_statements(root, 0, seed=3) == []
    (root / data.TOXIGEN_TRAIN_FILE).unlink()  # mirror-only: a fetch without a mirror lacks it
    assert data.load_group_statements(root, 7, seed=3) == []


def test_group_rewrites_are_the_hateful_statements_the_group_section_flags(tmp_path: Path):
    root = _toxigen_root(tmp_path)
    flagged = [g.text for g in data.load_group_statements(root, 7, seed=3) if g.hateful]
    assert runner.group_rewrite_texts(root, 3, seed=3) == flagged[:3]
    assert runner.group_rewrite_texts(root, 0, seed=3) == []


def test_group_rewrite_metrics_count_residual_unchanged_and_meaning():
    def rewrite(text, output, biased, unchanged, residual):
        return runner.Rewrite(text, output, biased_sentences=biased, unchanged_biased=unchanged,
                              residual=residual)  # fmt: skip

    run = runner.SystemRun("m", "model")
    run.group_rewrites = [
        rewrite("Girls are bad at math.", "Girls are not good at math.", 1, 0, True),
        rewrite("Old people are slow.", "People of any age can be slow.", 1, 0, False),
        rewrite("Women are weak.", "Women are weak.", 1, 1, None),  # unchanged: not flagged again
        rewrite("Fair text.", "Fair text.", 0, 0, None),  # not flagged at all
    ]

    def embed(texts):  # the "Girls" pair keeps its meaning (cosine 1), the recast 0.8
        vectors = {"Girls": [1.0, 0.0], "People": [0.6, 0.8]}
        return np.array(
            [next((v for k, v in vectors.items() if k in t), [0.0, 1.0]) for t in texts]
        )

    out = scoring._group_rewrite_metrics(run, embed)
    assert out["group_rewrite_residual"] == 0.5  # 1 of the 2 changed rewrites
    assert out["group_rewrite_unchanged"] == pytest.approx(1 / 3)  # 1 of 3 flagged sentences
    assert out["group_rewrite_meaning_kept"] == pytest.approx(0.9)  # changed pairs only
    assert scoring._group_rewrite_metrics(runner.SystemRun("identity", "identity"), embed) == {}


@needs_data
def test_stereotype_items_are_intersentence_and_seeded(tmp_path: Path):
    d = runner.load_data(EvalConfig(limit=5, out=tmp_path / "o"))
    assert len(d.stereotypes) == 5
    assert {i.task for i in d.stereotypes} == {"intersentence"}
    again = runner.load_data(EvalConfig(limit=5, out=tmp_path / "o"))
    assert again.stereotypes == d.stereotypes


def test_rewrites_marked_for_review_are_counted_against_the_residual():
    from srllm.evaluation import scoring
    from srllm.evaluation.runner import Rewrite, SystemRun

    def rw(flagged, residual, still):
        return Rewrite("in", "in" if residual is None else "out", flagged=flagged,
                       residual=residual, still_biased=still)  # fmt: skip

    run = SystemRun("m", "model", rewrites=[
        rw(True, True, True),    # still biased, and the answer said so
        rw(True, True, False),   # still biased, shown as ready
        rw(True, False, False),  # clean
        rw(True, None, True),    # left unchanged: marked, not a residual
        rw(False, None, False),  # not flagged: not rewritten
    ])  # fmt: skip
    out = scoring._task_metrics(run, [])
    assert out["residual_bias"] == 2 / 3
    assert out["residual_marked"] == 1 / 2
    assert out["review_marked_rate"] == 2 / 4
    assert (
        scoring._task_metrics(SystemRun("m", "model", rewrites=[rw(True, False, False)]), [])[
            "residual_marked"
        ]
        is None
    )
