"""Tokenised examples, length-grouped batches, and the response-only loss.

The prompt is rendered exactly as the server renders it (chat template, generation prompt) and
tokenised on its own; the response is the target followed by the end-of-turn token. Labels are
-100 on every prompt token, so only the answer is learned.

label_weight: a flag answer is ~60 tokens, and the verdict ("neutral", "slightly_biased",
"highly_biased") is 1-4 of them; the rest (categories, words, a templated explanation) is easy
to learn. Weighting the verdict's tokens in the training loss makes the decision that matters
a larger share of the gradient. Validation loss stays unweighted, so runs compare.

edit_weight: a rewrite copies most of its input, and copying is easy; the few tokens where the
human rewrite departs from the input (a replaced or inserted token, or the token right after a
deletion) carry the whole debiasing decision. Weighting them counters the timid, copy-through
rewrites an unweighted loss learns. The edits come from a token-level diff of input and target.

share_prefix: every prompt of a task starts with the same ~280-token system message. The loss
module runs the batch's common token prefix once (batch size 1, with gradients), broadcasts its
keys/values to the batch, and runs only the suffixes on top. This is exact (same logits, same
gradients) and about 3x faster on a CPU, where the system prompt is most of the compute.
"""

from __future__ import annotations

import inspect
import random
from dataclasses import dataclass
from difflib import SequenceMatcher

import torch
import torch.nn.functional as F
from torch import nn

from srllm import contract
from srllm.contract import Task
from srllm.training.data import Example

IGNORE = -100


@dataclass(frozen=True)
class Features:
    input_ids: list[int]
    labels: list[int]
    kind: str
    verdict: tuple[int, int] = (0, 0)  # [start, end) positions of the flag's label value
    edits: tuple[int, ...] = ()  # positions of a rewrite's tokens that depart from its input


def render_prompt(tokenizer, example: Example) -> str:
    return tokenizer.apply_chat_template(
        example.messages(), tokenize=False, add_generation_prompt=True
    )


def encode(tokenizer, example: Example, eos_id: int) -> Features:
    prompt = tokenizer(render_prompt(tokenizer, example), add_special_tokens=False).input_ids
    answer = tokenizer(example.target, add_special_tokens=False, return_offsets_mapping=True)
    response = answer.input_ids + [eos_id]
    verdict = (0, 0)
    inside = verdict_tokens(example, answer.offset_mapping)
    if inside:
        verdict = (len(prompt) + inside[0], len(prompt) + inside[-1] + 1)
    edits: tuple[int, ...] = ()
    if example.task is Task.REWRITE:
        source = tokenizer(example.text, add_special_tokens=False).input_ids
        edits = tuple(len(prompt) + j for j in edited_positions(source, response))
    labels = [IGNORE] * len(prompt) + response
    return Features(prompt + response, labels, example.kind, verdict, edits)


def encode_scan(tokenizer, example: Example) -> Features | None:
    """A flag example on the scan prompt (contract.scan_prompt): the prompt, then the verdict's
    tokens as the flag answer tokenises them (the ids the engine reads at the label position).
    None for an example without a verdict."""
    answer = tokenizer(example.target, add_special_tokens=False, return_offsets_mapping=True)
    inside = verdict_tokens(example, answer.offset_mapping)
    if not inside:
        return None
    prompt = tokenizer(contract.scan_prompt(example.text), add_special_tokens=True).input_ids
    verdict = answer.input_ids[inside[0] : inside[-1] + 1]
    end = len(prompt) + len(verdict)
    return Features(
        prompt + verdict, [IGNORE] * len(prompt) + verdict, example.kind, (len(prompt), end)
    )


def verdict_tokens(example: Example, offsets: list[tuple[int, int]]) -> list[int]:
    """Indices of the answer's tokens that carry the flag's verdict (none for a rewrite)."""
    span = verdict_chars(example)
    if span is None:
        return []
    return [i for i, (a, b) in enumerate(offsets) if a < span[1] and b > span[0]]


def up_to_verdict(features: Features) -> Features:
    """The example cut after its verdict's last token; one without a verdict is kept whole."""
    end = features.verdict[1]
    if end == 0:
        return features
    return Features(
        features.input_ids[:end], features.labels[:end], features.kind, features.verdict
    )


def edited_positions(source: list[int], response: list[int]) -> list[int]:
    """Indices of `response` (the target plus its end token) where it departs from `source`.

    Replaced and inserted tokens count, and so does the token right after a deletion: that is
    where the model decides to skip. An unchanged rewrite has no edits (its end token matches the
    end of the input).
    """
    target = response[:-1]
    edited: set[int] = set()
    for tag, _, _, j1, j2 in SequenceMatcher(None, source, target, autojunk=False).get_opcodes():
        if tag in ("replace", "insert"):
            edited.update(range(j1, j2))
        elif tag == "delete":
            edited.add(j1)  # j1 == len(target) is the end token: the input's tail was dropped
    return sorted(edited)


def verdict_chars(example: Example) -> tuple[int, int] | None:
    """Character span of the label value in a flag answer (None for a rewrite)."""
    if example.task is not Task.FLAG:
        return None
    key = '"label": "'
    start = example.target.find(key)
    if start < 0:
        return None
    start += len(key)
    return start, example.target.index('"', start)


def encode_all(
    tokenizer,
    examples: list[Example],
    eos_id: int,
    max_len: int,
    verdict_only: bool = False,
    scan_prompt: bool = False,
):
    """Encode; examples over max_len are dropped (a cut answer would teach cut answers).
    verdict_only: each flag answer ends after its verdict (a scorer read only there);
    scan_prompt: on the scan's own prompt (encode_scan; needs verdict_only)."""
    if scan_prompt:
        scan = [encode_scan(tokenizer, ex) for ex in examples]
        kept = [f for f in scan if f is not None]
    else:
        kept = [encode(tokenizer, ex, eos_id) for ex in examples]
    if verdict_only:
        kept = [up_to_verdict(f) for f in kept]
    fitting = [f for f in kept if len(f.input_ids) <= max_len]
    return fitting, len(kept) - len(fitting)


def make_batches(features: list[Features], batch_size: int, seed: int, shuffle: bool = True):
    """Batches of similar length and the same task (less padding, a longer shared prefix).

    Shuffle, cut into mega-batches of 32 batches, sort each by (task, length), split, shuffle the
    batch order: randomness stays, padding mostly goes.
    """
    order = list(range(len(features)))
    rng = random.Random(seed)
    if shuffle:
        rng.shuffle(order)
    mega = batch_size * 32
    batches: list[list[int]] = []
    for start in range(0, len(order), mega):
        chunk = sorted(
            order[start : start + mega],
            key=lambda i: (features[i].kind.split("_")[0], len(features[i].input_ids)),
        )
        batches += [chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size)]
    if shuffle:
        rng.shuffle(batches)
    return batches


def common_prefix_len(rows: list[list[int]]) -> int:
    first = rows[0]
    n = min(len(r) for r in rows)
    for i in range(n):
        if any(r[i] != first[i] for r in rows[1:]):
            return i
    return n


def collate(
    features: list[Features],
    pad_id: int,
    share_prefix: bool,
    label_weight: float = 1.0,
    edit_weight: float = 1.0,
) -> dict[str, torch.Tensor]:
    """Right-padded tensors; `prefix` is the shared prompt prefix (0 when not sharing);
    `weights` is each token's loss weight: label_weight on a flag's verdict, edit_weight on a
    rewrite's edits, else 1.

    The prefix never reaches into a response token, so every label stays in the suffix.
    """
    ids = [f.input_ids for f in features]
    prefix = 0
    if share_prefix and len(ids) > 1:
        first_label = min(next(i for i, y in enumerate(f.labels) if y != IGNORE) for f in features)
        prefix = min(common_prefix_len(ids), first_label - 1)
        prefix = max(prefix, 0)
    width = max(len(x) for x in ids)
    input_ids = torch.full((len(ids), width), pad_id, dtype=torch.long)
    labels = torch.full((len(ids), width), IGNORE, dtype=torch.long)
    mask = torch.zeros((len(ids), width), dtype=torch.long)
    weights = torch.ones((len(ids), width), dtype=torch.float32)
    for row, f in enumerate(features):
        n = len(f.input_ids)
        input_ids[row, :n] = torch.tensor(f.input_ids)
        labels[row, :n] = torch.tensor(f.labels)
        mask[row, :n] = 1
        weights[row, f.verdict[0] : f.verdict[1]] = label_weight
        if f.edits:
            weights[row, list(f.edits)] = edit_weight
    return {
        "input_ids": input_ids,
        "labels": labels,
        "attention_mask": mask,
        "prefix": torch.tensor(prefix),
        "weights": weights,
    }


class ResponseLoss(nn.Module):
    """Wraps a (peft) causal LM; forward(batch) -> (summed weighted loss, number of label tokens).

    Logits are computed only where a label exists (the lm_head over a 49k vocabulary is a fifth
    of the model). One module with one forward keeps DDP happy.
    """

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def _parts(self):
        base = self.model.get_base_model() if hasattr(self.model, "get_base_model") else self.model
        return base, base.get_decoder(), base.get_output_embeddings()

    def forward(self, input_ids, labels, attention_mask, prefix, weights=None):
        from transformers import DynamicCache

        base, decoder, head = self._parts()
        _set_cache_kwarg(decoder)
        p = int(prefix)
        batch = input_ids.shape[0]
        if p > 0:
            pre = decoder(input_ids=input_ids[:1, :p], use_cache=True)
            pre_cache = pre.cache if _CACHE_KWARG == "cache" else pre.past_key_values
            cache = DynamicCache(
                ddp_cache_data=[
                    (k.expand(batch, -1, -1, -1), v.expand(batch, -1, -1, -1))
                    for k, v, *_ in pre_cache
                ],
                config=base.config,
            )
            suffix = input_ids[:, p:]
            positions = torch.arange(p, input_ids.shape[1], device=input_ids.device)
            hidden = decoder(
                input_ids=suffix,
                attention_mask=attention_mask,
                position_ids=positions.unsqueeze(0).expand(batch, -1),
                use_cache=False,
                **{_CACHE_KWARG: cache},
            ).last_hidden_state
        else:
            hidden = decoder(
                input_ids=input_ids, attention_mask=attention_mask, use_cache=False
            ).last_hidden_state
        # hidden[:, t] predicts token p+t+1.
        targets = labels[:, p + 1 :]
        hidden = hidden[:, : targets.shape[1]]
        keep = targets != IGNORE
        logits = head(hidden[keep]).float()
        losses = F.cross_entropy(logits, targets[keep], reduction="none")
        if weights is not None:
            losses = losses * weights[:, p + 1 :][keep]
        return losses.sum(), keep.sum()


# transformers 5.24 renamed the decoder's `past_key_values` argument (and output) to `cache`.
_CACHE_KWARG = "past_key_values"


def _set_cache_kwarg(decoder: nn.Module) -> None:
    global _CACHE_KWARG
    params = inspect.signature(decoder.forward).parameters
    _CACHE_KWARG = "cache" if "cache" in params else "past_key_values"
