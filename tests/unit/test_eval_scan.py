"""The eval's scan metrics on hand-made runs: read from the flag and passage answers'
per-sentence P(biased), a text scored by its highest sentence, labelled as the scan labels it
(at the threshold, or by the card's text rules: the card's verdict)."""

from srllm import contract
from srllm.evaluation import data, metrics, report, runner, scoring


def flag(text: str, *sentence_p: float, rule: bool = False, sentences=()) -> runner.FlagResult:
    """rule: the card's text rules flag it whatever its score (a generalisation, a known term);
    sentences: the sentence texts, aligned with sentence_p."""
    biased = max(sentence_p) >= 0.5 or rule
    label = contract.Label.SLIGHTLY_BIASED if biased else contract.Label.NEUTRAL
    return runner.FlagResult(text, contract.Flag(label, p_biased=max(sentence_p)),
                             sentence_p=sentence_p, sentence_texts=tuple(sentences))  # fmt: skip


def passage(parts: list[tuple[str, bool, list[float]]]) -> runner.PassageRun:
    """A passage of parts (text, gold biased, its sentences' P(biased)), one space between."""
    text, items, sentences = "", [], []
    for piece, biased, ps in parts:
        if text:
            text += " "
        items.append(data.PassagePart(len(text), len(text) + len(piece), biased, ()))
        step = len(piece) // len(ps)
        for k, p in enumerate(ps):
            label = "slightly_biased" if p >= 0.5 else "neutral"
            sentences.append({"start": len(text) + k * step, "p_biased": p, "label": label})
        text += piece
    payload = {"flag": {"sentences": sentences}}
    return runner.PassageRun(data.PassageItem(text, tuple(items)), payload, 0.0)


def test_precision_and_recall_at_the_threshold():
    scores, gold = [0.9, 0.5, 0.49, 0.2], [True, False, True, False]
    assert metrics.precision_recall(scores, gold, 0.5) == {"precision": 0.5, "recall": 0.5}
    assert metrics.precision_recall([0.1], [True], 0.5) == {"precision": None, "recall": 0.0}


def test_scan_metrics_score_a_text_by_its_highest_sentence():
    run = runner.SystemRun("m", "model", info={"flag_threshold": 0.5})
    run.flags = [
        (flag("b1", 0.1, 0.8), flag("h1", 0.2)),  # the biased text's second sentence counts
        (flag("b2", 0.4), flag("h2", 0.3, 0.6)),  # a miss and a false alarm
        (flag("b3", 0.7), flag("h3", 0.1)),
    ]
    run.passages = [
        passage([("Fair one.", False, [0.2]), ("Biased text. Two.", True, [0.3, 0.9])]),
        passage([("Fair two.", False, [0.55]), ("Fair three.", False, [0.1])]),
    ]
    out = scoring._scan_metrics(run)
    scores = [0.8, 0.4, 0.7, 0.2, 0.6, 0.1]
    assert out["scan_auc"] == metrics.auc(scores, [True] * 3 + [False] * 3) == 8 / 9
    assert (out["scan_precision"], out["scan_recall"]) == (2 / 3, 2 / 3)
    assert out["scan_passage_auc"] == 1.0
    assert (out["scan_passage_precision"], out["scan_passage_recall"]) == (0.5, 1.0)


def test_a_text_the_cards_rules_flag_is_labelled_biased_with_its_score_unchanged():
    run = runner.SystemRun("m", "model", info={"flag_threshold": 0.5})
    run.flags = [(flag("b1", 0.4, rule=True), flag("h1", 0.3))]
    out = scoring._scan_metrics(run)
    assert out["scan_auc"] == 1.0  # ranked by the score, 0.4 over 0.3
    assert (out["scan_precision"], out["scan_recall"]) == (1.0, 1.0)  # labelled by the rule


def test_with_a_scan_model_the_metrics_are_its_scores_and_labels():
    scan = {"name": "cut", "path": "cut.gguf", "flag_threshold": 0.3}
    run = runner.SystemRun("m", "model", info={"flag_threshold": 0.5, "scan": scan})
    run.flags = [(flag("b1", 0.99), flag("h1", 0.01))]  # the flagger's own: not read
    run.scan_flags = [((0.8, True), (0.2, False)), ((0.25, True), (0.35, True))]
    run.scan_parts = [(0.9, True, True), (0.1, False, False), (0.4, True, False)]
    out = scoring._scan_metrics(run)
    assert out["scan_auc"] == metrics.auc([0.8, 0.25, 0.2, 0.35], [True, True, False, False])
    assert out["scan_auc"] == 0.75
    assert (out["scan_precision"], out["scan_recall"]) == (2 / 3, 1.0)  # the labels given
    assert out["scan_passage_auc"] == 1.0
    assert (out["scan_passage_precision"], out["scan_passage_recall"]) == (0.5, 1.0)


def test_scan_metrics_need_a_model_with_a_threshold():
    assert scoring._scan_metrics(runner.SystemRun("identity", "identity")) == {}
    no_threshold = runner.SystemRun("m", "model")
    no_threshold.flags = [(flag("b", 0.9), flag("h", 0.1))]
    assert scoring._scan_metrics(no_threshold) == {}


def test_sentence_metrics_score_annotated_sentences_against_every_rewrite_sentence():
    row = data.InferRow("x", "y", ("idiots",), contract.Label.SLIGHTLY_BIASED)
    run = runner.SystemRun("m", "model", info={"flag_threshold": 0.5})
    run.flags = [
        (
            # only the sentence holding the annotated word is a positive; the other is not
            # counted either way (biased in context, maybe not alone)
            flag("b", 0.45, 0.9, sentences=["It rained.", "The idiots won."]),
            flag("h", 0.2, 0.6, sentences=["It rained.", "The others won."]),
        )
    ]
    d = runner.EvalData([row], [row], [], [], [], [], [])
    out = scoring._sentence_metrics(run, d)
    assert out == {"sentence_auc": 1.0, "sentence_recall": 1.0, "sentence_specificity": 0.5}
    run.info["flag_threshold"] = 0.95
    assert scoring._sentence_metrics(run, d)["sentence_recall"] == 0.0
    assert scoring._sentence_metrics(runner.SystemRun("identity", "identity"), d) == {}


def test_the_report_shows_the_scan_and_checks_its_goals():
    assert {"scan_auc", "scan_precision", "scan_recall"} <= set(report.EXTRA)
    assert ("scan_auc", ">=", 0.94) in report.GOALS
    assert ("scan_passage_auc", ">=", 0.94) in report.GOALS
