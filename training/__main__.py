"""`python -m srllm.training ...` is the `srllm` command (one parser: see srllm/cli.py)."""

from srllm.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
