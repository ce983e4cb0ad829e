"""The `srllm` command itself: serve refusals, token, and the in-process task commands."""

import json
import os
import stat

import pytest

from tests.support import run_srllm


def srllm(*args, input=None, home=None):
    return run_srllm(*args, home=home, input=input)


def one_error_line(result) -> str:
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("srllm: error: ")
    return lines[0]


def test_serve_refuses_a_missing_model(tmp_path):
    line = one_error_line(srllm("serve", "--model", str(tmp_path / "nope.gguf"), home=tmp_path))
    assert "not found" in line


def test_serve_refuses_a_file_that_is_not_gguf(tmp_path):
    fake = tmp_path / "fake.gguf"
    fake.write_bytes(b"PK\x03\x04 not a gguf")
    assert "not a GGUF" in one_error_line(srllm("serve", "--model", str(fake), home=tmp_path))


def test_serve_refuses_a_bad_port(tmp_path):
    assert "port" in one_error_line(srllm("serve", "--port", "70000", home=tmp_path))


def test_token_is_printed_and_stored_private(tmp_path):
    first = srllm("token", home=tmp_path)
    assert first.returncode == 0
    token = first.stdout.strip()
    assert len(token) >= 32
    assert stat.S_IMODE(os.stat(tmp_path / "token").st_mode) == 0o600
    assert srllm("token", home=tmp_path).stdout.strip() == token


def test_token_refuses_a_short_token_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("SRLLM_TOKEN", "short")
    assert "at least 16" in one_error_line(srllm("token", home=tmp_path))


def test_flag_json_from_stdin(tmp_path):
    text = "Those people from that country are all lazy."
    result = srllm("flag", "-", "--json", input=text, home=tmp_path)
    assert result.returncode == 0, result.stderr
    body = json.loads(result.stdout)
    assert body["label"] in ("neutral", "slightly_biased", "highly_biased")
    for span in body["spans"]:
        assert text[span["start"] : span["end"]] == span["text"]


def test_rewrite_and_debias_print_results(tmp_path):
    rewrite = srllm("rewrite", "He is a great chairman.", home=tmp_path)
    assert rewrite.returncode == 0 and rewrite.stdout.strip()
    debias = srllm("debias", "He is a great chairman.", "--json", home=tmp_path)
    body = json.loads(debias.stdout)
    assert set(body) == {
        "flag",
        "rewrite",
        "changed",
        "still_biased",
        "model",
        "sentences",
    }  # as /v1/debias
    assert (body["rewrite"] is not None) == body["flag"]["biased"]


@pytest.mark.parametrize("args", [("flag", "   "), ("rewrite", "-")])
def test_empty_text_is_one_error_line(tmp_path, args):
    assert "no text" in one_error_line(srllm(*args, input="", home=tmp_path))
