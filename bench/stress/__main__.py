"""`python -m bench.stress`: see bench/stress/cli.py."""

import sys

from bench.stress.cli import main

if __name__ == "__main__":
    sys.exit(main())
