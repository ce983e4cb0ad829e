"""The JSON shapes of a flag and a rewrite, shared by the HTTP API and the CLI's --json."""

from __future__ import annotations

from server import contract


def flag_payload(text: str, flag: contract.Flag, model: str) -> dict:
    spans = contract.find_spans(text, flag.biased_words)
    return {
        "label": flag.label.value,
        "biased": flag.biased,
        "categories": flag.categories,
        "spans": [{"start": s.start, "end": s.end, "text": s.text} for s in spans],
        "explanation": flag.explanation,
        "model": model,
    }


def rewrite_payload(text: str, rewrite: str, model: str) -> dict:
    return {"rewrite": rewrite, "changed": contract.is_changed(text, rewrite), "model": model}
