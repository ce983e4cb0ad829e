import pytest

pytest.importorskip("torch")

from srllm.training import batching  # noqa: E402
from srllm.training.train import _progress, lr_scale  # noqa: E402

IGN = batching.IGNORE


def feature(prompt: list[int], answer: list[int], kind: str = "rewrite_biased"):
    return batching.Features(prompt + answer, [IGN] * len(prompt) + answer, kind)


def test_batches_cover_every_example_once_and_keep_tasks_together():
    feats = [
        feature([1] * (10 + i % 7), [5, 6], "flag_x" if i % 2 else "rewrite_y") for i in range(100)
    ]
    batches = batching.make_batches(feats, 8, seed=1)
    flat = sorted(i for b in batches for i in b)
    assert flat == list(range(100))
    mixed = sum(len({feats[i].kind.split("_")[0] for i in b}) > 1 for b in batches)
    assert mixed <= 2  # only where a mega-batch switches task
    assert batching.make_batches(feats, 8, seed=1) == batches


def test_collate_pads_right_and_the_shared_prefix_stops_before_any_answer():
    a = feature([7, 8, 9, 10], [11, 12])
    b = feature([7, 8, 9, 20, 21], [22])
    batch = batching.collate([a, b], pad_id=0, share_prefix=True)
    assert batch["input_ids"].tolist() == [[7, 8, 9, 10, 11, 12], [7, 8, 9, 20, 21, 22]]
    assert batch["labels"].tolist() == [[IGN] * 4 + [11, 12], [IGN] * 5 + [22]]
    assert int(batch["prefix"]) == 3
    # Identical prompts: the prefix must still leave the token that predicts the first answer.
    same = batching.collate([a, a], pad_id=0, share_prefix=True)
    assert int(same["prefix"]) == 3
    short = batching.collate([feature([1, 2], [3, 4, 5]), a], pad_id=0, share_prefix=True)
    assert short["attention_mask"].tolist()[0] == [1, 1, 1, 1, 1, 0]
    assert int(batching.collate([a, b], 0, share_prefix=False)["prefix"]) == 0


def test_the_learning_rate_warms_up_then_decays_by_steps_or_by_time():
    assert lr_scale(0, warmup=4, progress=0) == pytest.approx(0.2)
    assert lr_scale(10, warmup=4, progress=0) == pytest.approx(1.0)
    assert lr_scale(10, warmup=4, progress=1) == pytest.approx(0.1)
    by_steps = _progress(50, 0, 100, seconds=60, budget_min=10)
    by_time = _progress(10, 0, 100, seconds=540, budget_min=10)
    assert by_steps == pytest.approx(0.5) and by_time == pytest.approx(0.9)
    assert _progress(10, 0, 100, seconds=10_000, budget_min=0) == pytest.approx(0.1)


class CharTokenizer:
    """One token per character, with offsets: enough to check where the verdict lands."""

    def apply_chat_template(self, messages, tokenize, add_generation_prompt):
        return "".join(m["content"][:5] for m in messages) + ">"

    def __call__(self, text, add_special_tokens=False, return_offsets_mapping=False):
        class Encoded:
            input_ids = [ord(c) for c in text]
            offset_mapping = [(i, i + 1) for i in range(len(text))]

        return Encoded()


def test_the_verdict_of_a_flag_gets_the_label_weight_and_nothing_else_does():
    from srllm import contract
    from srllm.training.data import Example

    flag = contract.Flag(contract.Label.SLIGHTLY_BIASED, ["age"], ["old"], "x").to_json()
    flag_ex = Example(contract.Task.FLAG, "Old men.", flag, "flag_biased", "t")
    rewrite_ex = Example(contract.Task.REWRITE, "Old men.", "Older men.", "rewrite_biased", "t")
    tok = CharTokenizer()
    f = batching.encode(tok, flag_ex, eos_id=0)
    start, end = f.verdict
    assert "".join(chr(i) for i in f.input_ids[start:end]) == "slightly_biased"
    assert all(label != IGN for label in f.labels[start:end])
    assert batching.encode(tok, rewrite_ex, eos_id=0).verdict == (0, 0)

    batch = batching.collate([f, batching.encode(tok, rewrite_ex, 0)], 0, False, label_weight=5)
    weights = batch["weights"]
    assert weights[0, start:end].tolist() == [5.0] * (end - start)
    assert float(weights.sum()) == weights.numel() + 4 * (end - start)
    unweighted = batching.collate([f], 0, False)["weights"]
    assert float(unweighted.sum()) == unweighted.numel()


def test_a_verdict_only_example_ends_after_its_verdict():
    cut = batching.up_to_verdict(
        batching.Features([1, 2, 3, 4, 5, 6, 7], [IGN, IGN, 3, 4, 5, 6, 7], "flag_b", (3, 5))
    )
    assert cut.input_ids == [1, 2, 3, 4, 5] and cut.labels == [IGN, IGN, 3, 4, 5]
    assert cut.verdict == (3, 5)
    rewrite = feature([1, 2], [3, 4])  # no verdict: kept whole
    assert batching.up_to_verdict(rewrite) == rewrite

    from srllm import contract
    from srllm.training.data import Example

    answer = contract.Flag(contract.Label.HIGHLY_BIASED, ["age"], ["old"], "x").to_json()
    example = Example(contract.Task.FLAG, "Old men.", answer, "flag_biased", "t")
    (whole,), _ = batching.encode_all(CharTokenizer(), [example], 0, 512)
    (short,), _ = batching.encode_all(CharTokenizer(), [example], 0, 512, verdict_only=True)
    text = "".join(chr(i) for i in short.input_ids)
    assert text.endswith('{"label": "highly_biased') and len(short.input_ids) < len(whole.input_ids)
    assert "".join(chr(i) for i in whole.input_ids).startswith(text)


def test_a_scan_prompt_example_is_the_scan_prompt_then_its_verdict():
    from srllm import contract
    from srllm.training.data import Example

    answer = contract.Flag(contract.Label.SLIGHTLY_BIASED, ["age"], ["old"], "x").to_json()
    flag = Example(contract.Task.FLAG, "Old\n men  here.", answer, "flag_biased", "t")
    rewrite = Example(contract.Task.REWRITE, "Old men.", "Older men.", "rewrite_biased", "t")
    kept, dropped = batching.encode_all(CharTokenizer(), [flag, rewrite], 0, 512, True, True)
    assert dropped == 0 and len(kept) == 1  # a rewrite has no verdict to learn
    (f,) = kept
    text = "".join(chr(i) for i in f.input_ids)
    assert text == contract.scan_prompt("Old men here.") + "slightly_biased"
    start, end = f.verdict
    assert (start, end) == (len(contract.scan_prompt("Old men here.")), len(text))
    assert f.labels[:start] == [IGN] * start and f.labels[start:] == f.input_ids[start:]


def test_edited_positions_mark_replacements_insertions_and_the_token_after_a_deletion():
    source = [1, 2, 3, 4, 5]
    end = 99
    assert batching.edited_positions(source, source + [end]) == []
    assert batching.edited_positions(source, [1, 2, 7, 4, 5, end]) == [2]  # 3 -> 7
    assert batching.edited_positions(source, [1, 2, 3, 8, 9, 4, 5, end]) == [3, 4]  # insert
    assert batching.edited_positions(source, [1, 2, 4, 5, end]) == [2]  # 3 deleted: decide at 4
    assert batching.edited_positions(source, [1, 2, 3, end]) == [3]  # tail dropped: at the end


def test_a_rewrite_weights_its_edits_and_an_unchanged_rewrite_weights_nothing():
    from srllm import contract
    from srllm.training.data import Example

    tok = CharTokenizer()
    changed = Example(contract.Task.REWRITE, "Old men.", "Older men.", "rewrite_biased", "t")
    same = Example(contract.Task.REWRITE, "Old men.", "Old men.", "rewrite_neutral", "t")
    f = batching.encode(tok, changed, eos_id=0)
    assert "".join(chr(f.input_ids[i]) for i in f.edits) == "er"
    assert all(f.labels[i] != IGN for i in f.edits)
    assert batching.encode(tok, same, eos_id=0).edits == ()

    batch = batching.collate([f], 0, False, edit_weight=3)
    weights = batch["weights"][0]
    assert weights[list(f.edits)].tolist() == [3.0, 3.0]
    assert float(weights.sum()) == weights.numel() + 2 * len(f.edits)
    assert float(batching.collate([f], 0, False)["weights"].sum()) == weights.numel()
