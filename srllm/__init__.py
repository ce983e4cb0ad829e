"""srllm: flag biased text and rewrite it neutrally, on the user's own machine.

Everything installs under this one import name while the folders stay by stage:

    srllm/              the shared core, torch-free: task contract, errors, paths, defaults,
                        manifests between stages, and the one `srllm` command line
    srllm.server        server/      the GGUF engine, the task, the HTTP API
    srllm.training      training/    LoRA instruction tuning (torch, transformers, peft)
    srllm.convert       convert/     HF model or adapter -> GGUF -> quantized GGUF
    srllm.evaluation    evaluation/  `srllm eval` and `srllm calibrate`

The stage folders are mapped into the package by pyproject.toml ([tool.setuptools]
package-dir), so `pip install` never adds generic top-level names like `server`.
"""

__version__ = "0.1.0"
