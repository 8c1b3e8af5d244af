"""HTML -> text, read the way an HTML5 browser parses it, plus what it hides.

Stage: markup (str) -> one text: the visible reading; then, when the document hides
anything (hidden elements, comments, template contents), a separator line and the full
reading with the hidden parts in place; then one line for each text a reader can reach
outside the flow (``alt``, ``title``, ``mailto:``/``tel:`` targets, CSS ``content``).

Why two readings: ``King<span hidden>9</span>fisher`` shows ``Kingfisher`` and hides a
``9``; a detail split by hidden junk is whole only in the visible reading, a detail
spread over hidden parts only in the full one.  Everything in the document is in the
full reading, so the visible one may over-hide without losing text.

Parsing is Lexbor's (selectolax), which follows the WHATWG tokenizer and tree builder
(comment, entity and raw-text edge cases end where a browser ends them), in linear time
for the inputs mail carries; the guards in ``_trees`` bound its few quadratic paths.
"""

from __future__ import annotations

import binascii
import re
from collections.abc import Iterator
from typing import NamedTuple
from urllib.parse import parse_qsl, unquote

from selectolax.lexbor import LexborDocumentOptions, LexborHTMLParser, LexborNode
from tinycss2.color3 import RGBA  # type: ignore[import-untyped]

from gateway.extract.htmlstyle import (
    Rule,
    background_of,
    clean,
    color,
    content_text,
    declarations,
    hides_text,
    invisible_on,
    parse_sheet,
)

HIDDEN_SEPARATOR = "\n\n----\n\n"

# Lexbor's tree builder walks the stack of open elements for scope checks and keeps
# attributes in a list: deep nesting and huge attribute lists cost quadratic time.
# Documents with more tags than this are parsed in pieces of _PIECE_TAGS tags.
_WHOLE_TAGS = 5000
_PIECE_TAGS = 600
_TAG_START = re.compile(r"<[A-Za-z/!?]")
# A start tag with more than 64 attributes (tokenizer syntax, atomic so it cannot
# backtrack): a ">" is put after the 64th, so the rest reads as text, nothing is lost.
_SPACE = r"[\t\n\f\r ]"
_ATTRIBUTE = (
    rf"(?>[\t\n\f\r /]*(?>[^\t\n\f\r />][^\t\n\f\r />=]*)"
    rf"(?>{_SPACE}*={_SPACE}*(?>\"[^\"]*\"|'[^']*'|[^\t\n\f\r >]*))?)"
)
_MANY_ATTRIBUTES = re.compile(
    rf"<[A-Za-z][^\t\n\f\r />]*{_ATTRIBUTE}{{64}}(?=[\t\n\f\r /]*[^\t\n\f\r />])"
)
# after a cut, stray cells and rows still need a table to be told apart
_PIECE_PREFIX = "<table><tr><td>"


def html_to_text(markup: str) -> str:
    """Visible reading, then (if anything is hidden) the full one, then reachable texts."""
    trees = list(_trees(markup))
    rules = _rules(trees)
    reader = Reader(rules)
    for tree in trees:
        root = tree.root
        if root is None:
            continue
        reader.read(root)
        for fragment in root.template_fragments():
            # template contents are never rendered: hidden reading only
            for child in fragment.iter(include_text=True):
                reader.read(child, hidden=True)
    return reader.text(HIDDEN_SEPARATOR)


def _trees(markup: str) -> Iterator[LexborHTMLParser]:
    """The markup parsed whole, or in pieces when it has very many tags."""
    if "<" not in markup:
        yield _parse(markup)
        return
    markup = _MANY_ATTRIBUTES.sub(r"\g<0>>", markup)
    if markup.count("<") <= _WHOLE_TAGS:
        yield _parse(markup)
        return
    start = 0
    for count, match in enumerate(_TAG_START.finditer(markup), 1):
        if count % _PIECE_TAGS == 0:
            yield _parse(
                _PIECE_PREFIX + markup[start : match.start()] if start else markup[: match.start()]
            )
            start = match.start()
    yield _parse(_PIECE_PREFIX + markup[start:] if start else markup)


def _parse(markup: str) -> LexborHTMLParser:
    # No mutation events: they copy <option> text into <selectedcontent> (quadratic
    # in the number of options) and would read the same text twice.
    return LexborHTMLParser(markup, options=LexborDocumentOptions.WO_EVENTS)


def _rules(trees: list[LexborHTMLParser]) -> list[Rule]:
    """The hiding and generating rules of every ``<style>`` in the document."""
    rules: list[Rule] = []
    for tree in trees:
        for style in tree.css("style"):
            rules.extend(parse_sheet(style.text(deep=True)))
    return rules


def link_texts(href: str) -> list[str]:
    """``mailto:``/``tel:`` link -> its address and the texts its query carries."""
    scheme, _, rest = href.strip().partition(":")
    if scheme.strip().lower() not in _LINK_SCHEMES or not rest:
        return []
    target, _, query = rest.partition("?")
    texts = [unquote(target)]
    texts.extend(value for _, value in parse_qsl(query))
    return [text.strip() for text in texts if text.strip()]


_LINK_SCHEMES = frozenset(("mailto", "tel", "callto", "sms", "fax"))
# A picture carried in the markup itself (``<img src="data:image/png;base64,...">``,
# a CSS ``url(data:...)``): found by a scan of the text rather than of the tree, so it
# is found in any attribute or style.
_DATA_IMAGE = re.compile(
    r"data:[\t\n\f\r ]*image/([\w.+-]{1,40})[^,\"'<>()]{0,200}?;[\t\n\f\r ]*base64,"
    r"([A-Za-z0-9+/=\t\n\f\r ]+)",
    re.IGNORECASE,
)
_SPACES = re.compile(r"[\t\n\f\r ]+")


def inline_images(markup: str) -> Iterator[tuple[str, bytes]]:
    """(subtype, bytes) of each base64 ``data:image/...`` URL in ``markup``, in order."""
    # A case-blind regex tries every position (0.2 ms per 16 KB); the literal "64,"
    # that ends every ";base64," is found in microseconds, so mail without one pays that.
    if "64," not in markup:
        return
    for match in _DATA_IMAGE.finditer(markup):
        payload = _SPACES.sub("", match[2]).rstrip("=")
        try:
            data = binascii.a2b_base64(payload + "=" * (-len(payload) % 4))
        except binascii.Error:
            continue  # not base64 after all: nothing a browser would show
        if data:
            yield match[1].lower(), data


# a compact table of tag names reads better than one name per line
# fmt: off
_BLOCK = frozenset((
    "address", "article", "aside", "blockquote", "br", "caption", "center", "dd",
    "details", "dialog", "div", "dl", "dt", "fieldset", "figcaption", "figure", "footer",
    "form", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr", "legend", "li", "main",
    "nav", "ol", "option", "p", "pre", "section", "summary", "table", "tbody", "tfoot",
    "thead", "title", "tr", "ul", "textarea", "xmp", "plaintext", "listing", "select",
))
# fmt: on
_CELL = frozenset(("td", "th"))
# Script is code no mail client runs or shows; reading it would add noise, not what
# the recipient sees.  Style sheets are read for what they hide and generate instead.
_SKIP = frozenset(("script", "style"))
# raw text a browser keeps but never renders: part of the hidden reading
_UNRENDERED = frozenset(("noembed", "noframes", "iframe"))
_TEXT_ATTRS = frozenset(("alt", "title", "value", "placeholder", "aria-label", "label"))
# tags inside a comment (Outlook's conditional comments hold markup it renders)
_MARKUP = re.compile(r"<[^<>]*>|\[if [^\]]*\]>|<!\[endif\]", re.IGNORECASE)
_WHITE = RGBA(1.0, 1.0, 1.0, 1.0)
# Past this many candidate rules for one element, rules are applied without checking
# their full selector (over-hiding is safe; checking every one would be quadratic).
_CHECKED_RULES = 32
_PRECISE_RULES = 200
_RIGHTMOST = re.compile(r"[\s>+~]+")
_KEYS = re.compile(r"([#.]?)(-?[A-Za-z_\u0080-\uffff][\w\u0080-\uffff-]*)")


class _State(NamedTuple):
    """What an open element passes to its contents, and emits when it closes."""

    hidden: bool
    background: RGBA
    after: str = ""
    closer: str = ""


class Reader:
    """Walks parsed trees iteratively (no recursion limit) into the two readings."""

    def __init__(self, rules: list[Rule]) -> None:
        self.visible: list[str] = []
        self.full: list[str] = []
        self.extra: dict[str, None] = {}
        self.hides = False
        self._rules = _index(rules)
        for rule in rules:
            if rule.content:
                self.add_extra(rule.content)
        self._precise = len(rules) <= _PRECISE_RULES

    def text(self, separator: str) -> str:
        """The visible reading, the full one if anything hid, then reachable texts."""
        out = "".join(self.visible).strip()
        if self.hides:
            out = f"{out}{separator}{''.join(self.full).strip()}"
        if self.extra:
            out = f"{out}\n\n" + "\n".join(self.extra)
        return out.strip()

    def add_extra(self, text: str) -> None:
        """A text outside the flow: one line of its own."""
        text = " ".join(text.split())
        if text:
            self.extra[text] = None

    def read(self, root: LexborNode, hidden: bool = False) -> None:
        """Reads ``root`` and everything below it, depth first."""
        stack = [_State(hidden, _WHITE)]
        node, depth = root, 0
        while True:
            if self._enter(node, stack):
                child = node.first_child
                if child is not None:
                    node, depth = child, depth + 1
                    continue
                self._leave(stack)
            while True:
                if depth == 0:
                    return
                sibling = node.next
                if sibling is not None:
                    node = sibling
                    break
                node, depth = node.parent, depth - 1  # type: ignore[assignment]
                self._leave(stack)

    def _emit(self, text: str, hidden: bool) -> None:
        if hidden:
            self.full.append(text)
            if not self.hides and text.strip():
                self.hides = True
        else:
            self.visible.append(text)
            self.full.append(text)

    def _enter(self, node: LexborNode, stack: list[_State]) -> bool:
        """Emits what comes before ``node``'s contents; True if a state was pushed."""
        tag = node.tag
        if tag == "-text":
            self._emit(node.text_content or "", stack[-1].hidden)
            return False
        if tag == "-comment":
            # a comment is content too: a leak in a comment is a leak
            self._emit(_MARKUP.sub("", node.comment_content or ""), True)
            return False
        if tag is None:  # <?...>: a bogus comment to the tokenizer
            self._emit(_MARKUP.sub("", node.html or ""), True)
            return False
        if tag[0] == "-" or tag in _SKIP:
            return False
        state = stack[-1]
        hidden, background = state.hidden or tag in _UNRENDERED, state.background
        attrs = node.attributes
        if attrs:
            hidden, background = self._attributes(tag, attrs, hidden, background)
        before = after = ""
        if self._rules:
            hidden, before, after = self._apply_rules(node, tag, attrs, hidden)
        closer = "\n" if tag in _BLOCK else "\t" if tag in _CELL else ""
        if closer:  # a hidden block breaks no visible line
            self._emit(closer, hidden)
        if before:
            self._emit(before, hidden)
        stack.append(_State(hidden, background, after, closer))
        return True

    def _leave(self, stack: list[_State]) -> None:
        state = stack.pop()
        if state.after:
            self._emit(state.after, state.hidden)
        if state.closer:
            self._emit(state.closer, state.hidden)

    def _attributes(
        self, tag: str, attrs: dict[str, str | None], hidden: bool, background: RGBA
    ) -> tuple[bool, RGBA]:
        """Texts in attributes; whether the element hides; its background colour."""
        if "hidden" in attrs:
            hidden = True
        if attrs.get("bgcolor"):
            background = color(attrs["bgcolor"] or "") or background
        for name, value in attrs.items():
            if not value:
                continue
            if name in _TEXT_ATTRS:
                self.add_extra(value)
            elif name == "href":
                for text in link_texts(value):
                    self.add_extra(text)
            elif name == "style":
                decls = declarations(clean(value))
                background = background_of(decls) or background
                hidden = hidden or hides_text(decls, background)
                if "content" in decls:
                    self.add_extra(content_text(decls["content"]))
        if tag == "font" and attrs.get("color"):
            hidden = hidden or invisible_on(attrs["color"] or "", background)
        return hidden, background

    def _apply_rules(
        self, node: LexborNode, tag: str, attrs: dict[str, str | None], hidden: bool
    ) -> tuple[bool, str, str]:
        """Style sheet rules matching the element: hidden?, ::before and ::after text."""
        candidates = list(self._rules.get("*", ()))
        candidates += self._rules.get(tag, ())
        if attrs.get("id"):
            candidates += self._rules.get("#" + (attrs["id"] or ""), ())
        for name in (attrs.get("class") or "").split():
            candidates += self._rules.get("." + name, ())
        before = after = ""
        for index, rule in enumerate(candidates):
            if index < _CHECKED_RULES and self._precise and not _matches(node, rule):
                continue
            # the cascade: the last matching rule gives the pseudo-element's content
            if rule.pseudo == "before":
                before = rule.content
            elif rule.pseudo == "after":
                after = rule.content
            elif rule.hides:
                hidden = True
        return hidden, before, after


def _index(rules: list[Rule]) -> dict[str, list[Rule]]:
    """Rules by the key an element must carry; at most _CHECKED_RULES per key.

    Later rules win the cascade, so the last ones are kept; if a dropped one hid, an
    unconditional hiding rule stands in for it (over-hiding is safe).
    """
    index: dict[str, list[Rule]] = {}
    for rule in rules:
        index.setdefault(_rule_key(rule.selector), []).append(rule)
    for key, found in index.items():
        if len(found) > _CHECKED_RULES:
            kept = found[-_CHECKED_RULES:]
            if any(rule.hides for rule in found[:-_CHECKED_RULES]):
                kept.append(Rule("", "", True, ""))
            index[key] = kept
    return index


def _matches(node: LexborNode, rule: Rule) -> bool:
    if not rule.selector:
        return True
    try:
        return bool(node.css_matches(rule.selector))
    except Exception:  # a selector Lexbor cannot evaluate: assume it applies
        return True


def _rule_key(selector: str) -> str:
    """The most selective simple selector of the rightmost compound: #id, .class, tag."""
    compound = _RIGHTMOST.split(selector.strip())[-1]
    keys: dict[str, str] = dict(reversed(_KEYS.findall(compound)))
    if "#" in keys:
        return "#" + keys["#"]
    if "." in keys:
        return "." + keys["."]
    if "" in keys and not compound.startswith((":", "[", "*")):
        return keys[""].lower()
    return "*"
