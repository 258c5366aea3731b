"""The gumbelkit conformance suite: each backend samples the law the mathematics says.

It ships with the package and needs pytest and SciPy (``pip install "gumbelkit[check]"``).
Run it with ``gumbelkit check --backend torch``, ``pytest --pyargs gumbelkit.conformance``
(every installed backend; ``-p gumbelkit.conformance.plugin`` to pass its options, such as
``--backend torch``), or from a checkout ``pytest gumbelkit/conformance --backend torch``.
See docs/conformance.md. Importing gumbelkit does not import this package.
"""
