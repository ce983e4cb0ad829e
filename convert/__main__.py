"""python -m convert convert MODEL_DIR --out FILE.gguf ...  |  python -m convert build-model"""

from __future__ import annotations

import argparse
import sys

from convert import cli


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="srllm")
    sub = parser.add_subparsers(dest="command", required=True)
    cli.register(sub)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
