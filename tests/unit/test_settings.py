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


@pytest.mark.parametrize(
    "folder, resolve, env, field, flag",
    [
        (paths.default_rewriter_dir, paths.resolve_rewriter, "SRLLM_REWRITER_MODEL",
         "rewriter_path", ["serve", "--rewriter-model"]),
        (paths.default_scan_dir, paths.resolve_scan, "SRLLM_SCAN_MODEL", "scan_path",
         ["scan", "-", "--scan-model"]),
    ],
    ids=["rewriter", "scan"],
)  # fmt: skip
def test_a_companion_model_is_the_defaults_own_only_when_the_default_serves(
    isolated_home, folder, resolve, env, field, flag
):
    """The rewriter and the scan model: the user's, else the default's own one, and only when
    the default serves; nothing built: the served model does the work itself."""
    from srllm import cli

    assert resolve(None, None) is None
    for where, name in ((paths.default_model_dir(), "flag"), (folder(), "other")):
        where.mkdir(parents=True)
        (where / f"{name}-Q8_0.gguf").write_bytes(b"GGUF")
    built = folder() / "other-Q8_0.gguf"
    assert resolve(None, None) == built
    assert resolve(Path("/mine.gguf"), None) is None  # a user's model works alone
    assert resolve(Path("/mine.gguf"), Path("/o.gguf")) == Path("/o.gguf")
    settings = from_env({env: "/o2.gguf"})
    assert getattr(settings.engine_config(Path("/m.gguf")), field) == Path("/o2.gguf")
    assert getattr(ServerSettings().engine_config(Path("/m.gguf")), field) == built
    if flag is not None:
        args = cli.build_parser().parse_args([*flag, "/o3.gguf"])
        assert getattr(cli._settings(args).engine_config(Path("/m.gguf")), field) == Path(
            "/o3.gguf"
        )
    (paths.default_model_dir() / "flag-Q8_0.gguf").unlink()  # the untuned fallback works alone
    assert resolve(None, None) is None
