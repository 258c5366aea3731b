"""Every link and every cited Markdown file in the documentation and the code exists.

Two checks, on the repository's own text:

- a Markdown link ``[text](target)`` (or ``![alt](target)``, or a reference definition
  ``[label]: target``) in README.md, CHANGELOG.md and the Markdown files of docs/, examples/
  and benchmarks/ must point at an existing file, and a target with an ``#anchor`` at a
  heading of its Markdown file, slugged as MkDocs' toc extension slugs it;
- a Markdown file cited by name (``docs/mathematics.md``, ``api.md#gumbel``) in those Markdown
  files, or in a docstring or comment of the Python files under gumbelkit/, tests/, examples/
  and benchmarks/, must exist relative to the citing file, the repository root or docs/.

Links to other sites (``http:``, ``https:``, ``mailto:``) are not followed.
"""

from __future__ import annotations

import io
import re
import tokenize
import unicodedata
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from urllib.parse import unquote

import pytest

ROOT = Path(__file__).resolve().parent.parent
MARKDOWN_FILES = ("README.md", "CHANGELOG.md")
MARKDOWN_DIRS = ("docs", "examples", "benchmarks")
PYTHON_DIRS = ("gumbelkit", "tests", "examples", "benchmarks")

FENCE = re.compile(r"^\s*(`{3,}|~{3,})")
HEADING = re.compile(r"^ {0,3}(#{1,6})[ \t]+(.*?)(?:[ \t]+#+)?[ \t]*$")
ATTR_ID = re.compile(r"\s*\{[^}]*#([\w-]+)[^}]*\}\s*$")
CODE_SPAN = re.compile(r"(`+)(.+?)\1")
INLINE_LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]*)>?(?:\s+(?:\"[^\"]*\"|'[^']*'))?\s*\)")
REFERENCE_DEFINITION = re.compile(r"^ {0,3}\[[^\]]+\]:\s*<?([^\s>]+)>?")
SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")
URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://\S+")
# A cited Markdown file: a path ending in .md (not .mdx), with an optional #anchor.
CITATION = re.compile(r"(?<![\w./-])((?:\.\.?/)*[\w][\w./-]*?\.md)(?![\w])(?:#([\w-]+))?")
SNIPPET = re.compile(r"^\s*-{1,3}8<-{1,3}\s+[\"']([^\"']+)[\"']")
MKDOCSTRINGS = re.compile(r"^:::\s+([\w.]+)")
HTML_ID = re.compile(r"""\bid=["']([^"']+)["']""")


def slugify(text: str) -> str:
    """Return the anchor MkDocs' toc extension gives a heading of rendered text ``text``.

    Python-Markdown's ``toc.slugify``: ASCII-fold, drop every character but word characters,
    whitespace and hyphens, lowercase, and join runs of whitespace and hyphens with one hyphen.
    """
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    text = re.sub(r"[^\w\s-]", "", text).strip().lower()
    return re.sub(r"[-\s]+", "-", text)


def heading_text(source: str) -> str:
    """Return the text of a heading's Markdown ``source`` as rendered (markup removed)."""
    text = CODE_SPAN.sub(lambda match: match.group(2).strip(), source)
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", text)  # links and images: their text
    text = re.sub(r"<[^>]+>", "", text)  # inline HTML
    text = re.sub(r"(?<!\w)_(\S(?:.*?\S)?)_(?!\w)", r"\1", text)  # _emphasis_
    return text.replace("\\", "")


def outside_fences(text: str) -> Iterator[tuple[int, str]]:
    """Yield ``(line number, line)`` for the lines of ``text`` outside fenced code blocks."""
    fence = None
    for number, line in enumerate(text.splitlines(), start=1):
        match = FENCE.match(line)
        if fence is None:
            if match:
                fence = match.group(1)
                continue
            yield number, line
        elif match and match.group(1)[0] == fence[0] and len(match.group(1)) >= len(fence):
            fence = None


@cache
def anchors(path: Path) -> frozenset[str]:
    """Return the anchors of the Markdown file ``path``, with the files it includes.

    Headings get MkDocs' slugs (a repeated slug gets ``_1``, ``_2``...); ``{#id}`` attributes
    and HTML ``id`` attributes count as given. A ``--8<-- "path"`` snippet (a path from the
    repository root) brings the headings of the included file; a ``::: module.name`` block of
    mkdocstrings brings the anchors under ``module.name``, which are checked only by prefix.
    """
    found: list[str] = []
    seen: dict[str, int] = {}
    for _, line in outside_fences(path.read_text(encoding="utf-8")):
        found.extend(HTML_ID.findall(line))
        snippet = SNIPPET.match(line)
        if snippet and (ROOT / snippet.group(1)).is_file():
            found.extend(anchors(ROOT / snippet.group(1)))
            continue
        directive = MKDOCSTRINGS.match(line)
        if directive:
            found.append(directive.group(1) + ".*")
            continue
        heading = HEADING.match(line)
        if heading is None:
            continue
        source = heading.group(2)
        attribute = ATTR_ID.search(source)
        if attribute:
            found.append(attribute.group(1))
            continue
        slug = slugify(heading_text(source))
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        found.append(slug if count == 0 else f"{slug}_{count}")
    return frozenset(found)


def has_anchor(path: Path, anchor: str) -> bool:
    """Return whether the Markdown file ``path`` has the anchor ``anchor``."""
    known = anchors(path)
    if anchor in known:
        return True
    prefixes = [name[:-2] for name in known if name.endswith(".*")]
    return any(anchor == prefix or anchor.startswith(prefix + ".") for prefix in prefixes)


def relative(path: Path) -> str:
    """Return ``path`` relative to the repository root, with forward slashes."""
    return path.relative_to(ROOT).as_posix()


def markdown_files() -> list[Path]:
    """Return the Markdown files whose links and citations are checked."""
    files = [ROOT / name for name in MARKDOWN_FILES if (ROOT / name).is_file()]
    for folder in MARKDOWN_DIRS:
        files.extend(sorted((ROOT / folder).rglob("*.md")))
    return files


def python_files() -> list[Path]:
    """Return the Python files whose docstrings and comments are checked."""
    return [path for folder in PYTHON_DIRS for path in sorted((ROOT / folder).rglob("*.py"))]


def markdown_links(text: str) -> Iterator[tuple[int, str]]:
    """Yield ``(line, target)`` for the links of Markdown ``text``, outside code.

    A link whose text wraps onto the next line counts, at the line of its target.
    """
    lines = [""] * len(text.splitlines())
    for number, line in outside_fences(text):
        lines[number - 1] = CODE_SPAN.sub("", line)
    prose = "\n".join(lines)
    found = [
        (number, definition.group(1))
        for number, line in enumerate(lines, start=1)
        if (definition := REFERENCE_DEFINITION.match(line))
    ]
    found.extend(
        (prose.count("\n", 0, match.start(1)) + 1, match.group(1))
        for match in INLINE_LINK.finditer(prose)
    )
    yield from sorted(found, key=lambda item: item[0])


def link_problem(source: Path, target: str) -> str | None:
    """Return why the link ``target`` in the Markdown file ``source`` is broken, or None."""
    if not target or SCHEME.match(target):
        return None  # another site, mailto:, or an empty target
    path_part, _, anchor = target.partition("#")
    path_part = unquote(path_part.split("?", 1)[0])
    if not path_part:
        path = source
    elif path_part.startswith("/"):
        path = ROOT / path_part.lstrip("/")
    else:
        path = (source.parent / path_part).resolve()
    if not path.exists():
        return "no such file"
    if anchor and path.suffix == ".md" and path.is_file() and not has_anchor(path, anchor):
        return f"no heading with the anchor #{anchor} in {relative(path)}"
    return None


def resolve_citation(source: Path, name: str) -> Path | None:
    """Return the file a citation ``name`` in ``source`` names, or None if there is none.

    ``name`` is tried relative to the citing file, to the repository root and to docs/.
    """
    for base in (source.parent, ROOT, ROOT / "docs"):
        path = (base / name).resolve()
        if path.is_file():
            return path
    return None


def citation_problems(source: Path, number: int, text: str) -> Iterator[str]:
    """Yield a message for each citation in ``text`` (from line ``number`` of ``source``)
    of a Markdown file or anchor that does not exist."""
    text = URL.sub(" ", text)
    for match in CITATION.finditer(text):
        name, anchor = match.group(1), match.group(2)
        line = number + text.count("\n", 0, match.start())
        where = f"{relative(source)}:{line}"
        path = resolve_citation(source, name)
        if path is None:
            yield f"{where}: cites {match.group(0)}: no such file in the repository"
        elif anchor and path.suffix == ".md" and not has_anchor(path, anchor):
            yield (
                f"{where}: cites {match.group(0)}: no heading with the anchor #{anchor} "
                f"in {relative(path)}"
            )


def python_prose(text: str) -> Iterator[tuple[int, str]]:
    """Yield ``(first line, text)`` for the comments and docstrings of Python source ``text``.

    A docstring is a statement made of string literals alone (module, class, function and
    attribute docstrings); other strings are code, whose ``.md`` names are data, not citations.
    """
    pending: list[tokenize.TokenInfo] = []
    statement_start = True
    for token in tokenize.generate_tokens(io.StringIO(text).readline):
        if token.type == tokenize.COMMENT:
            yield token.start[0], token.string
        elif token.type == tokenize.STRING and (statement_start or pending):
            pending.append(token)
            statement_start = False
        elif token.type == tokenize.NL:
            continue
        elif token.type in (tokenize.NEWLINE, tokenize.ENDMARKER):
            for string in pending:
                yield string.start[0], string.string
            pending = []
            statement_start = True
        elif token.type in (tokenize.INDENT, tokenize.DEDENT, tokenize.ENCODING):
            statement_start = True
        else:
            pending = []
            statement_start = False


# --- the slug rule and the extractors --------------------------------------------------------


@pytest.mark.parametrize(
    ("heading", "slug"),
    [
        ("1. Uniforms come from the open interval (0, 1)",
         "1-uniforms-come-from-the-open-interval-0-1"),
        ("2. Noise and softmax in float32 or wider", "2-noise-and-softmax-in-float32-or-wider"),
        ("`validate=True`", "validatetrue"),
        ("Random numbers (`rng`)", "random-numbers-rng"),
        ("`gumbel_softmax`", "gumbel_softmax"),
        ("Gumbel-top-k and the Plackett-Luce law", "gumbel-top-k-and-the-plackett-luce-law"),
        ("The base-measure caveat", "the-base-measure-caveat"),
        ("`gumbelkit check`", "gumbelkit-check"),
        ("Cram\u00e9r\u2013von Mises: a test", "cramervon-mises-a-test"),
    ],
)
def test_slug_rule_matches_mkdocs(heading: str, slug: str) -> None:
    """Headings of the docs get the anchors MkDocs gives them (Python-Markdown's toc slugify)."""
    assert slugify(heading_text(heading)) == slug
    toc = pytest.importorskip("markdown.extensions.toc",
                              reason="Python-Markdown is not installed (the docs extra)")
    assert toc.slugify(heading_text(heading), "-") == slug


def test_anchors_of_a_real_page() -> None:
    """The anchors other pages link to are found, and an unknown one is not."""
    page = ROOT / "docs" / "numeric-contract.md"
    assert has_anchor(page, "1-uniforms-come-from-the-open-interval-0-1")
    assert has_anchor(page, "validatetrue")
    assert not has_anchor(page, "no-such-heading")


def test_extractors_skip_code_and_other_sites() -> None:
    """Links inside code, links to other sites and docstring-free strings are not checked."""
    text = (
        "See [a](a.md#x) and `[b](b.md)`, ![c](img.png) and [d](https://example.org/d.md).\n"
        "```\n[e](e.md)\n```\n[f]: f.md\nA [wrapped\nlink](g.md).\n"
    )
    assert list(markdown_links(text)) == [
        (1, "a.md#x"), (1, "img.png"), (1, "https://example.org/d.md"), (5, "f.md"),
        (7, "g.md"),
    ]
    assert link_problem(ROOT / "README.md", "https://example.org/d.md") is None
    assert link_problem(ROOT / "README.md", "docs/index.md") is None
    assert link_problem(ROOT / "README.md", "docs/absent.md") == "no such file"
    assert link_problem(ROOT / "docs" / "index.md", "api.md#gumbel") is None
    assert link_problem(ROOT / "docs" / "index.md", "api.md#nowhere") == (
        "no heading with the anchor #nowhere in docs/api.md"
    )
    missing = "absent" + ".md"
    source = (
        f'"""Module docstring, {missing}."""\n'
        f'x = "{missing}"  # comment {missing}\n'
        "def f():\n"
        f'    """Function docstring."""\n'
        f'    return "{missing}"\n'
    )
    prose = [(line, text) for line, text in python_prose(source) if missing in text]
    assert [line for line, _ in prose] == [1, 2]
    problems = list(citation_problems(ROOT / "tests" / "x.py", 7, f"a\nsee {missing} and "
                                      "docs/index.md, api.md#gumbel and api.md#nowhere"))
    assert problems == [
        f"tests/x.py:8: cites {missing}: no such file in the repository",
        "tests/x.py:8: cites api.md#nowhere: no heading with the anchor #nowhere in "
        "docs/api.md",
    ]


# --- the repository ---------------------------------------------------------------------------


def test_markdown_links_resolve() -> None:
    """Every relative link of the Markdown files names an existing file and heading."""
    problems = []
    for source in markdown_files():
        for line, target in markdown_links(source.read_text(encoding="utf-8")):
            problem = link_problem(source, target)
            if problem is not None:
                problems.append(f"{relative(source)}:{line}: link to {target}: {problem}")
    assert not problems, "broken links:\n" + "\n".join(problems)


def test_markdown_files_cite_existing_files() -> None:
    """Every Markdown file named in the Markdown files' prose exists."""
    problems = []
    for source in markdown_files():
        text = source.read_text(encoding="utf-8")
        for number, line in enumerate(text.splitlines(), start=1):
            prose = INLINE_LINK.sub(" ", line)  # link targets: test_markdown_links_resolve
            prose = REFERENCE_DEFINITION.sub(" ", prose)
            problems.extend(citation_problems(source, number, prose))
    assert not problems, "citations of missing files:\n" + "\n".join(problems)


def test_python_docstrings_and_comments_cite_existing_files() -> None:
    """Every Markdown file named in a docstring or comment of the Python files exists."""
    problems = []
    for source in python_files():
        text = source.read_text(encoding="utf-8")
        if not CITATION.search(text):
            continue
        for number, prose in python_prose(text):
            problems.extend(citation_problems(source, number, prose))
    assert not problems, "citations of missing files:\n" + "\n".join(problems)
