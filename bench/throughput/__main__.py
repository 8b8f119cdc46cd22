"""`python -m bench.throughput`: see bench/throughput/compare.py."""

import sys

from bench.throughput.compare import main

if __name__ == "__main__":
    sys.exit(main())
