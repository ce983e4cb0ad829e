"""Run the evaluation without the console script.

.venv/bin/python -m evaluation                      # default model + prompting baseline
.venv/bin/python -m evaluation --limit 3 --out /tmp/eval
.venv/bin/python -m evaluation --model A.gguf --model B.gguf
"""

import sys

from server import cli


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] != ["eval"]:
        argv.insert(0, "eval")  # `python -m evaluation --limit 3` means `srllm eval --limit 3`
    return cli.main(argv)


if __name__ == "__main__":
    sys.exit(main())
