"""Read a server-rendered table from its HTML in Python: no page, so no renderer process per read.

A back office's table page is static HTML (no JS builds it), so fetching it with the logged-in
context's ``context.request`` and selecting here gives what the page's DOM would. Selectors are the CSS
subset profiles use and the recorder writes: a type, ``*``, ``#id``, ``.class``, ``[attr]``,
``[attr=value]`` and ``:nth-of-type(n)``, joined by descendant (space) or child (``>``) combinators.
The tree builder repairs tables as a browser does (implied ``</td>``, ``</tr>``, and the ``<tbody>`` a
bare ``<tr>`` gets), so a selector that matched in Chromium matches here.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser

_VOID = frozenset({"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
                   "track", "wbr"})
# An opening tag closes these open elements, but not across the boundary tags (as the HTML parser does).
_IMPLIED_END = {
    "td": ({"td", "th"}, {"tr", "table"}),
    "th": ({"td", "th"}, {"tr", "table"}),
    "tr": ({"tr", "td", "th"}, {"table", "thead", "tbody", "tfoot"}),
    "thead": ({"thead", "tbody", "tfoot", "tr", "td", "th"}, {"table"}),
    "tbody": ({"thead", "tbody", "tfoot", "tr", "td", "th"}, {"table"}),
    "tfoot": ({"thead", "tbody", "tfoot", "tr", "td", "th"}, {"table"}),
}
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?([\w-]+)""", re.IGNORECASE)


@dataclass(eq=False)
class Element:
    tag: str
    attrs: dict[str, str]
    parent: Element | None = None
    children: list[Element | str] = field(default_factory=list)

    def elements(self) -> Iterator[Element]:
        """Descendant elements in document order."""
        for child in self.children:
            if isinstance(child, Element):
                yield child
                yield from child.elements()

    def text(self) -> str:
        """The DOM's ``textContent``, trimmed."""
        return "".join(self._texts()).strip()

    def _texts(self) -> Iterator[str]:
        for child in self.children:
            if isinstance(child, str):
                yield child
            else:
                yield from child._texts()


class _TreeBuilder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.document = Element("#document", {})
        self._open = [self.document]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        closes, boundary = _IMPLIED_END.get(tag, (set(), set()))
        closed = len(self._open)
        for index in range(len(self._open) - 1, 0, -1):
            name = self._open[index].tag
            if name in boundary:
                break
            if name in closes:
                closed = index  # the outermost one: a new <tr> closes the open <td> and its <tr>
        del self._open[closed:]
        if tag == "tr" and self._open[-1].tag == "table":
            self._push("tbody", {})
        element = self._push(tag, {name: value or "" for name, value in attrs})
        if tag in _VOID:
            self._open.remove(element)

    handle_startendtag = handle_starttag  # HTML ignores the slash of <div/>; void elements never open

    def handle_endtag(self, tag: str) -> None:
        for index in range(len(self._open) - 1, 0, -1):
            if self._open[index].tag == tag:
                del self._open[index:]
                return

    def handle_data(self, data: str) -> None:
        self._open[-1].children.append(data)

    def _push(self, tag: str, attrs: dict[str, str]) -> Element:
        element = Element(tag, attrs, self._open[-1])
        self._open[-1].children.append(element)
        self._open.append(element)
        return element


def parse_html(body: bytes, content_type: str = "") -> Element:
    """The document tree of an HTML answer, decoded by its declared charset (else UTF-8)."""
    try:
        text = body.decode(_charset(body, content_type), errors="replace")
    except LookupError:
        text = body.decode("utf-8", errors="replace")
    builder = _TreeBuilder()
    builder.feed(text)
    builder.close()
    return builder.document


def _charset(body: bytes, content_type: str) -> str:
    if header := re.search(r"charset=([\w-]+)", content_type, re.IGNORECASE):
        return header.group(1)
    if meta := _META_CHARSET.search(body[:2048]):
        return meta.group(1).decode("ascii")
    return "utf-8"


@dataclass(frozen=True, slots=True)
class _Compound:
    tag: str | None = None
    attrs: tuple[tuple[str, str | None], ...] = ()  # (name, None) = present; #id and .class become these
    classes: tuple[str, ...] = ()
    nth_of_type: int | None = None

    def matches(self, element: Element) -> bool:
        if element.parent is None or (self.tag is not None and element.tag != self.tag):
            return False
        if any(name not in element.attrs or (value is not None and element.attrs[name] != value)
               for name, value in self.attrs):
            return False
        if self.classes and not set(self.classes) <= set(element.attrs.get("class", "").split()):
            return False
        if self.nth_of_type is not None:
            same = [c for c in element.parent.children if isinstance(c, Element) and c.tag == element.tag]
            return same.index(element) + 1 == self.nth_of_type
        return True


_COMBINATOR = re.compile(r"\s*>\s*|\s+")
_SIMPLE = re.compile(
    r"""(?P<tag>\*|[a-zA-Z][\w-]*)|\#(?P<id>(?:[\w-]|\\.)+)|\.(?P<cls>[\w-]+)"""
    r"""|\[\s*(?P<attr>[\w:-]+)\s*(?:=\s*(?:"(?P<dq>[^"]*)"|'(?P<sq>[^']*)'|(?P<bare>[\w-]+))\s*)?\]"""
    r"""|:nth-of-type\(\s*(?P<nth>\d+)\s*\)"""
)
_SUPPORTED = "type, *, #id, .class, [attr], [attr=value], :nth-of-type(n), descendant and > combinators"


@dataclass(frozen=True, slots=True)
class Selector:
    """A parsed selector: compounds from left to right, each with the combinator before it."""

    parts: tuple[tuple[str, _Compound], ...]

    def select(self, scope: Element) -> list[Element]:
        """``scope.querySelectorAll(selector)``: matching descendants of ``scope`` in document order."""
        return [element for element in scope.elements() if self._matches(element, len(self.parts) - 1)]

    def _matches(self, element: Element, index: int) -> bool:
        combinator, compound = self.parts[index]
        if not compound.matches(element):
            return False
        if index == 0:
            return True
        if combinator == ">":
            return element.parent is not None and self._matches(element.parent, index - 1)
        ancestor = element.parent
        while ancestor is not None:
            if self._matches(ancestor, index - 1):
                return True
            ancestor = ancestor.parent
        return False


def parse_selector(text: str) -> Selector:
    """Parse ``text``; ValueError names what is outside the supported subset."""
    text = text.strip()
    parts: list[tuple[str, _Compound]] = []
    combinator, position = " ", 0
    while True:
        compound, position = _compound(text, position)
        parts.append((combinator, compound))
        if position == len(text):
            return Selector(tuple(parts))
        between = _COMBINATOR.match(text, position)
        if between is None:
            raise _unsupported(text, position)
        combinator, position = (">" if ">" in between.group() else " "), between.end()


def _compound(text: str, position: int) -> tuple[_Compound, int]:
    start = position
    tag: str | None = None
    attrs: list[tuple[str, str | None]] = []
    classes: list[str] = []
    nth: int | None = None
    while (simple := _SIMPLE.match(text, position)) is not None:
        position = simple.end()
        if simple["tag"]:
            tag = None if simple["tag"] == "*" else simple["tag"].lower()
        elif simple["id"]:
            attrs.append(("id", re.sub(r"\\(.)", r"\1", simple["id"])))
        elif simple["cls"]:
            classes.append(simple["cls"])
        elif simple["attr"]:
            value = next((v for v in (simple["dq"], simple["sq"], simple["bare"]) if v is not None), None)
            attrs.append((simple["attr"].lower(), value))
        else:
            nth = int(simple["nth"])
    if position == start:
        raise _unsupported(text, position)
    return _Compound(tag, tuple(attrs), tuple(classes), nth), position


def _unsupported(text: str, position: int) -> ValueError:
    return ValueError(f"unsupported selector {text!r} at {text[position:] or 'its end'!r} (supported: {_SUPPORTED})")
