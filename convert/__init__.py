"""The convert stage: Hugging Face model or LoRA adapter -> GGUF that llama.cpp runs.

    srllm convert MODEL_DIR --out FILE.gguf [--outtype f16] [--quant q8_0] [--verify]
    srllm convert --base BASE.gguf --adapter ADAPTER_DIR --out FILE.gguf [--quant q8_0]
    srllm build-model [--adapter training/adapters/default] [--quant q8_0]
    python -m srllm.convert ...      # the same, without the console script

Modules: registry (architectures), vocab, hfmodel (lazy safetensors), writer (HF -> GGUF),
merge (adapter into a GGUF base), quantize (llama.cpp's quantizer), verify, naming/manifest.
"""
