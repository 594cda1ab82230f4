"""Python sources as highlighted lines for the read-only listings (a version's source, a
diff's sides): Pygments tokenises, its HTML formatter escapes every token and closes its
spans at each line's end, so each line is a complete fragment a template can number."""

from __future__ import annotations

from markupsafe import Markup, escape
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import PythonLexer

# Past this, a listing is shown plain: highlighting 1 MiB takes seconds of a worker.
MAX_HIGHLIGHTED_CHARS = 256 * 1024

_LEXER = PythonLexer(stripnl=False, ensurenl=False, tabsize=0)
_FORMATTER = HtmlFormatter(nowrap=True)


def source_lines(source: str) -> list[str]:
    """A source's lines numbered as Python numbers them: split at newlines only (not at form
    feeds, as ``splitlines`` would), without the empty line after the last newline."""
    return source.removesuffix("\n").split("\n")


def highlighted_lines(source: str) -> list[Markup]:
    """``source_lines(source)``, each as safe HTML with Pygments' token classes."""
    lines = source_lines(source)
    if len(source) <= MAX_HIGHLIGHTED_CHARS:
        html = highlight("\n".join(lines), _LEXER, _FORMATTER).removesuffix("\n").split("\n")
        if len(html) == len(lines):  # else a lexer quirk: never show lines out of place
            return [Markup(line) for line in html]
    return [escape(line) for line in lines]
