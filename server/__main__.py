"""`python -m server ...` is the `srllm` command: see server/cli.py."""

from server.cli import main

raise SystemExit(main())
