"""XML bytes -> text, with whitespace where the format puts a visual break.

Parsing goes through defusedxml, so DTDs with entities and external references are
refused instead of expanded. The walk is iterative, so deep nesting cannot blow the
Python stack.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from xml.etree.ElementTree import Element

import defusedxml.ElementTree as SafeET  # type: ignore[import-untyped]


@dataclass(frozen=True, slots=True)
class Flattening:
    """How to turn one XML vocabulary into text.

    ``text_tags`` None means every text node counts (mixed content, as in ODF or
    plain XML); otherwise only the text of those elements counts (OOXML ``w:t``).
    ``breaks`` None means a newline after every element.
    """

    text_tags: frozenset[str] | None = None
    breaks: frozenset[str] | None = None
    tabs: frozenset[str] = frozenset()
    #: elements surrounded by a space (tracked changes, ODF ``text:s``)
    spaces: frozenset[str] = frozenset()
    attributes: bool = False


def local(tag: object) -> str:
    """Tag name without its ``{namespace}``."""
    if not isinstance(tag, str):
        return ""
    return tag.rpartition("}")[2]


def parse(data: bytes) -> Element:
    """Parse XML safely (no DTD entities, no external references)."""
    root: Element = SafeET.fromstring(data)
    return root


def _pieces(root: Element, how: Flattening) -> Iterator[str]:
    """Text pieces of ``root`` in document order."""
    stack: list[tuple[Element, bool]] = [(root, False)]
    while stack:
        elem, leaving = stack.pop()
        name = local(elem.tag)
        if leaving:
            if name in how.spaces:
                yield " "
            if how.breaks is None or name in how.breaks:
                yield "\n"
            if how.text_tags is None and elem.tail:
                yield elem.tail
            continue
        if name in how.tabs:
            yield "\t"
        elif name in how.spaces:
            yield " "
        if how.attributes:
            yield from (f" {v} " for v in elem.attrib.values() if v.strip())
        if elem.text and (how.text_tags is None or name in how.text_tags):
            yield elem.text
        stack.append((elem, True))
        stack.extend((c, False) for c in reversed(elem))


def flatten(root: Element, how: Flattening) -> str:
    """Text of an XML tree with breaks, tabs and spaces placed per ``how``."""
    text = "".join(_pieces(root, how)).strip()
    if how.breaks is None:  # one element per line: drop the blank pretty-print lines
        text = "\n".join(line.strip() for line in text.splitlines() if line.strip())
    return text


def xml_to_text(data: bytes, how: Flattening) -> str:
    """Parse ``data`` and flatten it."""
    return flatten(parse(data), how)


#: generic XML attachments: every text node and attribute value, one element per line
GENERIC = Flattening(attributes=True)
