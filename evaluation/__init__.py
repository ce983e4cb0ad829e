"""srllm evaluation: bias removal, meaning kept, flagging, fairness, robustness, knowledge, speed.

    srllm eval                               # fine-tuned default (if built) + prompting baseline
    srllm eval --limit 3 --out /tmp/eval        # smoke run, every section capped at 3 items
    srllm eval --model A.gguf --model B.gguf    # any GGUFs the server can run
    python -m srllm.evaluation ...              # the same without the console script

Metrics are defined in evaluation/METRICS.md.
"""
