"""Headings with the text under them -> question-answer pairs (Markdown and HTML pages).

A heading is a question; its answer is the text until the next heading of the same or a
higher level. Which level holds the questions is read from the page: the level with the most
headings that are phrased as questions (`?`, Armenian `՞`), else the level with the most
headings that have text of their own. Headings above that level are sections and become tags
(except a single top heading, the page title).
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

from supportbot.kb.importers.model import Location, RawQA
from supportbot.kb.importers.slug import slugify

_QUESTION_MARKS = ("?", "？", "՞")


@dataclass
class Heading:
    """A heading, its level (1-6), where it stands, and the paragraphs directly under it."""

    level: int
    title: str
    where: Location
    body: list[str] = field(default_factory=list)


def looks_like_question(title: str) -> bool:
    """Whether a heading is phrased as a question."""
    return any(mark in title for mark in _QUESTION_MARKS)


def question_level(headings: list[Heading]) -> int | None:
    """The heading level that holds the questions, or None when no heading has text."""
    with_text = [h for h in headings if any(b.strip() for b in h.body)]
    if not with_text:
        return None
    asked = Counter(h.level for h in headings if looks_like_question(h.title))
    counts = asked or Counter(h.level for h in with_text)
    return max(counts, key=lambda level: (counts[level], level))


def outline_pairs(headings: list[Heading], tags: tuple[str, ...] = ()) -> Iterator[RawQA]:
    """One pair per heading at the question level (answers may be empty: reported later)."""
    level = question_level(headings)
    if level is None:
        return
    title_heading = _page_title(headings)
    sections: dict[int, str] = {}
    for i, heading in enumerate(headings):
        if heading.level < level:
            sections = {k: v for k, v in sections.items() if k < heading.level}
            if heading is not title_heading:
                sections[heading.level] = heading.title
            continue
        if heading.level > level:
            continue
        parts = list(heading.body)
        for sub in headings[i + 1:]:
            if sub.level <= level:
                break
            parts += [sub.title, *sub.body]
        answer = "\n\n".join(p for p in parts if p.strip())
        section_tags = tuple(slugify(s) for s in sections.values() if slugify(s))
        yield RawQA(question=heading.title, answer=answer, where=heading.where,
                    tags=tuple(dict.fromkeys(tags + section_tags[-1:])))


def _page_title(headings: list[Heading]) -> Heading | None:
    """The first heading when it is the only one at its (top) level."""
    if not headings:
        return None
    first = headings[0]
    same_or_higher = [h for h in headings if h.level <= first.level]
    return first if len(same_or_higher) == 1 else None
