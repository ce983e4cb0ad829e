import csv
import json
from pathlib import Path

import pytest

from srllm import contract
from srllm.errors import SrllmError
from srllm.paths import data_root
from srllm.training import data
from srllm.training.config import load_config

SRLLM = data_root() / "srllm"
EXTRA = SRLLM.parent / "extra"
needs_data = pytest.mark.skipif(not SRLLM.is_dir(), reason="SR-LLM data not present")
HEADER = ["biased_text", "dimension", "biased_words", "aspect", "label", "debiased_text"]


def write_csv(path: Path, rows: list[list[str]], header=HEADER) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


GOOD = ["He is n't fit , lol .", "toxicity", "['lol']", "Ageism", "Slightly Biased", "He is unfit."]


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("It is n't fair , really .", "It isn't fair, really."),
        ("I 'm sure they 're ok ; we 'll see", "I'm sure they're ok; we'll see"),
        ("He ca n't and wo n't go !", "He can't and won't go!"),
        ("She said ``no way'' ( twice )", 'She said "no way" (twice)'),
        ("about 'gender violence ', also", "about 'gender violence', also"),
        ("the parents ' house", "the parents' house"),
        ("Fine text, unchanged.", "Fine text, unchanged."),
    ],
)
def test_clean_text_undoes_tokenizer_artefacts(raw, clean):
    assert data.clean_text(raw) == clean


def test_cleaning_never_changes_a_word():
    raw = "Why do n't they ever listen , those people ? Typical ."
    letters = lambda s: "".join(ch for ch in s if ch.isalnum())  # noqa: E731
    assert letters(data.clean_text(raw)) == letters(raw)


def test_biased_words_parse_as_a_literal_and_never_run_code():
    assert data.parse_biased_words("['smacks', 'incoherence']", "f: row 1") == [
        "smacks",
        "incoherence",
    ]
    assert data.parse_biased_words("", "f: row 1") == []
    with pytest.raises(SrllmError, match="row 7.*biased_words"):
        data.parse_biased_words("__import__('os').system('true')", "f: row 7")


def test_only_words_that_occur_in_the_text_are_kept_as_written_there():
    assert data.words_in_text("Such Idiots, honestly.", ["idiots", "morons"]) == ["Idiots"]


def test_a_missing_column_names_the_file(tmp_path):
    path = write_csv(tmp_path / "t.csv", [GOOD[:5]], header=HEADER[:5])
    with pytest.raises(SrllmError, match=r"t\.csv.*debiased_text"):
        data.read_rows(path)


@pytest.mark.parametrize(
    ("column", "value", "message"),
    [
        (4, "Very Biased", "column 'label'"),
        (0, "  ", "column 'biased_text'"),
        (5, "", "column 'debiased_text'"),
        (2, "[unclosed", "column 'biased_words'"),
    ],
)
def test_a_bad_cell_names_file_row_and_column(tmp_path, column, value, message):
    bad = list(GOOD)
    bad[column] = value
    path = write_csv(tmp_path / "t.csv", [GOOD, GOOD, bad])
    with pytest.raises(SrllmError, match=rf"t\.csv: row 3 .*{message}"):
        data.read_rows(path)


def test_a_row_gives_rewrite_flag_and_neutral_examples(tmp_path):
    (row,) = data.read_rows(write_csv(tmp_path / "t.csv", [GOOD]))
    assert row.biased_text == "He isn't fit, lol."
    assert row.categories == ("age",)
    examples = {ex.kind: ex for ex in data.row_examples(row, neutral=True)}
    assert examples["rewrite_biased"].target == "He is unfit."
    flag = contract.parse_flag(examples["flag_biased"].target)
    assert flag.label is contract.Label.SLIGHTLY_BIASED and flag.biased_words == ["lol"]
    assert (
        examples["flag_biased"].target
        == contract.Flag(
            flag.label, ["age"], ["lol"], contract.explain(flag.label, ["age"], ["lol"])
        ).to_json()
    )
    assert contract.parse_flag(examples["flag_neutral"].target).label is contract.Label.NEUTRAL
    assert examples["flag_neutral"].text == "He is unfit."
    assert examples["rewrite_neutral"].text == examples["rewrite_neutral"].target == "He is unfit."
    assert examples["flag_biased"].messages() == contract.messages("flag", row.biased_text)
    assert len(data.row_examples(row, neutral=False)) == 2


def test_sentences_of_a_row_become_flags_and_aligned_rewrites(tmp_path):
    aligned = [
        "Nice day . The idiots in charge ruined it ! We left early .",
        "toxicity", "['idiots', 'ruined']", "Political", "Highly Biased",
        "Nice day. The people in charge changed it! We left early.",
    ]  # fmt: skip
    unaligned = [
        "The idiots won . They always do .", "toxicity", "['idiots']", "Political",
        "Slightly Biased", "The other side won the vote, as it often does.",
    ]  # fmt: skip
    kept = [
        "The vote was close . Liberals never accept losing .", "bias", "['Liberals']",
        "Political", "Slightly Biased", "The vote was close. Liberals did not accept the result.",
    ]  # fmt: skip
    single = ["He is n't fit , lol .", *GOOD[1:]]
    rows = data.read_rows(write_csv(tmp_path / "t.csv", [aligned, unaligned, kept, single]))
    first, second, fourth, third = (data.sentence_examples(row) for row in rows)
    # Only the sentence holding annotated words is taught, with its own words; the rewrite's
    # sentence at the same place is its neutral flag and its rewrite.
    flags = [
        (ex.text, contract.parse_flag(ex.target)) for ex in first if ex.kind == "flag_sentence"
    ]
    assert [(text, f.label, f.biased_words) for text, f in flags] == [
        ("The idiots in charge ruined it!", contract.Label.HIGHLY_BIASED, ["idiots", "ruined"]),
        ("The people in charge changed it!", contract.Label.NEUTRAL, []),
    ]
    assert flags[0][1].categories == ["politics"]
    (rewrite,) = [ex for ex in first if ex.kind == "rewrite_sentence"]
    assert (rewrite.text, rewrite.target) == (
        "The idiots in charge ruined it!",
        "The people in charge changed it!",
    )
    assert rewrite.task is contract.Task.REWRITE and "sentence 2" in rewrite.source
    # Sentence counts differ: a neutral flag from the rewrite keeps the verdicts balanced, and
    # no rewrite pair is guessed.
    assert [(ex.kind, ex.text) for ex in second] == [
        ("flag_sentence", "The idiots won."),
        ("flag_sentence", "The other side won the vote, as it often does."),
    ]
    # The human rewrite keeps every annotated word ("Liberals"): the words do not say where
    # the bias is, so the sentence is not taught as biased for naming the group.
    assert fourth == []
    assert third == []  # one sentence: row_examples already has it


@needs_data
def test_sentence_examples_join_the_mix_only_when_asked():
    data_dir = f"data_dir={str(SRLLM)!r}".replace("'", '"')
    plain = data.build_dataset(load_config(None, [data_dir]))
    twice = data.build_dataset(load_config(None, [data_dir, "srllm_sentences=2"]))
    assert not [ex for ex in plain.train if ex.kind.endswith("_sentence")]
    added = [ex for ex in twice.train if ex.kind.endswith("_sentence")]
    assert len(twice.train) == len(plain.train) + len(added) and len(added) > 500
    assert all(added.count(ex) == 2 for ex in added[:20])
    assert not [ex for ex in twice.val if ex.kind.endswith("_sentence")]  # val rows stay whole
    with pytest.raises(SrllmError, match="srllm_sentences"):
        load_config(None, ["srllm_sentences=11"])


def test_every_sentence_of_a_rewrite_becomes_a_neutral_flag_when_asked(tmp_path):
    row = [
        "The idiots won . They always do .", "toxicity", "['idiots']", "Political",
        "Slightly Biased", "The other side won the vote. It often does. We lost.",
    ]  # fmt: skip
    single = ["He is n't fit , lol .", *GOOD[1:]]
    rows = data.read_rows(write_csv(tmp_path / "t.csv", [row, single]))
    several, one = (data.fair_sentence_examples(r) for r in rows)
    flags = [(ex.text, contract.parse_flag(ex.target)) for ex in several]
    assert [(text, f.label) for text, f in flags] == [
        ("The other side won the vote.", contract.Label.NEUTRAL),
        ("It often does.", contract.Label.NEUTRAL),
        ("We lost.", contract.Label.NEUTRAL),
    ]
    assert {ex.kind for ex in several} == {"flag_fair_sentence"}
    assert one == []  # a one-sentence rewrite is the row's own neutral flag already


@needs_data
def test_fair_sentences_join_the_mix_only_when_asked():
    data_dir = f"data_dir={str(SRLLM)!r}".replace("'", '"')
    plain = data.build_dataset(load_config(None, [data_dir]))
    fair = data.build_dataset(load_config(None, [data_dir, "srllm_fair_sentences=1"]))
    added = [ex for ex in fair.train if ex.kind == "flag_fair_sentence"]
    assert len(fair.train) == len(plain.train) + len(added) and len(added) > 500
    with pytest.raises(SrllmError, match="srllm_fair_sentences"):
        load_config(None, ["srllm_fair_sentences=11"])


def test_the_split_is_seeded_disjoint_and_complete(tmp_path):
    rows = data.read_rows(write_csv(tmp_path / "t.csv", [GOOD] * 40))
    a_train, a_val = data.split_rows(rows, 0.1, seed=3)
    b_train, b_val = data.split_rows(rows, 0.1, seed=3)
    assert [r.where for r in a_val] == [r.where for r in b_val]
    assert len(a_val) == 4 and len(a_train) == 36
    assert {r.where for r in a_train}.isdisjoint({r.where for r in a_val})
    _, c_val = data.split_rows(rows, 0.1, seed=4)
    assert [r.where for r in c_val] != [r.where for r in a_val]


def test_a_leak_of_held_out_text_is_refused():
    example = data.Example(contract.Task.REWRITE, "A held-out sentence here.", "x", "k", "s")
    with pytest.raises(SrllmError, match="held-out"):
        data.check_no_leak([example], {contract.normalise("a held-out  sentence here.")})


@needs_data
def test_the_real_dataset_never_contains_held_out_or_counterfactual_text():
    cfg = load_config(None, [f"data_dir={str(SRLLM)!r}".replace("'", '"')])
    ds = data.build_dataset(cfg)
    assert len(ds.train) > 1000 and len(ds.val) > 100
    held: set[str] = set()
    for name in ("infer_50.csv", "counterfactual-inhouse.csv"):
        with (SRLLM / name).open(newline="", encoding="utf-8") as handle:
            for record in csv.DictReader(handle):
                for value in record.values():
                    if value and value.strip():
                        held.add(contract.normalise(value))
                        held.add(contract.normalise(data.clean_text(value)))
    texts = {contract.normalise(t) for ex in ds.train + ds.val for t in (ex.text, ex.target)}
    assert texts.isdisjoint(held)
    assert set(ds.files) == {str(SRLLM / "train_500.csv")}
    train_rows = {ex.source for ex in ds.train}
    assert train_rows.isdisjoint({ex.source for ex in ds.val})


@needs_data
def test_real_flag_targets_follow_the_contract():
    cfg = load_config(None, [f'data_dir="{SRLLM}"'])
    for ex in data.build_dataset(cfg).train:
        if ex.task is contract.Task.FLAG:
            flag = contract.parse_flag(ex.target)
            assert (
                contract.Flag(
                    flag.label, flag.categories, flag.biased_words, flag.explanation
                ).to_json()
                == ex.target
            )
            for word in flag.biased_words:
                assert contract.find_spans(ex.text, [word])[0].text == word


@pytest.mark.skipif(not EXTRA.is_dir(), reason="extra data not present")
def test_extra_sources_add_rewrite_pairs_only_when_asked():
    examples = data.extra_examples(EXTRA, ["neutral_rewriter_gender", "paradetox"], 5, seed=0)
    assert len(examples) == 10
    assert all(ex.task is contract.Task.REWRITE and ex.kind == "rewrite_extra" for ex in examples)
    assert all(
        ex.source.split(":")[0] in ("neutral_rewriter_gender", "paradetox") for ex in examples
    )


TOXIGEN_HEADER = ["text", "target_group", "toxicity_human"]


def test_toxigen_rows_become_balanced_flags_by_human_toxicity(tmp_path):
    rows = [
        ["all of them are lazy", "black", "5.0"],  # highly biased, race_ethnicity
        ["women belong at home", "women", "4.0"],  # slightly biased, gender
        ["muslims are evil", "muslim", "4.6"],  # highly biased, religion
        ["- my neighbour is a nurse", "women", "1.0"],  # benign: neutral, the list dash dropped
        ["a hindu festival is in may", "jewish", "1.5"],  # benign
        ["some say things", "mexican", "2.7"],  # ambiguous: left out
        ["unknown group text", "martians", "5.0"],  # no category: left out
    ]
    path = write_csv(tmp_path / "toxigen.csv", rows, header=TOXIGEN_HEADER)
    examples = data.toxigen_examples(path, max_texts=100, seed=0)
    flags = {ex.text: contract.parse_flag(ex.target) for ex in examples if ex.task == "flag"}
    assert flags["all of them are lazy"].label == "highly_biased"
    assert flags["all of them are lazy"].categories == ["race_ethnicity"]
    assert flags["women belong at home"].label == "slightly_biased"
    assert flags["women belong at home"].categories == ["gender"]
    assert flags["muslims are evil"].categories == ["religion"]
    assert flags["my neighbour is a nurse"].label == "neutral"
    assert flags["a hindu festival is in may"].label == "neutral"
    assert "some say things" not in flags and "unknown group text" not in flags
    rewrites = {ex.text: ex.target for ex in examples if ex.task == "rewrite"}
    assert rewrites == {t: t for t in ("my neighbour is a nurse", "a hindu festival is in may")}
    # max_texts is split evenly between toxic and benign statements.
    two = data.toxigen_examples(path, max_texts=2, seed=0)
    labels = [contract.parse_flag(ex.target).label for ex in two if ex.task == "flag"]
    assert sorted(labels)[0] != "neutral" and labels.count("neutral") == 1


def test_toxigen_bad_score_names_the_row(tmp_path):
    path = write_csv(tmp_path / "t.csv", [["x", "women", "high"]], header=TOXIGEN_HEADER)
    with pytest.raises(SrllmError, match=r"t\.csv: row 1 \(line 2\), column 'toxicity_human'"):
        data.toxigen_examples(path, max_texts=10, seed=0)
    missing = write_csv(tmp_path / "m.csv", [["x", "women"]], header=["text", "target_group"])
    with pytest.raises(SrllmError, match="missing column"):
        data.toxigen_examples(missing, max_texts=10, seed=0)


def test_an_extra_source_can_carry_its_own_cap():
    from srllm.training.config import load_config, split_source

    assert split_source("toxigen:1600", 500) == ("toxigen", 1600)
    assert split_source("wnc", 500) == ("wnc", 500)
    with pytest.raises(SrllmError, match="extra_sources"):
        load_config(None, ['extra_sources=["toxigen:lots"]'])
    with pytest.raises(SrllmError, match="extra_sources"):
        load_config(None, ['extra_sources=["wikipedia:10"]'])


@pytest.mark.skipif(not EXTRA.is_dir(), reason="extra data not present")
def test_wnc_edits_flag_the_removed_loaded_words_and_rewrite_to_the_edit():
    examples = data.extra_examples(EXTRA, ["wnc:30"], 0, seed=0)
    flags = [ex for ex in examples if ex.task == "flag"]
    rewrites = {ex.text: ex.target for ex in examples if ex.task == "rewrite"}
    assert len(flags) == 30 and len(rewrites) == 30
    for ex in flags:
        flag = contract.parse_flag(ex.target)
        assert flag.label == "slightly_biased" and flag.biased_words
        for word in flag.biased_words:  # every word is in the sentence, and the edit drops it
            assert contract.find_spans(ex.text, [word])
        assert not ex.text[:1].islower() and " ." not in ex.text
        assert contract.is_changed(ex.text, rewrites[ex.text])
    test_ids = {
        r["id"] for r in data.jsonl(EXTRA / data.EXTRA_FILES["wnc"]) if r["split"] == "test"
    }
    assert not {ex.source.split(":", 1)[1] for ex in examples} & test_ids


@pytest.mark.skipif(not EXTRA.is_dir(), reason="extra data not present")
def test_wnc_flags_pair_each_biased_edit_with_its_human_edit_as_a_neutral_flag():
    rewrites = data.extra_examples(EXTRA, ["wnc:30"], 0, seed=0)
    flags = data.extra_examples(EXTRA, ["wnc_flags:30"], 0, seed=0)
    assert all(ex.task == "flag" for ex in flags) and len(flags) == 60
    # The same edits as "wnc": its biased flags, and its rewrite targets now flagged neutral.
    assert flags[::2] == [ex for ex in rewrites if ex.task == "flag"]
    neutral = flags[1::2]
    assert [ex.text for ex in neutral] == [ex.target for ex in rewrites if ex.task == "rewrite"]
    for biased, fair in zip(flags[::2], neutral, strict=True):
        assert contract.parse_flag(biased.target).label == "slightly_biased"
        flag = contract.parse_flag(fair.target)
        assert flag.label == "neutral" and not flag.biased_words and not flag.categories
        assert biased.source == fair.source


@pytest.mark.skipif(not EXTRA.is_dir(), reason="extra data not present")
def test_holisticbias_teaches_hostility_for_every_group_and_never_names_held_out_groups():
    examples = data.extra_examples(EXTRA, ["holisticbias:400"], 0, seed=0)
    assert all(ex.task == "flag" for ex in examples) and len(examples) == 400
    rows = data.jsonl(EXTRA / data.EXTRA_FILES["holisticbias"])
    held_out = {r["descriptor"] for r in rows if data.holistic_heldout(r["descriptor"])}
    by_text = {r["text"]: r for r in rows}
    assert held_out and not {by_text[ex.text]["descriptor"] for ex in examples} & held_out
    for ex in examples:
        row, flag = by_text[ex.text], contract.parse_flag(ex.target)
        if row["template"] == data.HOLISTIC_HOSTILE:
            assert flag.label == "highly_biased" and flag.biased_words == ["the worst"]
        elif row["preference"] == "dispreferred":
            assert flag.label == "slightly_biased" and flag.biased_words
        else:
            assert flag.label == "neutral"
    labels = {contract.parse_flag(ex.target).label for ex in examples}
    assert labels == {"neutral", "slightly_biased", "highly_biased"}


def test_paradetox_pairs_become_balanced_flags_naming_only_loaded_removed_words(tmp_path):
    # "fucking" is loaded (in 5 comments, no paraphrase); "really" is dropped by one edit but
    # used by paraphrases as often as by comments, so it is never named.
    rows = [
        {"toxic": f"this fucking thing {i} is really broken", "neutral_references": [
            f"this thing {i} is broken", f"this thing {i} is really broken"]}
        for i in range(5)
    ]  # fmt: skip
    rows.append({"toxic": "you are rude", "neutral_references": ["you are unkind"]})  # no loaded
    path = tmp_path / "paradetox.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    examples = data.paradetox_flag_examples(path, max_pairs=100, seed=0)
    assert all(ex.task == "flag" and ex.kind == "flag_extra" for ex in examples)
    flags = {ex.text: contract.parse_flag(ex.target) for ex in examples}
    assert len(flags) == 10  # both sides of the five loaded pairs; the rude one is left out
    for i in range(5):
        biased = flags[f"this fucking thing {i} is really broken"]
        assert biased.label == "slightly_biased" and biased.biased_words == ["fucking"]
        assert flags[f"this thing {i} is broken"].label == "neutral"
    assert len(data.paradetox_flag_examples(path, max_pairs=2, seed=0)) <= 4


@needs_data
def test_a_rewriter_run_trains_and_validates_on_rewrites_only():
    data_dir = f"data_dir={str(SRLLM)!r}".replace("'", '"')
    both = data.build_dataset(load_config(None, [data_dir]))
    writer = data.build_dataset(load_config(None, [data_dir, 'tasks=["rewrite"]']))
    rewrites = [ex for ex in both.train if ex.task is contract.Task.REWRITE]
    assert writer.train == rewrites and len(rewrites) < len(both.train)
    assert writer.val and {ex.task for ex in writer.val} == {contract.Task.REWRITE}
    for bad in ('tasks=["verdict"]', "tasks=[]"):
        with pytest.raises(SrllmError, match="tasks"):
            load_config(None, [bad])
