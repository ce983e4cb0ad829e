from pathlib import Path

import pytest

from srllm import paths
from srllm.errors import SrllmError
from srllm.server.settings import ServerSettings, from_env


def test_defaults_bind_loopback_on_8765():
    s = ServerSettings()
    assert (s.host, s.port, s.max_body_bytes) == ("127.0.0.1", 8765, 64 * 1024)


def test_env_then_flags_override_defaults():
    env = {"SRLLM_PORT": "9001", "SRLLM_CTX": "2048", "SRLLM_ALLOWED_ORIGINS": "http://a, http://b"}
    s = from_env(env)
    assert (s.port, s.ctx, s.allowed_origins) == (9001, 2048, ("http://a", "http://b"))
    s = s.with_overrides(port=9002, ctx=None, model=Path("m.gguf"))
    assert (s.port, s.ctx, s.model) == (9002, 2048, Path("m.gguf"))


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"port": 0}, "port"),
        ({"ctx": 100}, "ctx"),
        ({"threads": 0}, "threads"),
        ({"n_gpu_layers": -2}, "n_gpu_layers"),
        ({"max_text_chars": 0}, "max_text_chars"),
        ({"token": "short"}, "token"),
    ],
)
def test_bad_values_name_the_setting(kwargs, field):
    with pytest.raises(SrllmError, match=field):
        ServerSettings(**kwargs)


def test_non_numeric_env_value_names_the_variable():
    with pytest.raises(SrllmError, match="SRLLM_PORT"):
        from_env({"SRLLM_PORT": "eighty"})


def test_model_resolution_prefers_explicit_then_finetuned_then_embedded(isolated_home):
    embedded = paths.embedded_model()
    assert embedded is not None and embedded.suffix == ".gguf"
    assert paths.resolve_model(None) == embedded
    folder = paths.default_model_dir()
    folder.mkdir(parents=True)
    built = folder / "SmolLM2-135M-srllm-Q8_0.gguf"
    built.write_bytes(b"GGUF")
    assert paths.resolve_model(None) == built
    assert paths.resolve_model(Path("/x.gguf")) == Path("/x.gguf")


def test_the_embedded_model_can_be_named_by_path(isolated_home, monkeypatch, tmp_path):
    copy = tmp_path / "base.gguf"
    copy.write_bytes(b"GGUF")
    monkeypatch.setenv("SRLLM_EMBEDDED_GGUF", str(copy))
    assert paths.embedded_model() == copy
    assert paths.resolve_model(None) == copy
    monkeypatch.setenv("SRLLM_EMBEDDED_GGUF", str(tmp_path / "missing.gguf"))
    with pytest.raises(SrllmError, match="SRLLM_EMBEDDED_GGUF"):
        paths.embedded_model()


def test_extension_origins_come_from_env_and_are_checked():
    origin = "chrome-extension://lkobphabohbmaheiglgplodocailahhi"
    assert from_env({"SRLLM_EXTENSION_ORIGINS": origin}).extension_origins == (origin,)
    for bad in ("https://example.com", "chrome-extension://", "moz-extension://a/b", "*"):
        with pytest.raises(SrllmError, match="extension origin"):
            ServerSettings(extension_origins=(bad,))


def test_serve_takes_extension_origins_on_the_command_line():
    from srllm import cli

    args = cli.build_parser().parse_args(
        [
            "serve",
            "--extension-origin",
            "moz-extension://a-1",
            "--extension-origin",
            "moz-extension://b",
        ]
    )
    settings = cli._settings(args)
    assert settings.extension_origins == ("moz-extension://a-1", "moz-extension://b")
    assert cli._settings(cli.build_parser().parse_args(["serve"])).extension_origins == ()


def test_the_rewriter_is_the_defaults_own_only_when_the_default_serves(isolated_home):
    assert paths.resolve_rewriter(None, None) is None  # nothing built: the model rewrites
    for folder, name in ((paths.default_model_dir(), "flag"), (paths.default_rewriter_dir(), "w")):
        folder.mkdir(parents=True)
        (folder / f"{name}-Q8_0.gguf").write_bytes(b"GGUF")
    rewriter = paths.default_rewriter_dir() / "w-Q8_0.gguf"
    assert paths.resolve_rewriter(None, None) == rewriter
    assert paths.resolve_rewriter(Path("/mine.gguf"), None) is None  # a user's model rewrites
    assert paths.resolve_rewriter(Path("/mine.gguf"), Path("/w.gguf")) == Path("/w.gguf")
    settings = from_env({"SRLLM_REWRITER_MODEL": "/w2.gguf"})
    assert settings.engine_config(Path("/m.gguf")).rewriter_path == Path("/w2.gguf")
    assert ServerSettings().engine_config(Path("/m.gguf")).rewriter_path == rewriter
    (paths.default_model_dir() / "flag-Q8_0.gguf").unlink()  # the untuned fallback serves alone
    assert paths.resolve_rewriter(None, None) is None


def test_the_scan_model_is_the_defaults_own_only_when_the_default_serves(isolated_home):
    from srllm import cli

    assert paths.resolve_scan(None, None) is None  # nothing built: the model scores its scans
    for folder, name in ((paths.default_model_dir(), "flag"), (paths.default_scan_dir(), "cut")):
        folder.mkdir(parents=True)
        (folder / f"{name}-Q8_0.gguf").write_bytes(b"GGUF")
    cut = paths.default_scan_dir() / "cut-Q8_0.gguf"
    assert paths.resolve_scan(None, None) == cut
    assert paths.resolve_scan(Path("/mine.gguf"), None) is None  # a user's model scans
    assert paths.resolve_scan(Path("/mine.gguf"), Path("/s.gguf")) == Path("/s.gguf")
    settings = from_env({"SRLLM_SCAN_MODEL": "/s2.gguf"})
    assert settings.engine_config(Path("/m.gguf")).scan_path == Path("/s2.gguf")
    assert ServerSettings().engine_config(Path("/m.gguf")).scan_path == cut
    args = cli.build_parser().parse_args(["scan", "-", "--scan-model", "/s3.gguf"])
    assert cli._settings(args).engine_config(Path("/m.gguf")).scan_path == Path("/s3.gguf")
    (paths.default_model_dir() / "flag-Q8_0.gguf").unlink()
    assert paths.resolve_scan(None, None) is None
