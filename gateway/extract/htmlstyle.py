"""CSS in mail HTML -> what it hides and what text it generates.

Stage: a ``<style>`` sheet or a ``style`` attribute (str) -> declarations, rules, a
hidden/not-hidden answer and the strings of ``content:`` (generated text).

The scanner here is a set of C-speed regular expressions rather than tinycss2's
tokenizer: tinycss2 takes about 1.5 s for 50,000 rules, and a hostile message can carry
that many.  The regexes follow the CSS Syntax tokenizer where it matters for us:
strings (with escapes) and comments are recognised first, so a brace, semicolon or
``/*`` inside a string never ends a rule; escapes in property names (``dis\\70 lay``)
are decoded before comparing.  Colours are parsed with tinycss2's colour parser.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from tinycss2.color3 import RGBA, parse_color  # type: ignore[import-untyped]

# a string (possibly unterminated, as CSS allows at EOF), or a comment
_STRING_OR_COMMENT = re.compile(
    r"""("(?:[^"\\\n]|\\[\s\S])*"?|'(?:[^'\\\n]|\\[\s\S])*'?)|/\*[\s\S]*?(?:\*/|\Z)"""
)
_STRUCTURAL = str.maketrans({"{": "\\7b ", "}": "\\7d ", ";": "\\3b ", ":": "\\3a "})
_ESCAPE = re.compile(r"\\(?:([0-9a-fA-F]{1,6})[ \t\n\r\f]?|([\s\S]))")
_STRING = re.compile(r""""((?:[^"\\]|\\[\s\S])*)"?|'((?:[^'\\]|\\[\s\S])*)'?""")
_BRACES = re.compile(r"([{}])")
_DECLARATION = re.compile(r"([^:;]+):([^;]*)")
_IMPORTANT = re.compile(r"!\s*important\s*$", re.IGNORECASE)
_LENGTH = re.compile(r"^([+-]?(?:\d+\.?\d*|\.\d+))([a-z%]*)$")
_PSEUDO_ELEMENT = re.compile(r"::?(before|after)\s*$", re.IGNORECASE)
# state-dependent selectors do not apply to the message as first shown
_DYNAMIC = re.compile(
    r":(?:hover|focus|active|visited|target|checked|focus-within|focus-visible)\b", re.I
)
_OTHER_PSEUDO_ELEMENT = re.compile(r"::", re.IGNORECASE)

_WHITE = RGBA(1.0, 1.0, 1.0, 1.0)
# a property at or below this size (px, or a plain number) leaves nothing to read
_INVISIBLE_SIZES = (
    ("font-size", 1.0), ("opacity", 0.05), ("width", 0.0), ("height", 0.0),
    ("max-height", 0.0), ("max-width", 0.0),
)  # fmt: skip


def css_unescape(text: str) -> str:
    """``\\37`` / ``\\000037`` / ``\\"`` -> the character they stand for."""
    if "\\" not in text:
        return text
    return _ESCAPE.sub(_unescape_one, text)


def _unescape_one(match: re.Match[str]) -> str:
    hexdigits, char = match.groups()
    if hexdigits is None:
        return "" if char == "\n" else char
    code = int(hexdigits, 16)
    return chr(code) if 0 < code <= 0x10FFFF and not 0xD800 <= code <= 0xDFFF else "\ufffd"


def _protect(match: re.Match[str]) -> str:
    """Drops comments; escapes the structural characters inside strings."""
    string = match.group(1)
    return "" if string is None else string.translate(_STRUCTURAL)


def clean(css: str) -> str:
    """CSS without comments, whose strings hold no brace, colon or semicolon."""
    if "/*" not in css and '"' not in css and "'" not in css:
        return css
    return _STRING_OR_COMMENT.sub(_protect, css)


def declarations(block: str) -> dict[str, str]:
    """``a: b; c: d`` (cleaned) -> {property: value}, lower-case, last one wins."""
    found: dict[str, str] = {}
    important: set[str] = set()
    for name, raw in _DECLARATION.findall(block):
        prop = css_unescape(name).strip().lower()
        marked = _IMPORTANT.search(raw)
        if marked:
            important.add(prop)
        elif prop in important:
            continue
        found[prop] = (raw[: marked.start()] if marked else raw).strip()
    return found


def content_text(value: str) -> str:
    """The strings of a ``content:`` value, escapes decoded (``attr()`` etc. ignored)."""
    return "".join(css_unescape(a or b) for a, b in _STRING.findall(value))


@dataclass(frozen=True, slots=True)
class Rule:
    """One selector of a style rule: what it hides or generates."""

    selector: str
    pseudo: str  # "", "before" or "after"
    hides: bool
    content: str


def parse_sheet(css: str) -> list[Rule]:
    """A style sheet -> its rules that hide elements or generate text, in order.

    Rules inside ``@media`` and other at-rules count too: over-reading is safe, since
    hidden text is still read, in the hidden reading.
    """
    rules: list[Rule] = []
    for prelude, block in _innermost_blocks(clean(css)):
        selectors = prelude.rsplit(";", 1)[-1].strip()
        if not selectors or selectors.startswith("@"):
            continue
        decls = declarations(block)
        content = content_text(decls["content"]) if "content" in decls else ""
        hides = hides_text(decls)
        if not content and not hides:
            continue
        for selector in selectors.split(","):
            rule = _rule(css_unescape(selector).strip(), hides, content)
            if rule is not None:
                rules.append(rule)
    return rules


def _innermost_blocks(css: str) -> list[tuple[str, str]]:
    """(prelude, body) of every block holding no other block: the style rules.

    One linear pass over the brace tokens (a regex search for ``[^{}]*{[^{}]*}`` would
    retry from every position of a long at-rule prelude, quadratic time).
    """
    parts = _BRACES.split(css)
    blocks = []
    for i in range(1, len(parts) - 2, 2):
        if parts[i] == "{" and parts[i + 2] == "}":
            blocks.append((parts[i - 1], parts[i + 1]))
    return blocks


def _rule(selector: str, hides: bool, content: str) -> Rule | None:
    if not selector or _DYNAMIC.search(selector):
        return None
    pseudo = _PSEUDO_ELEMENT.search(selector)
    if pseudo is not None:
        base = selector[: pseudo.start()].strip() or "*"
        return Rule(base, pseudo.group(1).lower(), False, content) if content else None
    if _OTHER_PSEUDO_ELEMENT.search(selector):
        return None  # ::marker, ::first-line ...: hiding them leaves the text shown
    return Rule(selector, "", hides, "")


def hides_text(decls: dict[str, str], background: RGBA = _WHITE) -> bool:
    """Whether declarations make an element's text invisible on ``background``."""
    if not decls:
        return False
    value = decls.get
    if value("display", "").lower() == "none" or value("mso-hide", "").lower() == "all":
        return True
    if value("visibility", "").lower() in ("hidden", "collapse"):
        return True
    if any(_tiny(value(prop), limit) for prop, limit in _INVISIBLE_SIZES):
        return True
    return "color" in decls and invisible_on(decls["color"], background)


def _tiny(value: str | None, limit: float) -> bool:
    """A length or number at most ``limit`` px (ems and percent scaled to 16 px)."""
    if not value:
        return False
    match = _LENGTH.match(value.strip().lower())
    if match is None:
        return False
    number, unit = float(match.group(1)), match.group(2)
    if unit in ("em", "rem"):
        number *= 16
    elif unit == "%":
        number *= 0.16
    return number <= limit


@lru_cache(maxsize=512)
def color(value: str) -> RGBA | None:
    """A CSS colour value -> RGBA, or None when it is not a plain colour."""
    try:
        parsed = parse_color(css_unescape(value).strip())
    except (TypeError, ValueError):
        return None
    return parsed if isinstance(parsed, RGBA) else None


def background_of(decls: dict[str, str]) -> RGBA | None:
    """The background colour an element's declarations set, if any."""
    for prop in ("background-color", "background"):
        if prop in decls:
            for token in decls[prop].split():
                parsed = color(token)
                if parsed is not None:
                    return parsed
    return None


def invisible_on(value: str, background: RGBA) -> bool:
    """Whether text in colour ``value`` cannot be told from ``background``."""
    parsed = color(value)
    if parsed is None:
        return False
    if parsed.alpha <= 0.05:
        return True
    return all(abs(a - b) <= 0.04 for a, b in zip(parsed[:3], background[:3], strict=True))
