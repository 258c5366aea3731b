"""A griffe extension for the API reference: Sphinx roles in docstrings become code spans.

numpydoc docstrings may name objects with Sphinx roles such as :func:`gumbelkit.gumbel_max`
or :class:`~gumbelkit.backends.Adapter`. mkdocstrings renders Markdown, where a role would show
as raw text, so each role is replaced by the name in backticks (the title for
:func:`title <target>`, the last component for ``~target``).
"""

from __future__ import annotations

import re
from typing import Any

import griffe

_ROLE = re.compile(r":(?:py:)?[a-z]+:`([^`]+)`")


def _code_span(match: re.Match[str]) -> str:
    text = match.group(1)
    if titled := re.fullmatch(r"(.+?)\s*<[^>]+>", text):
        text = titled.group(1)
    elif text.startswith("~"):
        text = text.rsplit(".", 1)[-1]
    return f"`{text}`"


class SphinxRoles(griffe.Extension):
    """Replace Sphinx roles in every docstring by code spans."""

    def on_object(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        """Rewrite the docstring of ``obj``, before it is parsed."""
        if obj.docstring is not None:
            obj.docstring.value = _ROLE.sub(_code_span, obj.docstring.value)
