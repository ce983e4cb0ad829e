"""The English-only notice (server.language): a conservative detector, and the routes' 422."""

import pytest

from srllm.server import language
from tests.standin import ScriptedEngine, app_client

ENGLISH = [
    "Old people are useless with computers.",
    "Women lead engineering teams poorly",  # no function word at all: still English
    "I met Jean-Pierre de la Fontaine at the café yesterday.",
    "My colleague 李明 is brilliant at math.",
    "She has a certain joie de vivre that la belle époque had.",
    "Bonjour à tous",  # under four words: too short to tell
    "Merci beaucoup, mon ami",
    "Immigrants steal jobs from hardworking locals.",
]
OTHER = {
    "Les personnes âgées sont inutiles avec les ordinateurs et elles ne comprennent rien.": (
        "not English"
    ),
    "Die alten Leute sind mit Computern nutzlos und sie lernen nichts.": "not English",
    "كبار السن عديمو الفائدة مع أجهزة الكمبيوتر.": "Arabic script",
    "老年人不会用电脑，他们太慢了。": "Han (Chinese or Japanese) script",
    "Старые люди бесполезны с компьютерами.": "Cyrillic script",
    "El niño es muy listo y su madre también lo es.": "not English",
}


@pytest.mark.parametrize("text", ENGLISH)
def test_english_short_and_mixed_text_passes(text):
    assert language.unsupported(text) is None


@pytest.mark.parametrize(("text", "why"), OTHER.items())
def test_other_languages_are_named_by_script_or_evidence(text, why):
    assert language.unsupported(text) == why


def test_the_routes_answer_another_language_with_a_422_before_the_model():
    engine = ScriptedEngine()
    with app_client(engine) as client:
        for route in ("/v1/flag", "/v1/debias", "/v1/rewrite"):
            for stream in (False, True):
                body = {"text": "كبار السن عديمو الفائدة مع أجهزة الكمبيوتر.", "stream": stream}
                r = client.post(route, json=body)
                assert r.status_code == 422, route
                error = r.json()["error"]
                assert error["code"] == "unsupported_language"
                assert error["reason"] == "Arabic script" and "English only" in error["message"]
        assert client.post("/v1/flag", json={"text": ENGLISH[0]}).status_code == 200
    assert [c[0] for c in engine.calls] == ["warm_up", "flag"]
