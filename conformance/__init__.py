"""The gumbelkit conformance suite: does each backend sample the law the mathematics says?

Run it with ``pytest conformance`` (every installed backend), ``GUMBELKIT_BACKEND=torch
pytest conformance``, or ``gumbelkit check --backend torch``. See docs/conformance.md.
"""
