"""`python -m srllm ...` is the `srllm` command: see srllm/cli.py."""

from srllm.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
