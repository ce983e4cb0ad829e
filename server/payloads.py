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
        "explanation": explanation(flag, spans),
        "model": model,
    }


def explanation(flag: contract.Flag, spans: list[contract.Span]) -> str:
    """The model's explanation, unless it is the trained template quoting words the text does
    not contain ("The words 'silly' are ..." over a text without 'silly'): then the template
    again, over the words that were found, so the explanation agrees with the highlights.
    A free-form explanation (a bigger base, prompted) is the model's own and stays."""
    templated = contract.explain(flag.label, flag.categories, flag.biased_words)
    if flag.explanation != templated:
        return flag.explanation
    found = list({s.text.lower(): s.text for s in reversed(spans)}.values())[::-1]
    if [w.lower() for w in found] == [w.lower() for w in flag.biased_words]:
        return flag.explanation
    return contract.explain(flag.label, flag.categories, found)


def rewrite_payload(text: str, rewrite: str, model: str) -> dict:
    return {"rewrite": rewrite, "changed": contract.is_changed(text, rewrite), "model": model}
