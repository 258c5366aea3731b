"""Time gumbelkit against the samplers each backend already offers, in one process.

Run ``python benchmarks/bench.py [--quick] [--json PATH] [--backends numpy,torch,jax]
[--shapes 4096x1024,32x10]``. The code lives in ``gumbelkit._cli.bench`` and is also
installed as ``gumbelkit bench``; this script differs only in writing JSON to
benchmarks/results.json by default. See benchmarks/README.md.
"""

from __future__ import annotations

import sys
from pathlib import Path

from gumbelkit._cli.bench import main

if __name__ == "__main__":
    sys.exit(main(default_json=Path(__file__).with_name("results.json"), prog="bench.py"))
