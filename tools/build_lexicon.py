"""Build server/lexicon.json: the high-precision subset of retext-equality's rules (MIT, the rules
behind the alex linter) that the server uses to find known terms and suggest alternatives.

    python tools/build_lexicon.py [--data DIR]   # default: the extra/ folder of srllm's data lookup

Only rules whose terms are demeaning or dispreferred in almost every use are kept: alex also
flags words with common neutral senses ("master", "special", "crazy weather", "just"), which
would mark fair text as biased. KEEP lists the rule ids taken whole, KEEP_TERMS the rules taken
in part.

"roles" holds gendered job titles from retext-equality's paired rules ("salesman", "chairwoman",
"waitress": ROLE_RULES), with their neutral titles. They are fair words in a report ("the
chairman said") and are flagged only where a sentence advertises a job (server/hiring.py); the
unmarked title of a pair that is also the neutral one ("waiter", "actor", "host") is left out.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

from srllm import paths

SOURCE = "inclusive_language_rules/retext_equality_rules_flat.jsonl"
OUT = Path(__file__).resolve().parents[1] / "server" / "lexicon.json"

CATEGORY = {
    "ablist": "disability",
    "race": "race_ethnicity",
    "lgbtq": "sexual_orientation_gender_identity",
    "gender": "gender",
    "suicide": "health",
}
KEEP = {
    "ablist-0", "ablist-3", "ablist-4", "ablist-5", "ablist-11", "ablist-14", "ablist-16",
    "ablist-17", "ablist-18", "ablist-19", "ablist-20", "ablist-25", "ablist-26", "ablist-29",
    "ablist-30", "ablist-36", "ablist-42", "ablist-48", "ablist-67", "ablist-75",
    "lgbtq-3", "lgbtq-4", "lgbtq-5", "lgbtq-7", "lgbtq-10", "lgbtq-15", "lgbtq-22",
    "race-6", "race-7", "race-8", "race-9", "race-10", "race-12", "race-13", "race-22", "race-24",
    "race-26", "race-27", "race-30",
    "gender-209", "gender-213", "gender-225", "gender-244", "gender-245", "gender-253",
    "gender-254", "gender-255",
    "suicide-0", "suicide-1",
}  # fmt: skip
KEEP_TERMS = {
    "ablist-6": {"batshit", "psycho", "loony", "lunatic", "moron", "moronic", "mental defective",
                 "mental case"},
    "ablist-12": {"suffers from schizophrenia", "suffering from schizophrenia",
                  "afflicted with schizophrenia"},
    "ablist-27": {"suffers from psychosis", "suffering from psychosis", "afflicted with psychosis",
                  "victim of psychosis"},
    "ablist-37": {"demented"},
    "ablist-39": {"vertically challenged", "midget"},
    "ablist-58": {"simpleton", "wacko", "whacko", "low iq"},
    "ablist-69": {"feebleminded", "feeble minded", "imbecile"},
    "gender-205": {"bitching"},
    "gender-206": {"bitch"},
}  # fmt: skip


# Paired gender rules whose terms are job titles (retext-equality ids).
ROLE_RULES = {
    f"gender-{n}"
    for n in (
        9, 10, 11, 12, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 32, 33, 34, 35, 36,
        37, 40, 41, 42, 47, 48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 58, 59, 60, 61, 62, 94, 95,
        98, 99, 100, 101, 104, 105, 106, 107, 120, 121, 154, 155, 168, 169,
    )
}  # fmt: skip
# A title marked for gender: "-man", "-woman", "-ess", "girl", "lady"... ("salesman",
# "waitress", "cleaning lady"), not the neutral default of its pair ("waiter", "janitor").
GENDERED_ROLE = re.compile(r"(?:man|men|woman|women|ess|esses|lady|ladies|girl|girls|boy|boys)$")


# Where the pair's unmarked title is today's neutral one, it comes first: retext-equality offers
# only "presenter, entertainer, emcee" for a restaurant's hostess.
UNMARKED_FIRST = {
    "hostess": "host",
    "hostesses": "hosts",
    "actress": "actor",
    "actresses": "actors",
}


def roles(rules: list[dict]) -> dict[str, dict]:
    out: dict[str, dict] = {}
    for rule in rules:
        if rule["id"] not in ROLE_RULES:
            continue
        for item in rule["inconsiderate"]:
            for term in item["term"].split(","):  # "frontman, front man"
                term = term.strip().lower()
                if GENDERED_ROLE.search(term):
                    first = [UNMARKED_FIRST[term]] if term in UNMARKED_FIRST else []
                    out[term] = {
                        "category": "gender",
                        "alternatives": (first + rule["considerate"])[:3],
                        "rule": rule["id"],
                    }
    return dict(sorted(out.items()))


def build(data: Path) -> dict:
    terms: dict[str, dict] = {}
    with (data / SOURCE).open(encoding="utf-8") as handle:
        rules = [json.loads(line) for line in handle if line.strip()]
    for rule in rules:
        wanted = KEEP_TERMS.get(rule["id"])
        if rule["id"] not in KEEP and wanted is None:
            continue
        for item in rule["inconsiderate"]:
            term = item["term"].strip()
            if wanted is not None and term not in wanted:
                continue
            terms[term.lower()] = {
                "category": CATEGORY[rule["category"]],
                "alternatives": rule["considerate"][:3],
                "rule": rule["id"],
            }
    return {
        "source": "retext-equality 7.1.0 (MIT, Copyright (c) 2015 Titus Wormer), a curated subset",
        "terms": dict(sorted(terms.items())),
        "roles": roles(rules),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data", type=Path, help="the extra/ data folder (default: srllm's lookup)"
    )
    args = parser.parse_args()
    lexicon = build(args.data or paths.dataset_path("extra"))
    tmp = OUT.with_suffix(".tmp")
    tmp.write_text(json.dumps(lexicon, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    tmp.replace(OUT)
    print(f"{OUT}: {len(lexicon['terms'])} terms, {len(lexicon['roles'])} job titles")


if __name__ == "__main__":
    main()
