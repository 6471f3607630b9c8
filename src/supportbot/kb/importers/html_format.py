"""Saved HTML FAQ pages, parsed with BeautifulSoup.

Read in this order, and the first layout that yields questions wins (a page that marks its FAQ
up for search engines repeats the same questions in its visible markup):
1. schema.org `FAQPage` JSON-LD: `mainEntity` -> `Question.name` / `acceptedAnswer.text`;
2. schema.org `Question` microdata (`itemprop="name"` / `acceptedAnswer` -> `text`);
3. `<details><summary>` and `<dl><dt><dd>` (several `<dt>` before one `<dd>` are several
   phrasings of one entry);
4. headings followed by their text (see `outline`).
Relative links are resolved against `<base href>`, the canonical URL or `og:url`.
"""
from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

from bs4 import BeautifulSoup, Comment, NavigableString, Tag
from bs4.element import PageElement

from supportbot.kb.importers.model import Issue, Location, RawQA, ReadResult
from supportbot.kb.importers.outline import Heading, outline_pairs
from supportbot.kb.importers.slug import slugify
from supportbot.kb.importers.text import SKIP_TAGS, html_to_text, inline_text

_HEADINGS = ("h1", "h2", "h3", "h4", "h5", "h6")
_OUTLINE_SKIP = SKIP_TAGS | {"nav", "footer", "aside", "form"}


def read_html(text: str, file: str) -> ReadResult:
    """Question-answer pairs from a saved HTML FAQ page."""
    soup = BeautifulSoup(text, "html.parser")
    page_url = _page_url(soup)
    issues: list[Issue] = []
    for layout in (_json_ld, _microdata, _details_and_lists, _headings):
        pairs = list(layout(soup, file, page_url, issues))
        if pairs:
            return ReadResult(tuple(pairs), tuple(issues))
    return ReadResult((), tuple(issues))


def _page_url(soup: BeautifulSoup) -> str | None:
    for tag, attr, wanted, key in (("base", None, "", "href"), ("link", "rel", "canonical", "href"),
                                   ("meta", "property", "og:url", "content")):
        found = soup.find(lambda t, n=tag, a=attr, w=wanted: t.name == n
                          and (a is None or w in _attr_words(t, a)))
        value = found.get(key) if isinstance(found, Tag) else None
        if isinstance(value, str) and value.startswith(("http://", "https://")):
            return value.strip()
    return None


def _anchor_url(page_url: str | None, element: Tag) -> str | None:
    anchor = element.get("id")
    if page_url is None:
        return None
    return f"{page_url.split('#')[0]}#{anchor}" if isinstance(anchor, str) and anchor else page_url


def _where(file: str, element: Tag, detail: str | None = None) -> Location:
    return Location(file, element.sourceline, detail=detail)


# ---------------------------------------------------------------- schema.org
def _types(node: dict[str, Any]) -> set[str]:
    value = node.get("@type", ())
    values = [value] if isinstance(value, str) else value if isinstance(value, list) else []
    return {str(v).rsplit("/", 1)[-1] for v in values}


def _json_nodes(data: Any) -> Iterator[dict[str, Any]]:
    if isinstance(data, list):
        for item in data:
            yield from _json_nodes(item)
    elif isinstance(data, dict):
        yield data
        keys = ["@graph", "hasPart"] + ([] if "FAQPage" in _types(data) else ["mainEntity"])
        for key in keys:  # a WebPage whose mainEntity is the FAQPage, a @graph of nodes
            if key in data:
                yield from _json_nodes(data[key])


def _json_ld(soup: BeautifulSoup, file: str, page_url: str | None, issues: list[Issue]
             ) -> Iterator[RawQA]:
    scripts = soup.find_all(lambda t: t.name == "script" and "ld+json" in str(t.get("type")))
    number = 0
    for script in scripts:
        try:
            data = json.loads(script.string or script.get_text())
        except json.JSONDecodeError as exc:
            issues.append(Issue("warning", "json-ld", f"JSON-LD block is not valid JSON "
                                f"({exc.msg}, line {exc.lineno}); skipped", _where(file, script)))
            continue
        for node in _json_nodes(data):
            if "FAQPage" not in _types(node):
                continue
            entities = node.get("mainEntity") or []
            for question in entities if isinstance(entities, list) else [entities]:
                if not isinstance(question, dict):
                    continue
                number += 1
                answer = question.get("acceptedAnswer") or question.get("suggestedAnswer")
                if isinstance(answer, list):
                    answer = answer[0] if answer else None
                text = answer.get("text", "") if isinstance(answer, dict) else ""
                url = question.get("url") or node.get("url") or page_url
                yield RawQA(inline_text(str(question.get("name", ""))),
                            html_to_text(str(text), page_url),
                            _where(file, script, f"JSON-LD question {number}"),
                            url=url if isinstance(url, str) else None)


def _attr_words(tag: Tag, attr: str) -> list[str]:
    """The words of an attribute (`rel="canonical nofollow"`), lower-case."""
    value = tag.get(attr)
    words = value if isinstance(value, list) else str(value or "").split()
    return [str(w).lower() for w in words]


def _itemprop(name: str) -> Callable[[Tag], bool]:
    return lambda tag: name.lower() in _attr_words(tag, "itemprop")


def _is_question(tag: Tag) -> bool:
    return any(w.rstrip("/").endswith("schema.org/question") for w in _attr_words(tag, "itemtype"))


def _microdata(soup: BeautifulSoup, file: str, page_url: str | None, issues: list[Issue]
               ) -> Iterator[RawQA]:
    for element in soup.find_all(_is_question):
        name = element.find(_itemprop("name"))
        answer = element.find(_itemprop("acceptedAnswer"))
        body = answer.find(_itemprop("text")) if isinstance(answer, Tag) else None
        yield RawQA(inline_text(html_to_text(name)) if isinstance(name, Tag) else "",
                    html_to_text(body or answer, page_url) if isinstance(answer, Tag) else "",
                    _where(file, element, "microdata"), url=_anchor_url(page_url, element))


# ---------------------------------------------------------------- details, dl
def _details_and_lists(soup: BeautifulSoup, file: str, page_url: str | None,
                       issues: list[Issue]) -> Iterator[RawQA]:
    for element in soup.find_all(("details", "dl")):
        if element.find_parent(("details", "dl")) is not None:
            continue  # part of another entry's answer
        tags = _section_tag(element)
        if element.name == "details":
            yield from _details(element, file, page_url, tags)
        else:
            yield from _definition_list(element, file, page_url, tags)


def _section_tag(element: Tag) -> tuple[str, ...]:
    """The slug of the nearest heading before `element` (h2-h6; h1 is the page title)."""
    heading = element.find_previous(_HEADINGS[1:])
    tag = slugify(heading.get_text(" ")) if isinstance(heading, Tag) else ""
    return (tag,) if tag else ()


def _details(element: Tag, file: str, page_url: str | None, tags: tuple[str, ...]
             ) -> Iterator[RawQA]:
    summary = element.find("summary")
    question = inline_text(html_to_text(summary)) if isinstance(summary, Tag) else ""
    body = [c for c in element.children if c is not summary]
    yield RawQA(question, html_to_text(body, page_url), _where(file, element), tags=tags,
                url=_anchor_url(page_url, element))


def _definition_list(element: Tag, file: str, page_url: str | None, tags: tuple[str, ...]
                     ) -> Iterator[RawQA]:
    terms: list[Tag] = []
    answers: list[str] = []

    def entry() -> Iterator[RawQA]:
        group = f"dl:{file}:{terms[0].sourceline}:{terms[0].sourcepos}"
        for term in terms:
            yield RawQA(inline_text(html_to_text(term)), "\n\n".join(answers),
                        _where(file, term), tags=tags, group=group,
                        url=_anchor_url(page_url, term))

    items = [t for t in element.find_all(("dt", "dd")) if t.find_parent("dl") is element]
    for item in items:
        if item.name == "dt":
            if answers:
                yield from entry()
                terms, answers = [], []
            terms.append(item)
        elif terms:
            answers.append(html_to_text(item, page_url))
    if terms:
        yield from entry()


# ---------------------------------------------------------------- headings
def _headings(soup: BeautifulSoup, file: str, page_url: str | None, issues: list[Issue]
              ) -> Iterator[RawQA]:
    root = soup.find(lambda t: t.name == "main" or t.get("role") == "main") or soup.body or soup
    headings: list[Heading] = []
    pending: list[PageElement] = []

    def flush() -> None:
        text = html_to_text(pending, page_url)
        if headings and text:
            headings[-1].body.append(text)
        pending.clear()

    for node in _flatten(root):
        if isinstance(node, Tag) and node.name in _HEADINGS:
            flush()
            title = inline_text(html_to_text(node))
            if title:
                headings.append(Heading(int(node.name[1]), title, _where(file, node)))
        else:
            pending.append(node)
    flush()
    yield from outline_pairs(headings)


def _flatten(node: Tag) -> Iterator[PageElement]:
    """Headings and the content between them, in document order, descending into containers
    only where they hold a heading."""
    for child in node.children:
        if isinstance(child, Comment):
            continue
        if isinstance(child, NavigableString):
            if child.strip():
                yield child
        elif isinstance(child, Tag) and child.name not in _OUTLINE_SKIP:
            if child.name in _HEADINGS or child.find(_HEADINGS) is None:
                yield child
            else:
                yield from _flatten(child)
