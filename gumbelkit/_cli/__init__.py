"""The commands of ``gumbelkit``: one module each, and the helpers they share in ``_ui``."""
