"""python -m training train --config training/configs/default.toml [key=value ...]"""

from training.cli import main

raise SystemExit(main())
