"""The one `srllm` parser: every stage's commands, one map from errors to exit codes."""

import subprocess
import sys

import pytest

from srllm import cli
from srllm.errors import Code, SrllmError


def commands() -> set[str]:
    sub = next(a for a in cli.build_parser()._actions if a.dest == "command")
    return set(sub.choices)


def test_every_stage_is_reachable_from_srllm():
    expected = {"serve", "flag", "rewrite", "debias", "token", "convert", "build-model", "train"}
    expected |= {"bench-train", "merge", "sample", "soup", "distill", "eval", "calibrate"}
    assert expected <= commands()


def run_with(monkeypatch, error: BaseException) -> int:
    def fail(args):
        raise error

    monkeypatch.setattr(cli, "cmd_token", fail)
    return cli.main(["token"])


def test_a_users_mistake_is_one_line_and_exit_1(monkeypatch, capsys):
    assert run_with(monkeypatch, SrllmError(Code.BAD_INPUT, "no text given")) == 1
    assert capsys.readouterr().err == "srllm: error: no text given\n"


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--sources", "srllm,wiki"], "--sources: unknown 'wiki'"),
        (["--minutes", "0"], "--minutes must be > 0"),
        (["--limit", "-1"], "--limit must be >= 0"),
        (["--threads", "0"], "--threads must be >= 1"),
    ],
)
def test_distill_refuses_bad_arguments_in_one_line(tmp_path, capsys, extra, message):
    args = ["distill", "--model", str(tmp_path / "m.gguf"), "--out", str(tmp_path / "o.jsonl")]
    assert cli.main(args + extra) == 1
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert not (tmp_path / "o.jsonl").exists()


def test_distill_names_a_missing_model(tmp_path, capsys):
    args = ["distill", "--model", str(tmp_path / "m.gguf"), "--out", str(tmp_path / "o.jsonl")]
    assert cli.main(args) == 1
    err = capsys.readouterr().err
    assert "m.gguf" in err and err.count("\n") == 1
    assert not (tmp_path / "o.jsonl").exists()


def test_distill_names_a_missing_rewriter_model(tmp_path, capsys):
    """The flagger exists; the pair's writer does not: named before anything is written."""
    from srllm import paths

    args = ["distill", "--model", str(paths.embedded_model()), "--out", str(tmp_path / "o.jsonl")]
    assert cli.main(args + ["--rewriter-model", str(tmp_path / "w.gguf")]) == 1
    err = capsys.readouterr().err
    assert "w.gguf" in err and err.count("\n") == 1
    assert not (tmp_path / "o.jsonl").exists()


def test_an_interrupt_exits_130(monkeypatch, capsys):
    assert run_with(monkeypatch, KeyboardInterrupt()) == 130
    assert capsys.readouterr().err == "srllm: interrupted\n"


@pytest.mark.parametrize("bug", [ValueError("oops"), OSError("disk"), KeyError("k")])
def test_a_bug_keeps_its_traceback(monkeypatch, bug):
    with pytest.raises(type(bug)):
        run_with(monkeypatch, bug)


@pytest.mark.parametrize("stage", ["srllm", "srllm.training", "srllm.convert"])
def test_python_dash_m_of_any_stage_is_the_same_parser(stage):
    out = subprocess.run(
        [sys.executable, "-m", stage, "--help"], capture_output=True, text=True, check=True
    )
    assert "build-model" in out.stdout and "calibrate" in out.stdout and "merge" in out.stdout


def test_python_dash_m_evaluation_means_srllm_eval():
    out = subprocess.run(
        [sys.executable, "-m", "srllm.evaluation", "--limit", "0"], capture_output=True, text=True
    )
    assert out.returncode == 2 and "srllm eval: error: argument --limit" in out.stderr


def test_calibrate_takes_known_validation_sources_only(capsys):
    args = cli.build_parser().parse_args(
        ["calibrate", "--model", "m.gguf", "--sources", "toxigen-tail, holistic,holistic"]
    )
    assert args.sources == ("toxigen-tail", "holistic")
    assert cli.build_parser().parse_args(["calibrate", "--model", "m.gguf"]).sources is None
    with pytest.raises(SystemExit) as exit_info:
        cli.build_parser().parse_args(["calibrate", "--model", "m.gguf", "--sources", "infer50"])
    assert exit_info.value.code == 2
    assert "unknown source infer50: choose from srllm-val, toxigen-tail, holistic" in (
        capsys.readouterr().err
    )


def test_calibrate_takes_a_specificity_floor_in_zero_to_one(capsys):
    parse = cli.build_parser().parse_args
    assert parse(["calibrate", "--model", "m.gguf"]).min_specificity == 0.9
    assert (
        parse(["calibrate", "--model", "m.gguf", "--min-specificity", "0.93"]).min_specificity
        == 0.93
    )
    for bad in ("0", "1.5", "most"):
        with pytest.raises(SystemExit) as exit_info:
            parse(["calibrate", "--model", "m.gguf", "--min-specificity", bad])
        assert exit_info.value.code == 2
        assert f"expected a number in (0, 1], got {bad!r}" in capsys.readouterr().err
