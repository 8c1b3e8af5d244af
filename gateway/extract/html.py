"""HTML -> text: entities decoded, block tags become line breaks, cells tabs.

Hidden text is kept on purpose: a leak is a leak even when the sender cannot see it.
Script and style contents are dropped; ``alt``, ``title`` and similar attributes that
carry human text are kept.
"""

from __future__ import annotations

from html.parser import HTMLParser

# a compact table of tag names reads better than one name per line
# fmt: off
_BLOCK = frozenset((
    "address", "article", "aside", "blockquote", "br", "caption", "center", "dd",
    "details", "dialog", "div", "dl", "dt", "fieldset", "figcaption", "figure", "footer",
    "form", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr", "legend", "li", "main",
    "nav", "ol", "option", "p", "pre", "section", "summary", "table", "tbody", "tfoot",
    "thead", "title", "tr", "ul",
))
# fmt: on
_CELL = frozenset(("td", "th"))
_SKIP = frozenset(("script", "style"))
_TEXT_ATTRS = frozenset(("alt", "title", "value", "placeholder", "aria-label", "label"))


class _TextParser(HTMLParser):
    """Collects text pieces; never raises on malformed markup."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.pieces: list[str] = []
        self._skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP:
            self._skipping += 1
            return
        if tag in _BLOCK:
            self.pieces.append("\n")
        elif tag in _CELL:
            self.pieces.append("\t")
        for name, value in attrs:
            if name in _TEXT_ATTRS and value:
                self.pieces.append(f" {value} ")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in _SKIP:
            self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP:
            self._skipping = max(0, self._skipping - 1)
        elif tag in _BLOCK:
            self.pieces.append("\n")
        elif tag in _CELL:
            self.pieces.append("\t")

    def handle_data(self, data: str) -> None:
        if not self._skipping:
            self.pieces.append(data)


def html_to_text(markup: str) -> str:
    """Visible and hidden text of an HTML document, with block structure as newlines."""
    parser = _TextParser()
    parser.feed(markup)
    parser.close()
    return "".join(parser.pieces).strip()
