"""Answers as plain text: paragraphs and list bullets kept, links written as "text (url)".

HTML is read with BeautifulSoup (the standard library's parser underneath), Markdown with
markdown-it-py (rendered to HTML, then converted like HTML).
"""
from __future__ import annotations

import html
import re
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urljoin

from bs4 import BeautifulSoup, Comment, NavigableString, Tag
from bs4.element import PageElement
from markdown_it import MarkdownIt

BLOCK_TAGS = frozenset({
    "p", "div", "section", "article", "main", "header", "footer", "aside", "nav", "blockquote",
    "pre", "table", "thead", "tbody", "tfoot", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "ul",
    "ol", "li", "dl", "dt", "dd", "figure", "figcaption", "details", "summary", "address", "hr",
    "form", "fieldset", "caption",
})
SKIP_TAGS = frozenset({"script", "style", "noscript", "template", "head", "svg", "iframe",
                       "button", "input", "select", "textarea"})
_HTML_TAGS = BLOCK_TAGS | {"a", "br", "b", "strong", "i", "em", "span", "img", "code", "u",
                           "small", "sup", "sub", "td", "th", "html", "body"}
_BR = "\x00"
_SPACES = re.compile(r"[ \t\r\n\f\v\u00a0\u2000-\u200a\u202f\u205f\u3000]+")
_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff"))
_LINK_SCHEMES = ("http://", "https://", "mailto:", "tel:")


@dataclass
class _Block:
    text: str
    tight: bool = False  # a list item: joined to a neighbouring list item by one newline


class _Writer:
    """Collects inline text into blocks; `flush` closes the current block."""

    def __init__(self, base_url: str | None) -> None:
        self.base_url = base_url
        self.blocks: list[_Block] = []
        self.parts: list[str] = []
        self.prefix = ""
        self.tight = False

    def text(self, value: str) -> None:
        self.parts.append(value)

    def flush(self) -> None:
        raw = "".join(self.parts)
        lines = [_SPACES.sub(" ", line).strip() for line in raw.split(_BR)]
        body = "\n".join(line for line in lines if line)
        if body:
            indent = " " * len(self.prefix)
            text = self.prefix + body.replace("\n", "\n" + indent)
            self.blocks.append(_Block(text, self.tight))
        self.parts, self.prefix, self.tight = [], "", False

    def start_item(self, prefix: str) -> None:
        self.flush()
        self.prefix, self.tight = prefix, True

    def result(self) -> str:
        self.flush()
        out: list[str] = []
        for i, block in enumerate(self.blocks):
            if i:
                both_items = block.tight and self.blocks[i - 1].tight
                out.append("\n" if both_items else "\n\n")
            out.append(block.text)
        return "".join(out).translate(_INVISIBLE).strip()


def html_to_text(source: str | PageElement | Iterable[PageElement],
                 base_url: str | None = None) -> str:
    """Plain text of an HTML fragment (a string, an element, or a run of sibling nodes)."""
    if isinstance(source, str):
        nodes: Iterable[PageElement] = BeautifulSoup(source, "html.parser").contents
    elif isinstance(source, PageElement):
        nodes = [source]
    else:
        nodes = source
    writer = _Writer(base_url)
    for node in nodes:
        _walk(node, writer, depth=0)
    return writer.result()


def _walk(node: PageElement, out: _Writer, depth: int) -> None:
    if isinstance(node, Comment):
        return
    if isinstance(node, NavigableString):
        out.text(str(node))
        return
    if not isinstance(node, Tag) or node.name in SKIP_TAGS:
        return
    name = node.name
    if name == "br":
        out.text(_BR)
    elif name == "hr":
        out.flush()
    elif name == "a":
        _link(node, out, depth)
    elif name == "q":
        out.text('"')
        _children(node, out, depth)
        out.text('"')
    elif name == "img":
        alt = node.get("alt")
        if isinstance(alt, str) and alt.strip():
            out.text(alt)
    elif name == "pre":
        out.flush()
        out.text(node.get_text().replace("\n", _BR))
        out.flush()
    elif name in ("ul", "ol"):
        _list(node, out, depth)
    elif name in ("td", "th"):
        if node.find_previous_sibling(("td", "th")) is not None:
            out.text(" | ")
        _children(node, out, depth)
    elif name in BLOCK_TAGS:
        out.flush()
        _children(node, out, depth)
        out.flush()
    else:
        _children(node, out, depth)


def _children(node: Tag, out: _Writer, depth: int) -> None:
    for child in node.children:
        _walk(child, out, depth)


def _list(node: Tag, out: _Writer, depth: int) -> None:
    out.flush()
    ordered = node.name == "ol"
    start = node.get("start")
    number = int(start) if isinstance(start, str) and start.isdigit() else 1
    for item in node.find_all("li", recursive=False):
        marker = f"{number}. " if ordered else "- "
        out.start_item("  " * depth + marker)
        for child in item.children:
            if isinstance(child, Tag) and child.name in ("ul", "ol"):
                out.flush()
                _list(child, out, depth + 1)
            elif isinstance(child, Tag) and child.name == "p":
                _children(child, out, depth)  # "loose" list items: <li><p>...</p></li>
                out.text(_BR)
            else:
                _walk(child, out, depth)
        out.flush()
        number += 1


def _link(node: Tag, out: _Writer, depth: int) -> None:
    before = len(out.parts)
    _children(node, out, depth)
    label = _SPACES.sub(" ", "".join(out.parts[before:]).replace(_BR, " ")).strip()
    href = node.get("href")
    if not isinstance(href, str) or not href.strip() or href.startswith(("#", "javascript:")):
        return
    href = href.strip()
    if out.base_url and not href.startswith(_LINK_SCHEMES):
        href = urljoin(out.base_url, href)
    shown = href.removeprefix("mailto:").removeprefix("tel:")
    bare = re.sub(r"^https?://(www\.)?", "", shown).rstrip("/")
    if not label:
        out.text(shown)
    elif shown not in label and label.rstrip("/") not in (href, shown, bare):
        out.text(f" ({shown})")


def markdown_to_text(source: str, hard_breaks: bool = False) -> str:
    """Plain text of Markdown (raw HTML inside it is converted too).

    `hard_breaks` keeps single newlines (text from a spreadsheet cell); Markdown files wrap
    paragraphs, so there a single newline is a space.
    """
    return html_to_text(_markdown(hard_breaks).render(source))


def looks_like_html(text: str) -> bool:
    """Whether `text` holds HTML markup (known tags), not just a stray `<`."""
    if "<" not in text or ">" not in text:
        return False
    soup = BeautifulSoup(text, "html.parser")
    return soup.find(lambda tag: tag.name in _HTML_TAGS) is not None


def cell_to_text(value: str, markup: str = "auto") -> str:
    """Plain text of a spreadsheet cell: HTML or Markdown when it holds any, else as written.

    `markup` is `auto`, `html`, `markdown` or `text`.
    """
    value = value.replace("\r\n", "\n").replace("\r", "\n")
    if markup == "html" or (markup == "auto" and looks_like_html(value)):
        return html_to_text(value)
    if markup == "markdown" or (markup == "auto" and _uses_markdown(value)):
        return markdown_to_text(value, hard_breaks=True)
    return normalize_text(html.unescape(value))


def _uses_markdown(value: str) -> bool:
    """Whether Markdown changes more than `*emphasis*` (which `2*3*4` would trigger)."""
    rendered = BeautifulSoup(_markdown(True).render(value), "html.parser")
    return rendered.find(lambda tag: tag.name not in ("p", "br", "em")) is not None


def _markdown(hard_breaks: bool) -> MarkdownIt:
    return MarkdownIt("commonmark", {"breaks": hard_breaks, "html": True}).enable("table")


def inline_text(value: str) -> str:
    """One line of plain text (a question): markup removed, spaces collapsed."""
    value = value.replace("\r", " ").replace("\n", " ")
    if looks_like_html(value):
        value = html_to_text(value)
    else:
        value = html.unescape(value)
    return _SPACES.sub(" ", value.translate(_INVISIBLE)).strip()


def normalize_text(value: str) -> str:
    """Trailing spaces removed, runs of blank lines cut to one, invisible characters dropped."""
    lines = [_SPACES.sub(" ", line).rstrip() for line in value.translate(_INVISIBLE).split("\n")]
    text = "\n".join(lines)
    return re.sub(r"\n{3,}", "\n\n", text).strip()
