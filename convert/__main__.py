"""python -m convert convert MODEL_DIR --out FILE.gguf ...  |  python -m convert build-model

The `srllm` command without the console script: the same parser and the same one-line errors."""

import sys

from server.cli import main

if __name__ == "__main__":
    sys.exit(main())
