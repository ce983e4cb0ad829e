"""The passage task (server.task) around a scripted engine: exact labels, offsets, bytes."""

import pytest

from srllm import contract
from srllm.server import generalise, task
from tests.standin import ScriptedEngine, biased

OLD = "Old people are slow and useless with technology."
WOMEN = "Women are too emotional to lead engineering teams."
FAIR = "The meeting starts at noon."


def engine_for_two_biased() -> ScriptedEngine:
    return ScriptedEngine(
        flags={
            OLD: biased(["slow", "useless"], ["age"]),
            WOMEN: biased(["emotional"], ["gender"], True),
        },
        rewrites={
            OLD: "Some older people find new technology harder to learn.",
            WOMEN: "Anyone can lead engineering teams.",
        },
    )


def run(engine, text, mode, cache=None):
    events = list(task.Task(engine, cache).run(text, mode))
    return events, events[-1].payload


def test_a_passage_is_flagged_sentence_by_sentence():
    text = f"{OLD}\n\n{FAIR} {WOMEN}"
    _, flag = run(engine_for_two_biased(), text, "flag")
    assert flag["label"] == "highly_biased" and flag["biased"] is True
    assert flag["categories"] == ["age", "gender"]
    # Both sentences say something about a whole group: the group is shown beside the words.
    assert [(s["start"], s["end"], s["text"], s["source"]) for s in flag["spans"]] == [
        (0, 10, "Old people", "generalisation"),
        (text.index("slow"), text.index("slow") + 4, "slow", "model"),
        (text.index("useless"), text.index("useless") + 7, "useless", "model"),
        (text.index("Women"), text.index("Women") + 5, "Women", "generalisation"),
        (text.index("emotional"), text.index("emotional") + 9, "emotional", "model"),
    ]
    assert [s["label"] for s in flag["sentences"]] == [
        "slightly_biased",
        "neutral",
        "highly_biased",
    ]
    assert "Sentence 1:" in flag["explanation"] and "Sentence 3:" in flag["explanation"]
    assert "age" in flag["explanation"] and "gender" in flag["explanation"]
    assert "Sentence 2" not in flag["explanation"]


def test_only_biased_sentences_are_rewritten_and_the_rest_comes_back_byte_for_byte():
    text = f"  {OLD}\r\n\r\n{FAIR}  \t{WOMEN}\n"
    _, payload = run(engine_for_two_biased(), text, "debias")
    expected = (
        "  Some older people find new technology harder to learn.\r\n\r\n"
        f"{FAIR}  \tAnyone can lead engineering teams.\n"
    )
    assert payload["rewrite"] == expected
    assert payload["changed"] is True
    assert [s["changed"] for s in payload["sentences"]] == [True, False, True]
    assert payload["sentences"][1]["rewrite"] is None


def test_a_fair_passage_is_not_rewritten_and_the_model_is_not_asked_to():
    engine = engine_for_two_biased()
    _, payload = run(engine, f"{FAIR} {FAIR}", "debias")
    assert payload["rewrite"] is None and payload["changed"] is False
    assert [c[0] for c in engine.calls] == ["flag"]  # the same sentence, once: cached per run


def test_offsets_are_code_points_after_emoji():
    text = "🎉👴🏻 " + OLD
    engine = ScriptedEngine(flags={text: biased(["slow"], ["age"])})
    _, flag = run(engine, text, "flag")
    start = text.index("slow")
    [span] = [s for s in flag["spans"] if s["text"] == "slow"]
    assert span["start"] == start == 19 and text[start : start + 4] == "slow"


def test_the_stream_reports_each_sentence_and_streams_each_rewrite_token_by_token():
    text = f"{OLD} {FAIR} {WOMEN}"
    events, payload = run(engine_for_two_biased(), text, "debias")
    kinds = [type(e).__name__ for e in events]
    assert kinds[:3] == ["Progress"] * 3 and kinds[3] == "Flagged" and kinds[-1] == "Done"
    progress = [(e.phase, e.index) for e in events if isinstance(e, task.Progress)]
    assert progress == [("flag", 0), ("flag", 1), ("flag", 2), ("rewrite", 0), ("rewrite", 2)]
    deltas = [e for e in events if isinstance(e, task.Delta)]
    assert [d.index for d in deltas].count(0) == 9  # one per word of the scripted rewrite
    # Nothing was redone or restored here, so the deltas join into the final rewrite.
    assert "".join(d.text for d in deltas) == payload["rewrite"]
    done = [e for e in events if isinstance(e, task.Rewritten)]
    # Made with the highlighted words pushed down; not redone (the stand-in's P(biased) is low).
    assert [(d.index, d.guided) for d in done] == [(0, True), (2, True)]
    assert done[1].text == "Anyone can lead engineering teams."
    # Both rewrites score low and no longer generalise: nothing for the user to review.
    assert [d.still_biased for d in done] == [False, False]
    assert [s["still_biased"] for s in payload["sentences"]] == [False, None, False]
    assert payload["still_biased"] is False


def test_editing_one_sentence_rechecks_only_that_one():
    engine = engine_for_two_biased()
    cache = task.Cache(64)
    run(engine, f"{OLD} {FAIR}", "flag", cache)
    engine.calls.clear()
    run(engine, f"{OLD} The meeting starts at one.", "flag", cache)
    assert engine.calls == [("flag", "The meeting starts at one.")]
    assert cache.hits == 1


def test_an_unchanged_rewrite_is_redone_away_from_the_highlighted_words():
    text = "The immigrants in that neighborhood are all criminals."
    engine = ScriptedEngine(
        flags={text: biased(["criminals"], ["nationality"])},
        rewrites={},  # the plain rewrite comes back unchanged
        guided={text: "The immigrants in that neighborhood are residents."},
    )
    events, payload = run(engine, text, "debias")
    assert payload["rewrite"] == "The immigrants in that neighborhood are residents."
    assert payload["sentences"][0]["guided"] is True
    [final] = [e for e in events if isinstance(e, task.Rewritten)]
    assert final.text == payload["rewrite"] and final.guided
    assert ("rewrite", text, ("criminals",)) in engine.calls


def test_an_unchanged_rewrite_with_nothing_new_to_push_down_is_not_redone_but_sampled():
    text = "My cousin is bad at math."
    engine = ScriptedEngine(flags={text: biased(["bad"], ["gender"])}, guided={text: text})
    _, payload = run(engine, text, "debias")
    assert payload["changed"] is False and payload["rewrite"] == text
    # No guided redo (nothing new to push down); every sample copies it too.
    tries = [("rewrite", text, ("bad",), n) for n in range(1, task.SAMPLED_REWRITES + 1)]
    assert [c for c in engine.calls if c[0] == "rewrite"] == [("rewrite", text, ("bad",)), *tries]
    # Not a normal outcome: the card says no neutral rewrite was found.
    assert payload["still_biased"] is True and payload["sentences"][0]["still_biased"] is True


def test_a_rewrite_every_try_leaves_flagged_is_returned_marked_for_review():
    """The best candidate is still the one returned (it is the least biased there is), but the
    answer says srllm's own check still flags it, so a client does not present it as neutral."""
    text = f"My cousin is bad at math. {FAIR}"
    weak = "My cousin is weak at math."
    engine = ScriptedEngine(
        flags={
            "My cousin is bad at math.": biased(["bad"], ["gender"]),
            weak: biased(["weak"], []),
        },
        guided={"My cousin is bad at math.": weak},
    )
    events, payload = run(engine, text, "debias")
    assert payload["rewrite"] == f"{weak} {FAIR}" and payload["changed"] is True
    assert [s["still_biased"] for s in payload["sentences"]] == [True, None]
    assert payload["still_biased"] is True
    [final] = [e for e in events if isinstance(e, task.Rewritten)]
    assert final.as_dict() == {"sentence": 0, "rewrite": weak, "guided": True, "still_biased": True}
    _, rewrite_only = run(engine, text, "rewrite")
    assert rewrite_only["still_biased"] is True


def test_rewrite_anyway_of_a_fair_sentence_is_not_marked_for_review():
    events = list(task.Task(ScriptedEngine()).run(FAIR, "rewrite", rewrite_all=True))
    payload = events[-1].payload
    assert payload["sentences"][0]["still_biased"] is None and payload["still_biased"] is False


def test_a_rewrite_still_flagged_biased_is_redone_and_the_less_biased_one_kept():
    """ "My cousin is weak at math." drops the highlighted word and keeps the slight: the
    flagger's own P(biased) of the rewrite catches it, and what it highlights there is pushed
    down in the next try."""
    text = "My cousin is bad at math."
    weak = "My cousin is weak at math."
    engine = ScriptedEngine(
        flags={text: biased(["bad"], ["gender"]), weak: biased(["weak"], ["gender"])},
        guided={text: weak, (text, ("bad", "weak")): "Anyone can be good at math."},
    )
    _, payload = run(engine, text, "debias")
    assert payload["rewrite"] == "Anyone can be good at math."
    assert payload["sentences"][0]["guided"] is True
    assert ("score", weak) in engine.calls


def test_words_the_flagger_still_finds_in_the_best_rewrite_are_pushed_down_next():
    """ "misconduct and deceit" for "greed and dishonesty" keeps the charge in other words:
    the next guided try pushes down what the flagger highlights in that rewrite too."""
    text = "Liberal greed and dishonesty on display."
    kept = "Liberal misconduct and deceit on display."
    engine = ScriptedEngine(
        flags={
            text: biased(["greed", "dishonesty"], ["politics"]),
            kept: biased(["deceit"], []),
        },
        rewrites={text: kept},
        guided={text: kept},
    )
    first = ("greed", "dishonesty")
    engine.guided[(text, first + ("misconduct", "deceit"))] = "Liberal officials acted badly."
    engine.guided[(text, first + ("deceit",))] = "Liberal officials acted badly."
    _, payload = run(engine, text, "debias")
    assert payload["rewrite"] == "Liberal officials acted badly."
    assert payload["sentences"][0]["guided"] is True
    rewrites = [c for c in engine.calls if c[0] == "rewrite"]
    assert len(rewrites) == 2  # the second is no longer flagged: no third
    assert rewrites[0][2] == first and "deceit" in rewrites[1][2]


def test_guided_tries_stop_when_the_flagger_finds_nothing_new():
    text = "My cousin is bad at math."
    engine = ScriptedEngine(
        flags={text: biased(["bad"], ["gender"]), "My cousin is not good at math.": biased([], [])},
        rewrites={text: "My cousin is not good at math."},
        guided={text: "My cousin is not good at math."},
    )
    run(engine, text, "debias")
    # Still biased, but the flag highlights no word of the rewrite: nothing new to push down, so
    # no guided redo; only the sampled tries follow (a standin's samples repeat the rewrite).
    assert len([c for c in engine.calls if c[0] == "rewrite"]) == 1 + task.SAMPLED_REWRITES


def test_emoji_numbers_and_urls_the_model_dropped_are_put_back():
    text = "Wow 🎉 those 👴🏻 old people 🙄 are slow, said the 🇫🇷 tourist in 2024."
    engine = ScriptedEngine(
        flags={text: biased(["slow"], ["age"])},
        rewrites={text: "Wow, those older people are unhurried, said the tourist."},
    )
    _, payload = run(engine, text, "rewrite")
    out = payload["rewrite"]
    for token in ("🎉", "👴🏻", "🙄", "🇫🇷", "2024"):
        assert token in out
    assert "slow" not in out and out.index("🎉") < out.index("👴🏻") < out.index("🙄")


@pytest.mark.parametrize(
    ("text", "biased_sentence", "model_rewrite", "expected"),
    [
        # Words the model only re-spelled keep the user's spelling and typography.
        (
            "The colour team’s trip was cancelled because the girls are too emotional.",
            "The colour team’s trip was cancelled because the girls are too emotional.",
            "The color team's trip was canceled because the girls were upset.",
            "The colour team’s trip was cancelled because the girls were upset.",
        ),
        # A sentence rewritten without its full stop does not run into the next one.
        (
            "That's how they kept the policies from causing a recession. Now we unwind it.",
            "That's how they kept the policies from causing a recession.",
            "That's how they kept the economy from a contraction",
            "That's how they kept the economy from a contraction. Now we unwind it.",
        ),
    ],
)
def test_the_rewrite_keeps_the_users_forms_and_full_stops(
    text, biased_sentence, model_rewrite, expected
):
    engine = ScriptedEngine(
        flags={biased_sentence: biased(["emotional"], ["gender"])},
        rewrites={biased_sentence: model_rewrite},
    )
    _, payload = run(engine, text, "rewrite")
    assert payload["rewrite"] == expected


def test_a_rewrite_that_only_respells_is_no_rewrite():
    text = "The girls are too emotional to be organised."
    assert task.finish_rewrite(text, "The girls are too emotional to be organized.") == text


def test_a_known_term_is_highlighted_by_the_lexicon_even_when_the_model_says_neutral():
    text = "He is wheelchair bound since the accident."
    _, flag = run(ScriptedEngine(), text, "flag")
    assert flag["label"] == "slightly_biased" and flag["categories"] == ["disability"]
    [span] = flag["spans"]
    assert span["text"] == "wheelchair bound" and span["source"] == "lexicon"
    assert "uses a wheelchair" in span["alternatives"]
    assert "'wheelchair bound'" in flag["explanation"]


def test_loaded_words_the_model_did_not_name_are_highlighted_in_biased_sentences_only():
    text = "Immigrants are lazy criminals, and the thug's friends too."
    engine = ScriptedEngine(flags={text: biased(["criminals"], ["race_ethnicity"])})
    _, flag = run(engine, text, "flag")
    assert [(s["text"], s["source"]) for s in flag["spans"]] == [
        ("Immigrants", "generalisation"),
        ("lazy", "opinion"),
        ("criminals", "model"),
        ("thug's", "opinion"),
    ]
    assert "'lazy'" in flag["explanation"] and "'criminals'" in flag["explanation"]
    # Bad news told fairly: the model's neutral verdict stands and nothing is highlighted.
    fair = "The storm was a terrible disaster for the town."
    _, flag = run(ScriptedEngine(), fair, "flag")
    assert flag["label"] == "neutral" and flag["spans"] == []


def test_loaded_words_people_never_marked_are_not_highlighted_by_themselves():
    """ "killed" and "disaster" report bad events: loaded, never marked in the training rows."""
    text = "The corrupt mayor killed the plan, a disaster."
    engine = ScriptedEngine(flags={text: biased(["corrupt"], ["politics"])})
    _, flag = run(engine, text, "flag")
    assert [(s["text"], s["source"]) for s in flag["spans"]] == [("corrupt", "model")]
    # Named by the model they are shown; and they still run a group down ("are slow").
    engine = ScriptedEngine(flags={text: biased(["killed"], ["politics"])})
    _, flag = run(engine, text, "flag")
    assert ("killed", "model") in [(s["text"], s["source"]) for s in flag["spans"]]
    assert generalise.find("Old people are slow.").evaluative


def test_the_explanation_names_only_highlighted_words():
    text = "Old people are slow."
    engine = ScriptedEngine(flags={text: biased(["slow", "silly"], ["age"])})
    _, flag = run(engine, text, "flag")
    assert [s["text"] for s in flag["spans"]] == ["Old people", "slow"]
    assert "silly" not in flag["explanation"] and "The word 'slow' is" in flag["explanation"]
    assert "a whole group ('Old people')" in flag["explanation"]


def test_text_without_words_is_neutral_without_asking_the_model():
    engine = ScriptedEngine()
    _, flag = run(engine, "🎉 🎉\n\n…", "flag")
    assert flag["label"] == "neutral" and engine.calls == []


def test_the_users_delimiter_tags_survive_a_rewrite():
    text = "Women are too emotional </text> to lead."
    engine = ScriptedEngine(
        flags={text: biased(["emotional"], ["gender"])},
        rewrites={text: "Women can ‹/text› lead."},
    )
    _, payload = run(engine, text, "rewrite")
    assert payload["rewrite"] == "Women can </text> lead."
    # "Women can lead" says what the group may do, not what it is: no recast was needed.
    assert not any("People of any" in c[1] for c in engine.calls if c[0] == "score")


def test_redos_stop_after_guided_rounds_even_when_each_finds_a_new_word():
    text = "My cousin is bad at math."
    tries = [
        "My cousin is weak at math.",
        "My cousin is poor at math.",
        "My cousin is slow at math.",
    ]
    found = ["weak", "poor", "slow"]
    flags = {text: biased(["bad"], ["gender"])}
    guided: dict = {text: tries[0]}
    avoid = ("bad",)
    for i, (rewrite, word, after) in enumerate(
        zip(tries, found, tries[1:] + tries[-1:], strict=True)
    ):
        flags[rewrite] = biased([word], ["gender"], p=0.9 - 0.1 * i)  # each a little better
        avoid += (word,)
        guided[(text, avoid)] = after
    engine = ScriptedEngine(flags=flags, guided=guided)
    run(engine, text, "debias")
    # The greedy try, GUIDED_ROUNDS redos, then the sampled tries with the last words pushed down.
    calls = [c for c in engine.calls if c[0] == "rewrite"]
    assert len(calls) == 1 + task.GUIDED_ROUNDS + task.SAMPLED_REWRITES
    assert len({c[2] for c in calls[: 1 + task.GUIDED_ROUNDS]}) == 1 + task.GUIDED_ROUNDS


def test_plain_words_the_model_names_are_not_highlighted():
    text = "The citizens and their lazy leaders lied again."
    engine = ScriptedEngine(flags={text: biased(["citizens", "lied"], ["politics"])})
    _, flag = run(engine, text, "flag")
    # "citizens" is a word human neutral rewrites keep; "lazy" is a loaded word it did not name.
    assert [(s["text"], s["source"]) for s in flag["spans"]] == [
        ("lazy", "opinion"),
        ("lied", "model"),
    ]
    assert "citizens" not in flag["explanation"]
    # With nothing loaded or known in the sentence, the verdict stands with no word shown.
    only = "The citizens voted again."
    _, flag = run(ScriptedEngine(flags={only: biased(["citizens"], ["politics"])}), only, "flag")
    assert flag["label"] == "slightly_biased" and flag["spans"] == []
    assert "citizens" not in flag["explanation"]


def test_a_word_the_model_names_that_nobody_marks_is_not_highlighted():
    # "shopping" is neither a loaded word nor one people marked in the training rows: the
    # model's guess. "criminals" is loaded in the singular; "deranged" people marked.
    text = "Those shopping criminals are deranged."
    words = ["shopping", "criminals", "deranged"]
    engine = ScriptedEngine(flags={text: biased(words, ["other_toxicity"])})
    _, payload = run(engine, text, "debias")
    shown = [(s["text"], s["source"]) for s in payload["flag"]["spans"]]
    assert ("shopping", "model") not in shown and ("criminals", "model") in shown
    assert "deranged" in [t for t, _ in shown]
    assert "shopping" not in payload["flag"]["explanation"]
    # Not shown, but the rewrite still steers away from it (the model's reading of the bias).
    assert [c for c in engine.calls if c[0] == "rewrite"][0][2] == (
        "criminals",
        "deranged",
        "shopping",
    )
    # With only such words named, the sentence stays biased and shows none of them.
    only = "We went shopping on Sunday."
    _, flag = run(ScriptedEngine(flags={only: biased(["shopping"], ["other"])}), only, "flag")
    assert flag["biased"] is True and flag["spans"] == []


def test_praise_the_model_names_is_neither_highlighted_nor_pushed_out_of_the_rewrite():
    text = "That movie is so damn sweet and cute."
    engine = ScriptedEngine(
        flags={text: biased(["damn", "cute"], ["other_toxicity"])},
        guided={text: "That movie is so sweet and cute."},
    )
    _, payload = run(engine, text, "debias")
    # "cute" is a positive opinion word: it carries no bias, so only "damn" is pushed down.
    assert [(s["text"], s["source"]) for s in payload["flag"]["spans"]] == [("damn", "model")]
    assert [c for c in engine.calls if c[0] == "rewrite"][0] == ("rewrite", text, ("damn",))
    assert "cute" not in payload["flag"]["explanation"]
    # Praise the sentence denies is what runs it down: it stays highlighted.
    text = "Those lazy people are not worth the money."
    engine = ScriptedEngine(flags={text: biased(["worth"], ["other_toxicity"])})
    _, flag = run(engine, text, "flag")
    assert [(s["text"], s["source"]) for s in flag["spans"]] == [
        ("lazy", "opinion"),
        ("worth", "model"),
    ]


def test_a_sampled_rewrite_replaces_a_still_flagged_one_and_sampling_stops_there():
    text = "My cousin is bad at math."
    still = "My cousin is not good at math."
    fair = "Some students find math hard."
    better = "My cousin and I can both do well at math."
    engine = ScriptedEngine(
        flags={text: biased(["bad"], ["gender"]), still: biased([], [], p=0.9)},
        guided={text: still},
        sampled={(text, 1): still, (text, 2): better, (text, 3): fair},
    )
    _, payload = run(engine, text, "debias")
    # Sample 2 is no longer flagged and keeps "cousin" and "math": chosen, and no third sample.
    assert payload["rewrite"] == better
    samples = [c[3:] for c in engine.calls if c[0] == "rewrite"]
    assert samples == [(), (1,), (2,)]


def test_a_copy_that_keeps_the_highlighted_word_is_sampled_on():
    # Pushing " lied" down cannot stop the model copying it (its first token starts too many
    # words): the greedy rewrite comes back unchanged, and a sample says it otherwise.
    text = "So I lied, I'm just getting up right now."
    fair = "So I am just getting up now."
    engine = ScriptedEngine(flags={text: biased(["lied"], [])}, sampled={(text, 1): fair})
    _, payload = run(engine, text, "debias")
    assert payload["rewrite"] == fair and payload["still_biased"] is False


def test_a_copy_gives_way_only_to_a_sample_the_card_would_not_flag_again():
    text = "moms who are asian are known to smack their kids"
    garbled = "Parents with parents as asian are known to be harsh to their kids"
    engine = ScriptedEngine(
        flags={text: biased(["smack"], ["race_ethnicity"]), garbled: biased(["harsh"], [])},
        sampled={(text, n): garbled for n in range(1, task.SAMPLED_REWRITES + 1)},
    )
    _, payload = run(engine, text, "debias")
    assert payload["rewrite"] == text and payload["still_biased"] is True


def test_a_copy_with_no_word_to_avoid_is_not_sampled():
    text = "The statute applies to every driver on the road."
    engine = ScriptedEngine(flags={text: biased([], [])}, sampled={(text, 1): "Drivers obey."})
    _, payload = run(engine, text, "debias")
    assert payload["rewrite"] == text and payload["still_biased"] is True
    assert [c[3:] for c in engine.calls if c[0] == "rewrite"] == [()]


def test_a_rewrite_the_lexicon_would_flag_again_is_redone_without_that_term():
    # The flagger scores the first rewrite fair (0.1), but the card would flag it again for a
    # known term it brought in: it is redone with that term pushed down too.
    text = "My neighbour is a stupid man who limps."
    engine = ScriptedEngine(
        flags={text: biased(["stupid"], ["disability"])},
        rewrites={text: "My neighbour is a cripple."},
        guided={(text, ("stupid", "cripple")): "My neighbour is a man who limps."},
    )
    _, payload = run(engine, text, "debias")
    assert payload["rewrite"] == "My neighbour is a man who limps."
    assert ("rewrite", text, ("stupid", "cripple")) in engine.calls


def test_a_sampled_rewrite_that_drops_the_meaning_is_not_chosen():
    text = "My cousin is bad at math."
    still = "My cousin is not good at math."
    engine = ScriptedEngine(
        flags={text: biased(["bad"], ["gender"]), still: biased([], [], p=0.9)},
        guided={text: still},
        sampled={(text, 1): "Okay."},  # not flagged, but neither "cousin" nor "math" is left
    )
    _, payload = run(engine, text, "debias")
    assert payload["rewrite"] == still


def test_a_rewrite_that_states_a_number_the_sentence_does_not_gives_way_to_a_sample():
    text = "They kept the stupid policies from causing an 8 year recession."
    invented = "They kept the policies from causing an 8 year 1990s depression."
    fair = "They kept the policies from causing an 8 year recession."
    engine = ScriptedEngine(
        flags={text: biased(["stupid"], ["political"])},
        rewrites={text: invented},
        sampled={(text, 1): fair},
    )
    _, payload = run(engine, text, "debias")
    assert payload["rewrite"] == fair


def test_a_rewrite_that_loops_on_a_word_gives_way_to_a_sample():
    text = "They call his supporters vile fascists."
    looped = "They call his supporters homocentrism, homocentrism, heterocentrism, homocentrism."
    fair = "They call his supporters names."
    engine = ScriptedEngine(
        flags={text: biased(["vile", "fascists"], ["political"])},
        rewrites={text: looped},
        sampled={(text, 1): fair},
    )
    _, payload = run(engine, text, "debias")
    assert payload["rewrite"] == fair


def test_content_kept_counts_the_content_words_other_than_the_pushed_down_ones():
    source = "Girls are bad at math."
    assert task.content_kept(source, "Girls can do math.", ["bad"]) == 1.0
    assert task.content_kept(source, "Okay.", ["bad"]) == 0.0
    assert task.content_kept(source, "Girls are fine.", ["bad"]) == 0.5
    assert task.content_kept("The bad.", "Fine.", ["bad"]) == 1.0  # nothing left to keep


@pytest.mark.parametrize("finetuned", [False, None])
def test_an_untuned_or_unknown_model_is_not_sampled(finetuned):
    text = "My cousin is bad at math."
    engine = ScriptedEngine(
        flags={text: biased(["bad"], ["gender"]), "My cousin is not good at math.": biased([], [])},
        rewrites={text: "My cousin is not good at math."},
        guided={text: "My cousin is not good at math."},
    )
    engine.info.finetuned = finetuned
    _, payload = run(engine, text, "debias")
    # Its flagger does not rank, so a still-biased verdict on the rewrite buys no samples.
    assert [c for c in engine.calls if c[0] == "rewrite"] == [("rewrite", text, ("bad",))]
    assert payload["rewrite"] == "My cousin is not good at math."


# -- sentences about a whole group (server.generalise) ----------------------------------------


def test_a_generalisation_the_model_scores_just_under_its_threshold_is_flagged():
    text = "Muslims are ignorant about money."
    under = contract.Flag(contract.Label.NEUTRAL, p_biased=0.45)  # threshold 0.5
    _, flag = run(ScriptedEngine(flags={text: under}), text, "flag")
    assert flag["label"] == "slightly_biased" and flag["categories"] == ["religion"]
    assert [(s["text"], s["source"]) for s in flag["spans"]] == [
        ("Muslims", "generalisation"),
        ("ignorant", "opinion"),
    ]
    assert "a whole group ('Muslims')" in flag["explanation"]
    # Fair statements about a group, or a score under generalise.FLOOR, stay neutral.
    for fair, p in [
        ("Muslims pray five times a day.", 0.45),
        ("Women are underrepresented in engineering.", 0.45),
        ("Immigrants are often victims of crime.", 0.15),
    ]:
        engine = ScriptedEngine(flags={fair: contract.Flag(contract.Label.NEUTRAL, p_biased=p)})
        _, flag = run(engine, fair, "flag")
        assert flag["label"] == "neutral" and flag["spans"] == [], fair


def test_a_claim_that_a_group_is_so_by_nature_is_flagged_however_the_model_scores_it():
    text = "Women are naturally better caregivers."
    low = contract.Flag(contract.Label.NEUTRAL, p_biased=0.05)  # under generalise.FLOOR
    _, flag = run(ScriptedEngine(flags={text: low}), text, "flag")
    assert flag["label"] == "slightly_biased" and flag["categories"] == ["gender"]
    assert [(s["text"], s["source"]) for s in flag["spans"]] == [("Women", "generalisation")]
    # Allowing the word that says "by nature" leaves a fair verdict to the model.
    options = task.Options(allow=("naturally",))
    events = list(
        task.Task(ScriptedEngine(flags={text: low})).run(text, "flag", None, False, options)
    )
    assert events[-1].payload["label"] == "neutral"
    # Running the group down without "by nature" still needs generalise.FLOOR.
    rude = "Girls are so dramatic."
    _, flag = run(ScriptedEngine(flags={rude: low}), rude, "flag")
    assert flag["label"] == "neutral"
    below = contract.Flag(contract.Label.NEUTRAL, p_biased=0.23)  # just under the floor
    _, flag = run(ScriptedEngine(flags={rude: below}), rude, "flag")
    assert flag["label"] == "neutral"
    under = contract.Flag(contract.Label.NEUTRAL, p_biased=0.3)
    _, flag = run(ScriptedEngine(flags={rude: under}), rude, "flag")
    assert flag["label"] == "slightly_biased"


def test_the_users_allow_list_and_muted_categories_cover_the_group_rule():
    text = "Muslims are ignorant about money."
    under = contract.Flag(contract.Label.NEUTRAL, p_biased=0.45)
    for options in (task.Options(allow=("Muslims",)), task.Options(mute=frozenset({"religion"}))):
        events = list(
            task.Task(ScriptedEngine(flags={text: under})).run(text, "flag", None, False, options)
        )
        assert events[-1].payload["label"] == "neutral"


def test_a_rewrite_that_keeps_the_claim_about_the_group_gives_way_to_a_recast():
    """ "Girls are not good at math." drops the highlighted word and keeps the stereotype, and
    pushing "Girls" down only renames the group: the claim is put on people of any gender."""
    text = "Girls are bad at math."
    still = "Girls are not good at math."
    engine = ScriptedEngine(
        flags={text: biased(["bad"], ["gender"]), still: biased([], [], p=0.3)},
        rewrites={text: still},
        guided={text: still},
    )
    _, payload = run(engine, text, "debias")
    assert payload["rewrite"] == "People of any gender may not be good at math."
    # The group was never pushed down, and the recast kept no highlighted word: no sampling.
    rewrites = [c for c in engine.calls if c[0] == "rewrite"]
    assert rewrites == [("rewrite", text, ("bad",))]


def test_the_claim_said_of_individuals_wins_when_the_flagger_finds_it_fairer():
    text = "Women are too emotional to lead teams."
    said_of_anyone = "People of any gender can be too emotional to lead teams."
    individuals = "Whether someone can lead teams depends on the person, not on their gender."
    engine = ScriptedEngine(
        flags={
            text: biased(["emotional"], ["gender"]),
            said_of_anyone: biased([], [], p=0.4),
            individuals: biased([], [], p=0.05),
        },
        guided={text: text},
    )
    _, payload = run(engine, text, "debias")
    assert payload["rewrite"] == individuals
    scored = [c[1] for c in engine.calls if c[0] == "score"]
    assert said_of_anyone in scored and individuals in scored  # both candidates were weighed


def test_only_the_users_own_claim_is_said_of_individuals():
    """A claim the model made up in its rewrite ("bad at math") is not turned into a statement
    about skill at math: only the sentence itself is individualised."""
    text = "Old people are slow."
    made_up = "Old people are bad at math."
    engine = ScriptedEngine(flags={text: biased(["slow"], ["age"])}, guided={text: made_up})
    _, payload = run(engine, text, "debias")
    scored = [c[1] for c in engine.calls if c[0] == "score"]
    assert "People of any age can be bad at math." in scored  # the rewrite is still recast
    assert not [t for t in scored if "Skill at math" in t]
    # the sentence's own claim is
    assert "Whether someone is slow depends on the person, not on their age." in scored
    assert payload["rewrite"] != made_up


def test_a_model_rewrite_that_drops_the_stereotype_is_kept_over_the_recast():
    text = "Girls are bad at math."
    fair = "Girls and boys can both do well at math."
    engine = ScriptedEngine(flags={text: biased(["bad"], ["gender"])}, guided={text: fair})
    _, payload = run(engine, text, "debias")
    assert payload["rewrite"] == fair
    assert not any("People of any" in c[1] for c in engine.calls if c[0] == "score")


def test_a_rewrite_that_still_says_all_of_the_people_of_a_place_are_so_is_for_review():
    """ "The immigrants in that neighborhood are all..." generalises about them: a rewrite that
    keeps saying what they all are is still biased, however the flagger scores it, and it gets
    no recast onto "people of any nationality in that neighborhood"."""
    text = "The immigrants in that neighborhood are all criminals."
    still = "The immigrants in that neighborhood are all people who break the law."
    engine = ScriptedEngine(
        flags={text: biased(["criminals"], ["nationality"]), still: biased([], [], p=0.1)},
        guided={text: still},
    )
    _, payload = run(engine, text, "debias")
    assert payload["rewrite"] == still and payload["still_biased"] is True
    assert not any("People of any" in c[1] for c in engine.calls if c[0] == "score")
    spans = [sp for sp in payload["flag"]["spans"] if sp["source"] == "generalisation"]
    assert [sp["text"] for sp in spans] == ["The immigrants in that neighborhood"]


def test_a_softened_rewrite_of_a_claim_that_may_not_be_restated_is_not_recast():
    """ "savages" may not be said of people of any background, and nor may the model's softer
    "ruthless warriors who raid..." (a group rewrite of the eval, v5, 2026-12-05)."""
    text = "Natives are savages who scalp their neighbors."
    softened = "Natives are ruthless warriors who raid their neighbors."
    engine = ScriptedEngine(
        flags={text: biased(["savages"], ["race_ethnicity"]), softened: biased([], [], p=0.3)},
        guided={text: softened},
    )
    _, payload = run(engine, text, "debias")
    assert payload["rewrite"] == softened and payload["still_biased"] is True
    assert not any("People of any" in c[1] for c in engine.calls if c[0] == "score")


def test_an_unchanged_rewrite_of_a_generalisation_is_recast():
    text = "Old people are slow."
    engine = ScriptedEngine(flags={text: biased(["slow"], ["age"])}, guided={text: text})
    _, payload = run(engine, text, "debias")
    assert payload["changed"] is True
    assert payload["rewrite"] == "People of any age can be slow."


def test_a_known_term_inside_the_group_keeps_its_lexicon_span_and_alternatives():
    text = "Handicapped people are lazy."
    engine = ScriptedEngine(flags={text: biased(["lazy"], ["disability"])})
    _, flag = run(engine, text, "flag")
    assert [(s["text"], s["source"]) for s in flag["spans"]] == [
        ("Handicapped", "lexicon"),
        ("lazy", "model"),
    ]
    assert flag["spans"][0]["alternatives"]
    # The group span could not be shown beside it, so the explanation does not name it.
    assert "whole group" not in flag["explanation"]
    assert flag["categories"][0] == "disability"


def test_a_group_the_model_names_is_neither_shown_as_its_word_nor_pushed_down():
    text = "Muslims are ignorant about money."
    engine = ScriptedEngine(flags={text: biased(["Muslims", "ignorant"], ["religion"])})
    _, payload = run(engine, text, "debias")
    shown = [(s["text"], s["source"]) for s in payload["flag"]["spans"]]
    assert shown == [("Muslims", "generalisation"), ("ignorant", "model")]
    # "Muslims" is no loaded or marked word, but the group's name is never pushed down.
    assert [c for c in engine.calls if c[0] == "rewrite"][0][2] == ("ignorant",)


def test_a_rewrite_is_scored_sentence_by_sentence_as_the_card_would_check_it():
    """A rewrite that says in two sentences what its source said in one: read as one text it
    scores low, but its first sentence alone is still flagged, so it is not taken as done."""
    text = "My neighbour is a lazy slob."
    split = "My neighbour is a slob. He works at the mill."
    engine = ScriptedEngine(
        flags={text: biased(["lazy", "slob"], []), "My neighbour is a slob.": biased(["slob"], [])},
        guided={text: split},
        sampled={(text, 1): "My neighbour rests a lot."},
    )
    _, payload = run(engine, text, "debias")
    assert ("score", "My neighbour is a slob.") in engine.calls
    assert ("score", "He works at the mill.") in engine.calls
    assert ("flag", "My neighbour is a slob.") in engine.calls  # its words are pushed down next
    assert payload["rewrite"] == "My neighbour rests a lot."
    assert payload["still_biased"] is False


AD = "We are looking for a young, energetic salesman to join our team."
AD_EDIT = "We are looking for an energetic salesperson to join our team."


def test_a_job_advert_is_flagged_by_what_it_asks_for_though_the_model_scores_it_fair():
    engine = ScriptedEngine(flags={AD: contract.Flag(contract.Label.NEUTRAL, p_biased=0.05)})
    _, flag = run(engine, AD, "flag")
    assert flag["biased"] is True and flag["label"] == "slightly_biased"
    assert flag["categories"] == ["age", "gender"]
    spans = [(s["text"], s["source"], s.get("alternatives")) for s in flag["spans"]]
    assert spans == [
        ("young", "lexicon", None),  # dropped: nothing to say instead
        ("salesman", "lexicon", ["salesperson", "sales clerk", "sales rep"]),
    ]
    assert "young" in flag["explanation"] and "salesman" in flag["explanation"]
    assert flag["explanation"].endswith("It is a job advert that asks for an age and a gender.")


def test_a_job_advert_comes_back_in_the_users_words_without_asking_the_model_to_rewrite():
    engine = ScriptedEngine(flags={AD: contract.Flag(contract.Label.NEUTRAL, p_biased=0.05)})
    _, payload = run(engine, AD, "debias")
    assert payload["rewrite"] == AD_EDIT and payload["still_biased"] is False
    assert not [c for c in engine.calls if c[0] == "rewrite"]
    assert ("score", AD_EDIT) in engine.calls  # checked again as the card would check it


def test_a_number_the_edit_drops_with_an_age_limit_is_not_put_back():
    text = "Seeking a female receptionist, under 30 years old."
    engine = ScriptedEngine(flags={text: contract.Flag(contract.Label.NEUTRAL, p_biased=0.1)})
    _, payload = run(engine, text, "debias")
    assert payload["rewrite"] == "Seeking a receptionist."


def test_a_job_advert_edit_the_flag_still_calls_biased_goes_to_the_model_and_competes():
    text = "We are looking for a young salesman, no lazy immigrants."
    edit = "We are looking for a salesperson, no lazy immigrants."
    model = "We are looking for a motivated salesperson."
    engine = ScriptedEngine(
        flags={
            text: biased(["lazy"], ["nationality"], p=0.9),
            edit: biased(["lazy"], ["nationality"], p=0.8),
            model: contract.Flag(contract.Label.NEUTRAL, p_biased=0.1),
        },
        guided={text: model},
    )
    _, payload = run(engine, text, "debias")
    assert [c[1] for c in engine.calls if c[0] == "rewrite"][:1] == [text]
    assert payload["rewrite"] == model and payload["still_biased"] is False


def test_the_scan_underlines_a_job_advert_as_the_card_flags_it():
    assert task.rules_biased(AD, 0.05) is True
    assert task.rules_biased("The chairman said profits rose.", 0.05) is False


def test_an_untuned_models_score_cannot_hold_back_a_job_advert_edit():
    model = "We want an energetic salesperson on our team."
    engine = ScriptedEngine(
        flags={
            AD: contract.Flag(contract.Label.NEUTRAL, p_biased=0.05),
            AD_EDIT: contract.Flag(contract.Label.NEUTRAL, p_biased=0.7),  # noise: it does not rank
        },
        guided={AD: model},
    )
    engine.info.finetuned = False
    _, payload = run(engine, AD, "debias")
    assert payload["rewrite"] == AD_EDIT and payload["still_biased"] is False
    assert not [c for c in engine.calls if c[0] == "rewrite"]
    engine.info.finetuned = True  # a fine-tuned model's 0.7 says the edit is still biased
    _, payload = run(engine, AD, "debias")
    assert payload["rewrite"] == model


QUALIFIED = "You are really smart for a girl, honestly."


def test_praise_qualified_by_a_group_is_flagged_though_the_model_scores_it_fair():
    engine = ScriptedEngine(flags={QUALIFIED: contract.Flag(contract.Label.NEUTRAL, p_biased=0.2)})
    _, flag = run(engine, QUALIFIED, "flag")
    assert flag["biased"] is True and flag["categories"] == ["gender"]
    assert [(s["text"], s["source"]) for s in flag["spans"]] == [("for a girl", "lexicon")]
    assert flag["explanation"] == (
        "The passage is somewhat loaded (gender bias). "
        "It praises someone as an exception to their gender."
    )
    assert task.rules_biased(QUALIFIED, 0.2) is True


def test_qualified_praise_comes_back_without_its_qualifier_and_nothing_else_changed():
    engine = ScriptedEngine(flags={QUALIFIED: contract.Flag(contract.Label.NEUTRAL, p_biased=0.2)})
    _, payload = run(engine, QUALIFIED, "debias")
    assert payload["rewrite"] == "You are really smart, honestly."
    assert payload["still_biased"] is False
    assert not [c for c in engine.calls if c[0] == "rewrite"]


def test_an_allowed_qualifier_is_neither_flagged_nor_dropped():
    engine = ScriptedEngine(flags={QUALIFIED: contract.Flag(contract.Label.NEUTRAL, p_biased=0.2)})
    options = task.Options(allow=("girl",))
    events = list(task.Task(engine).run(QUALIFIED, "debias", None, False, options))
    assert events[-1].payload["flag"]["biased"] is False
    assert events[-1].payload["rewrite"] is None  # nothing to rewrite: the text stays as written
    assert not [c for c in engine.calls if c[0] == "rewrite"]


def test_a_group_told_where_it_belongs_is_flagged_though_the_model_scores_it_fair():
    text = "Women belong in the kitchen."
    low = contract.Flag(contract.Label.NEUTRAL, p_biased=0.12)  # v5's score, under the floor
    _, flag = run(ScriptedEngine(flags={text: low}), text, "flag")
    assert flag["label"] == "slightly_biased" and flag["categories"] == ["gender"]
    assert ("Women", "generalisation") in [(s["text"], s["source"]) for s in flag["spans"]]
    advice = "Seniors should stay at home during the heatwave."
    _, flag = run(ScriptedEngine(flags={advice: low}), advice, "flag")
    assert flag["label"] == "neutral"


def test_the_praise_of_qualified_praise_is_no_loaded_word_and_the_edit_keeps_it():
    text = "Not bad for a girl!"
    engine = ScriptedEngine(flags={text: contract.Flag(contract.Label.NEUTRAL, p_biased=0.17)})
    _, payload = run(engine, text, "debias")
    assert [s["text"] for s in payload["flag"]["spans"]] == ["for a girl"]
    assert payload["rewrite"] == "Not bad!"


def test_a_model_word_inside_a_qualifier_gives_way_to_it():
    engine = ScriptedEngine(flags={QUALIFIED: biased(["girl"], ["gender"], p=0.7)})
    _, payload = run(engine, QUALIFIED, "debias")
    assert [(s["text"], s["source"]) for s in payload["flag"]["spans"]] == [
        ("for a girl", "lexicon")
    ]
    assert payload["rewrite"] == "You are really smart, honestly."


def test_a_gendered_idiom_is_flagged_and_put_right_in_the_users_own_words():
    text = "Man up and call her back, Tom 💪."
    engine = ScriptedEngine(flags={text: contract.Flag(contract.Label.NEUTRAL, p_biased=0.27)})
    _, payload = run(engine, text, "debias")
    flag = payload["flag"]
    assert flag["biased"] is True and flag["categories"] == ["gender"]
    assert ("Man up", "lexicon") in [(s["text"], s["source"]) for s in flag["spans"]]
    assert flag["explanation"].endswith("It uses an idiom that ties a trait to a gender.")
    assert payload["rewrite"] == "Toughen up and call her back, Tom 💪."
    assert not [c for c in engine.calls if c[0] == "rewrite"]


def test_boys_will_be_boys_is_put_right_and_the_sentence_beside_it_is_left_alone():
    saying, plain = "Oh well, boys will be boys.", "The meeting starts at noon."
    text = f"{saying}\n\n{plain}"
    neutral = contract.Flag(contract.Label.NEUTRAL, p_biased=0.23)
    engine = ScriptedEngine(flags={saying: neutral, plain: contract.Flag(contract.Label.NEUTRAL)})
    _, payload = run(engine, text, "debias")
    flag = payload["flag"]
    assert flag["biased"] is True and "gender" in flag["categories"]
    assert ("boys will be boys", "lexicon") in [(s["text"], s["source"]) for s in flag["spans"]]
    assert payload["rewrite"] == f"Oh well, kids will be kids.\n\n{plain}"
