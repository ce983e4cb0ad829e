"""srllm training: LoRA instruction tuning on the task contract (see training/train.py).

Importing this package is cheap: torch, transformers and peft load only inside the functions
that need them.
"""
