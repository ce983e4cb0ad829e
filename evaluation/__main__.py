"""`python -m srllm.evaluation [ARGS]` is `srllm eval [ARGS]` (one parser: see srllm/cli.py)."""

import sys

from srllm.cli import main

if __name__ == "__main__":
    argv = sys.argv[1:]
    raise SystemExit(main(argv if argv[:1] in (["eval"], ["calibrate"]) else ["eval", *argv]))
