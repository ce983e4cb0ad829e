"""Run the evaluation without the console script.

.venv/bin/python -m evaluation                      # default model + prompting baseline
.venv/bin/python -m evaluation --limit 3 --out /tmp/eval
.venv/bin/python -m evaluation --model A.gguf --model B.gguf
"""

from __future__ import annotations

import argparse
import sys

from evaluation import cli


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] != ["eval"]:
        argv.insert(0, "eval")  # `python -m evaluation --limit 3` means `srllm eval --limit 3`
    parser = argparse.ArgumentParser(prog="srllm")
    cli.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print("srllm: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
