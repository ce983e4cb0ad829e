"""Strictness, the allow-list and muted categories (server.task.Options): in the task, over
HTTP and on the command line, around the scripted engine."""

import json
from pathlib import Path

import pytest

from srllm import cli
from srllm.server import task
from tests.standin import ScriptedEngine, app_client, biased

OLD = "My uncle is slow and useless with technology."  # not about a group: the model decides
WOMEN = "Women are too emotional to lead engineering teams."
WHEELCHAIR = "He is wheelchair bound since the accident."
CRIME = "The immigrants in that neighborhood are all criminals."


def flag_of(engine, text, cache=None, **options):
    opts = task.Options.build(**options)
    return task.collect(task.Task(engine, cache).run(text, "flag", options=opts))


def spans(payload):
    return [(s["text"], s["source"]) for s in payload["spans"]]


# -- strictness -------------------------------------------------------------------------------


def test_strictness_maps_to_thresholds_below_the_calibrated_one():
    opts = {name: task.Options.build(strictness=name) for name in task.STRICTNESS}
    assert opts["conservative"].threshold(0.5) == 0.5
    assert opts["balanced"].threshold(0.5) == pytest.approx(0.425)
    assert opts["sensitive"].threshold(0.5) == pytest.approx(0.35)
    assert task.Options.build().strictness == "conservative"
    from srllm.server import scan

    assert task.STRICTNESS["sensitive"] == scan.REVIEW_MARGIN  # the scan's review band


def test_a_borderline_sentence_is_biased_only_at_the_stricter_settings():
    engine = ScriptedEngine(flags={OLD: biased(["slow"], ["age"], p=0.4)})
    cache = task.Cache(64)
    assert flag_of(engine, OLD, cache)["biased"] is False
    assert flag_of(engine, OLD, cache, strictness="balanced")["biased"] is False
    sensitive = flag_of(engine, OLD, cache, strictness="sensitive")
    assert sensitive["biased"] is True and sensitive["p_biased"] == 0.4
    # The cache key has the threshold: each strictness asked the model once, then hit the cache.
    assert engine.calls.count(("flag", OLD)) == 3
    assert flag_of(engine, OLD, cache)["biased"] is False
    assert engine.calls.count(("flag", OLD)) == 3


# -- allow-list and mute ----------------------------------------------------------------------


def test_an_allowed_term_is_not_highlighted_and_other_words_keep_the_sentence_biased():
    engine = ScriptedEngine(flags={OLD: biased(["slow", "useless"], ["age"])})
    flag = flag_of(engine, OLD, allow=["SLOW"])
    assert flag["biased"] is True
    assert "slow" not in [s["text"] for s in flag["spans"]]
    assert ("useless", "model") in spans(flag)
    assert "'slow'" not in flag["explanation"]


def test_a_sentence_whose_only_evidence_was_allowed_is_neutral():
    engine = ScriptedEngine(flags={OLD: biased(["slow", "useless"], ["age"])})
    flag = flag_of(engine, OLD, allow=["slow", "useless"])
    assert flag["label"] == "neutral" and flag["biased"] is False
    assert flag["spans"] == [] and flag["categories"] == []
    assert flag["p_biased"] == 0.9  # still the model's own probability


def test_allowed_and_muted_lexicon_terms_do_not_flag():
    plain = flag_of(ScriptedEngine(), WHEELCHAIR)
    assert plain["label"] == "slightly_biased"
    for options in ({"allow": ["wheelchair bound"]}, {"mute": ["disability"]}):
        flag = flag_of(ScriptedEngine(), WHEELCHAIR, **options)
        assert flag["label"] == "neutral" and flag["spans"] == [], options
    # An allowed term inside another term's text: "Wheelchair" alone allows nothing else.
    flag = flag_of(ScriptedEngine(), WHEELCHAIR, allow=["accident"])
    assert flag["label"] == "slightly_biased"


def test_muting_the_models_only_category_makes_it_neutral_but_not_another_one():
    engine = ScriptedEngine(flags={WOMEN: biased(["emotional"], ["gender"], True)})
    assert flag_of(engine, WOMEN, mute=["gender"])["label"] == "neutral"
    kept = flag_of(engine, WOMEN, mute=["age"])
    assert kept["label"] == "highly_biased" and kept["categories"] == ["gender"]
    two = ScriptedEngine(flags={WOMEN: biased(["emotional"], ["gender", "age"])})
    partly = flag_of(two, WOMEN, mute=["gender"])
    assert partly["biased"] is True and partly["categories"] == ["age"]


def test_a_rewrite_does_not_push_down_an_allowed_term():
    engine = ScriptedEngine(
        flags={CRIME: biased(["immigrants", "criminals"], ["nationality"])},
        rewrites={},  # unchanged: redone with the highlights pushed down
        guided={CRIME: "The immigrants in that neighborhood are residents."},
    )
    opts = task.Options.build(allow=["Immigrants"])
    payload = task.collect(task.Task(engine).run(CRIME, "debias", options=opts))
    assert payload["rewrite"] == "The immigrants in that neighborhood are residents."
    guided = [c for c in engine.calls if c[0] == "rewrite" and c[2]]
    assert guided == [("rewrite", CRIME, ("criminals",))]


# -- over HTTP --------------------------------------------------------------------------------


@pytest.fixture
def client():
    engine = ScriptedEngine(flags={OLD: biased(["slow", "useless"], ["age"], p=0.4)})
    with app_client(engine) as c:
        yield c


def test_the_routes_take_strictness_allow_and_mute(client):
    assert client.post("/v1/flag", json={"text": OLD}).json()["biased"] is False
    body = {"text": OLD, "strictness": "sensitive"}
    assert client.post("/v1/flag", json=body).json()["biased"] is True
    allowed = client.post("/v1/flag", json={**body, "allow": ["slow", "useless"]}).json()
    assert allowed["biased"] is False
    debias = client.post("/v1/debias", json={**body, "mute": ["age"]}).json()
    assert debias["flag"]["biased"] is False and debias["rewrite"] is None
    stream = client.post("/v1/rewrite", json={**body, "stream": True, "allow": ["slow"]})
    assert stream.status_code == 200


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"strictness": "paranoid"}, "strictness"),
        ({"strictness": 1}, "strictness"),
        ({"allow": "slow"}, "allow"),
        ({"allow": [""]}, "allow"),
        ({"allow": ["x" * 65]}, "allow"),
        ({"allow": ["x"] * 201}, "allow"),
        ({"allow": [3]}, "allow"),
        ({"mute": ["ageism"]}, "mute"),
        ({"mute": "age"}, "mute"),
    ],
)
def test_bad_options_are_a_422_naming_the_field(client, extra, field):
    for route in ("/v1/flag", "/v1/debias", "/v1/rewrite", "/v1/scan"):
        r = client.post(route, json={"text": OLD, **extra})
        assert r.status_code == 422, (route, extra)
        error = r.json()["error"]
        assert error["code"] == "invalid_request" and error["field"] == field


def test_scan_takes_a_strictness(client):
    plain = client.post("/v1/scan", json={"text": OLD}).json()
    sensitive = client.post("/v1/scan", json={"text": OLD, "strictness": "sensitive"}).json()
    assert plain["sentences"][0]["label"] == "review"
    assert sensitive["sentences"][0]["label"] == "biased"
    assert sensitive["thresholds"] == {"biased": 0.35, "review": 0.2}
    bad = client.post("/v1/scan", json={"text": OLD, "strictness": "x"})
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "strictness"


@pytest.mark.parametrize(
    ("extra", "label"),
    [
        ({}, "review"),  # 0.4: under the calibrated 0.5, over the review band's 0.35
        ({"allow": ["slow"]}, "review"),  # "useless" is still there
        ({"allow": ["slow", "useless"]}, "neutral"),  # the model's only words are allowed
        ({"mute": ["age"]}, "neutral"),  # its only category is muted
        ({"strictness": "sensitive", "allow": ["slow"]}, "biased"),
        ({"strictness": "sensitive", "allow": ["Useless", "slow"]}, "neutral"),
    ],
)
def test_the_scan_takes_the_allow_list_and_muted_categories(extra, label):
    engine = ScriptedEngine(flags={OLD: biased(["slow", "useless"], ["age"], p=0.4)})
    fair = "The meeting is slow to start."  # an allowed word, but no underline to clear
    with app_client(engine) as c:
        body = c.post("/v1/scan", json={"text": f"{OLD} {fair}", **extra}).json()
    assert [(s["score"], s["label"]) for s in body["sentences"]] == [(0.4, label), (0.1, "neutral")]
    assert body["counts"][label] == 1 + (label == "neutral")
    # Only a sentence the score would underline, and that the options may clear, is flagged in
    # full: never the fair one, and nothing without an allow-list or a muted category.
    flagged = [c[1] for c in engine.calls if c[0] == "flag"]
    assert flagged == ([OLD] if "allow" in extra or "mute" in extra else [])


# -- on the command line ----------------------------------------------------------------------


@pytest.fixture
def cli_engine(monkeypatch):
    engine = ScriptedEngine(flags={OLD: biased(["slow", "useless"], ["age"], p=0.4)})
    monkeypatch.setattr("srllm.server.engine.Engine", lambda config: engine)
    monkeypatch.setattr(cli.paths, "resolve_model", lambda model: Path("stand-in.gguf"))
    return engine


def run_cli(capsys, *argv):
    code = cli.main([*argv, "--model", "stand-in.gguf"])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_the_cli_takes_the_same_options(cli_engine, capsys):
    code, out, _ = run_cli(capsys, "flag", OLD, "--json")
    assert code == 0 and json.loads(out)["biased"] is False
    code, out, _ = run_cli(capsys, "flag", OLD, "--json", "--strictness", "sensitive")
    assert json.loads(out)["biased"] is True
    code, out, _ = run_cli(
        capsys, "flag", OLD, "--json", "--strictness", "sensitive", "--allow", "slow"
    )
    assert [s["text"] for s in json.loads(out)["spans"]] == ["useless"]
    code, out, _ = run_cli(
        capsys, "debias", OLD, "--json", "--strictness", "sensitive", "--mute", "age"
    )
    assert json.loads(out)["rewrite"] is None


def test_the_cli_scan_takes_the_same_options(cli_engine, capsys, tmp_path):
    doc = tmp_path / "draft.txt"
    doc.write_text(OLD, encoding="utf-8")
    for extra, label in [
        ((), "review"),
        (("--strictness", "sensitive"), "biased"),
        (("--strictness", "sensitive", "--mute", "age"), "neutral"),
        (("--allow", "slow", "--allow", "useless"), "neutral"),
    ]:
        code, out, _ = run_cli(capsys, "scan", str(doc), "--json", *extra)
        assert code == 0 and json.loads(out)["sentences"][0]["label"] == label, extra


def test_the_cli_refuses_bad_options_and_other_languages(cli_engine, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["flag", OLD, "--mute", "ageism"])
    assert exit_info.value.code == 2  # argparse's choices
    assert "invalid choice: 'ageism'" in capsys.readouterr().err
    code, _, err = run_cli(capsys, "flag", OLD, "--allow", "x" * 65)
    assert code == 1 and err.startswith("srllm: error: allow[0] must be a term")
    french = "Les personnes âgées sont inutiles avec les ordinateurs."
    code, _, err = run_cli(capsys, "flag", french)
    assert code == 1 and "English only" in err
    assert ("flag", french) not in cli_engine.calls


def test_a_generalisation_whose_only_loaded_words_are_allowed_is_neutral():
    text = "Old people are slow and useless with technology."
    engine = ScriptedEngine(flags={text: biased(["slow", "useless"], ["age"])})
    assert flag_of(engine, text)["label"] == "slightly_biased"
    flag = flag_of(engine, text, allow=["slow", "useless"])
    assert flag["label"] == "neutral" and flag["spans"] == []
    # The group rule alone (the model under its threshold) also gives way to the allow-list.
    under = ScriptedEngine(flags={text: biased(["slow"], ["age"], p=0.4)})
    assert flag_of(under, text)["label"] == "slightly_biased"
    assert flag_of(under, text, allow=["slow", "useless"])["label"] == "neutral"


def test_the_cli_says_when_its_rewrite_is_still_biased(cli_engine, capsys):
    """The stand-in rewrites nothing: the sentence comes back as it was, still flagged, and the
    human output says no neutral rewrite was found instead of presenting it as one."""
    code, out, err = run_cli(capsys, "debias", OLD, "--strictness", "sensitive")
    assert code == 0 and f"rewrite:     {OLD}" in out
    assert err.strip() == cli._NOT_FOUND
    weak = "Old people are weak with technology."
    cli_engine.rewrites[OLD] = weak
    cli_engine.flags[weak] = biased(["weak"], ["age"], p=0.9)
    code, out, err = run_cli(capsys, "debias", OLD, "--strictness", "sensitive")
    assert f"rewrite:     {weak}" in out and err.strip() == cli._REVIEW
    code, out, err = run_cli(capsys, "debias", OLD, "--json", "--strictness", "sensitive")
    assert json.loads(out)["still_biased"] is True and err == ""
