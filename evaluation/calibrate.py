"""`srllm calibrate`: choose a model's flag threshold on validation data, never on test data.

The verdict is P(biased) >= threshold (server.engine). Greedy argmax is the threshold that
happens to fall out of training; the ranking is better than that (AUC ~0.95 on infer_50 for
v3), so the threshold is chosen where recall + specificity is highest on data the model was
not trained on and that the evaluation never reads:

- the SR-LLM validation split (the training config's seeded split): each biased text and its
  human rewrite;
- ToxiGen statements from the far end of the training seed's shuffle (training samples from the
  front): toxic ones biased, benign ones neutral;
- HolisticBias sentences of the held-out descriptors (training.data.holistic_heldout): the
  hostile template biased, the neutral templates neutral.

A text scores as the server flags it: its most biased sentence (server.scan.text_scores). The
result goes to the adapter's calibration.json; `srllm build-model` writes it into the GGUF as
`srllm.flag_threshold`, which the server reads.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from srllm.evaluation import metrics
from srllm.evaluation.config import CALIBRATION_SOURCES, FLOOR_SPECIFICITY
from srllm.server.scan import text_scores
from srllm.training import config as train_config
from srllm.training import data as train_data

SRLLM_VAL, TOXIGEN_TAIL, HOLISTIC = CALIBRATION_SOURCES  # Item.source

TOXIGEN_PER_SIDE = 80
HOLISTIC_ITEMS = 120


@dataclass(frozen=True)
class Item:
    text: str
    biased: bool
    source: str


def validation_items(cfg: train_config.TrainConfig) -> list[Item]:
    rows = train_data.read_rows(cfg.srllm_data() / cfg.train_file)
    _, val_rows = train_data.split_rows(rows, cfg.val_fraction, cfg.seed)
    items = [Item(r.biased_text, True, SRLLM_VAL) for r in val_rows]
    items += [Item(r.debiased_text, False, SRLLM_VAL) for r in val_rows]
    toxic, benign = train_data.toxigen_pools(
        cfg.extra_data() / train_data.EXTRA_FILES["toxigen"], cfg.seed
    )
    n_toxic = min(TOXIGEN_PER_SIDE, train_data.held_back(len(toxic)))
    n_benign = min(TOXIGEN_PER_SIDE, train_data.held_back(len(benign)))
    items += [Item(t, True, TOXIGEN_TAIL) for t, _, _ in toxic[len(toxic) - n_toxic :]]
    items += [Item(t, False, TOXIGEN_TAIL) for t in benign[len(benign) - n_benign :]]
    holistic = [
        r
        for r in train_data.jsonl(cfg.extra_data() / train_data.EXTRA_FILES["holisticbias"])
        if train_data.holistic_heldout(r["descriptor"]) and r["preference"] != "polarizing"
    ]
    random.Random(f"{cfg.seed}:calibrate").shuffle(holistic)
    for r in holistic[:HOLISTIC_ITEMS]:
        hostile = r["template"] == train_data.HOLISTIC_HOSTILE
        items.append(Item(r["text"], hostile or r["preference"] == "dispreferred", HOLISTIC))
    return items


def choose_threshold(
    scores: list[float], gold: list[bool], floor: float = FLOOR_SPECIFICITY
) -> dict:
    """The threshold with the highest recall + specificity among those keeping specificity at
    `floor` or above (the highest such threshold on ties)."""
    p = np.asarray(scores)
    y = np.asarray(gold, dtype=bool)
    candidates = sorted(set(np.round(p, 4).tolist()) | {0.5})
    best = None
    for t in candidates:
        predicted = p >= t
        recall = float(predicted[y].mean()) if y.any() else 0.0
        specificity = float((~predicted[~y]).mean()) if (~y).any() else 0.0
        ok = specificity >= floor
        key = (ok, recall + specificity, t)
        if best is None or key > best[0]:
            best = (key, {"threshold": t, "recall": recall, "specificity": specificity})
    assert best is not None
    return best[1]


def calibrate(
    model: Path,
    adapter: Path | None,
    config: Path,
    threads: int | None,
    release: str | None = None,
    sources: tuple[str, ...] | None = None,
    min_specificity: float = FLOOR_SPECIFICITY,
) -> dict:
    """sources: only the validation items of these (None: all of CALIBRATION_SOURCES).
    min_specificity: the floor of choose_threshold; a new model is compared with the default
    at the default's own validation specificity (at_threshold in its calibration.json)."""
    from srllm.server.engine import Engine, EngineConfig

    cfg = train_config.load_config(config)
    items = [i for i in validation_items(cfg) if sources is None or i.source in sources]
    engine = Engine(EngineConfig(model, n_threads=threads), scorer=True)
    print(f"calibrate: P(biased) of {len(items)} validation texts", flush=True)
    try:
        scores = text_scores(engine, [i.text for i in items])
    finally:
        engine.close()
    gold = [i.biased for i in items]
    chosen = choose_threshold(scores, gold, min_specificity)
    argmax = choose_at(scores, gold, 0.5)
    result = {
        "threshold": chosen["threshold"],
        "chosen_on": sorted({i.source for i in items}),
        "min_specificity": min_specificity,
        "items": len(items),
        "auc": metrics.auc(scores, gold),
        "at_threshold": {"recall": chosen["recall"], "specificity": chosen["specificity"]},
        "at_0.5": argmax,
        "model": model.name,
    }
    if release:
        result["release"] = release
    if adapter is not None:
        path = adapter / "calibration.json"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
        tmp.replace(path)
    return result


def choose_at(scores: list[float], gold: list[bool], t: float) -> dict:
    p, y = np.asarray(scores), np.asarray(gold, dtype=bool)
    predicted = p >= t
    return {
        "recall": float(predicted[y].mean()),
        "specificity": float((~predicted[~y]).mean()),
    }
