"""Markdown FAQ pages, parsed with markdown-it-py.

Two layouts: headings (a heading is a question, the text under it the answer; see `outline`),
or `Q:` / `A:` pairs (`**Q:** ...`, `Question: ...`, `Вопрос:` / `Ответ:`, `Հարց:` /
`Պատասխան:`), where headings are sections and become tags. YAML front matter is skipped.
"""
from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from markdown_it import MarkdownIt

from supportbot.kb.importers.model import Location, RawQA, ReadResult
from supportbot.kb.importers.outline import Heading, outline_pairs
from supportbot.kb.importers.slug import slugify
from supportbot.kb.importers.text import inline_text, markdown_to_text

_EMPH = r"(?:\*\*|__|\*|_)?"
_LABEL = r"^\s*(?:[-*+]\s+)?" + _EMPH + r"\s*(?:{labels})\s*\d*\s*[:：]\s*" + _EMPH
_Q = re.compile(_LABEL.format(labels=r"Q|Question|В|Вопрос|Հ|Հարց|Суроо") + r"\s*(?P<text>.*)$",
                re.IGNORECASE)
_A = re.compile(_LABEL.format(labels=r"A|Answer|О|Ответ|Պ|Պատասխան|Жооп") + r"\s*(?P<text>.*)$",
                re.IGNORECASE)


@dataclass(frozen=True)
class _MdHeading:
    start: int  # 0-based first line
    end: int  # 0-based line after the heading
    level: int
    title: str


def read_markdown(text: str, file: str) -> ReadResult:
    """Question-answer pairs from a Markdown FAQ page."""
    text = _blank_front_matter(text.replace("\r\n", "\n"))
    lines = text.split("\n")
    headings = _headings(text)
    if _has_qa_pairs(lines):
        return ReadResult(tuple(_qa_pairs(lines, headings, file)))
    outline = []
    for i, h in enumerate(headings):
        stop = headings[i + 1].start if i + 1 < len(headings) else len(lines)
        body = markdown_to_text("\n".join(lines[h.end:stop]))
        outline.append(Heading(h.level, h.title, Location(file, h.start + 1),
                               [body] if body else []))
    return ReadResult(tuple(outline_pairs(outline)))


def _blank_front_matter(text: str) -> str:
    """YAML front matter (`---` ... `---`) replaced by blank lines (line numbers stay)."""
    lines = text.split("\n")
    if not lines or lines[0].strip() != "---":
        return text
    for i in range(1, len(lines)):
        if lines[i].strip() in ("---", "..."):
            return "\n" * i + "\n" + "\n".join(lines[i + 1:])
    return text


def _headings(text: str) -> list[_MdHeading]:
    tokens = MarkdownIt("commonmark").parse(text)
    found = []
    for i, token in enumerate(tokens):
        if token.type == "heading_open" and token.map and token.level == 0:
            title = inline_text(markdown_to_text(tokens[i + 1].content))
            found.append(_MdHeading(token.map[0], token.map[1], int(token.tag[1:]), title))
    return found


def _has_qa_pairs(lines: list[str]) -> bool:
    asked = False
    for line in lines:
        if _Q.match(line):
            asked = True
        elif asked and _A.match(line):
            return True
    return False


def _qa_pairs(lines: list[str], headings: list[_MdHeading], file: str) -> Iterator[RawQA]:
    heading_at = {h.start: h for h in headings}
    in_heading = {n for h in headings for n in range(h.start, h.end)}
    section: tuple[str, ...] = ()
    question: list[str] = []
    answer: list[str] | None = None
    where = Location(file)

    def pair() -> RawQA:
        text = " ".join(question).strip()
        for mark in ("**", "__"):  # `**Q: ...?**`: the label took the opening mark
            if text.count(mark) % 2 and text.endswith(mark):
                text = text[: -len(mark)]
        text = inline_text(markdown_to_text(text))
        return RawQA(text, markdown_to_text("\n".join(answer or [])), where, tags=section)

    for n, line in enumerate(lines):
        if n in in_heading or (q := _Q.match(line)) is not None:
            if question:
                yield pair()
            question, answer = [], None
            if n in heading_at:
                tag = slugify(heading_at[n].title)
                section = (tag,) if tag else ()
            if n not in in_heading and q is not None:
                question, where = [q.group("text")], Location(file, n + 1)
            continue
        if not question:
            continue
        a = _A.match(line) if answer is None else None
        if a is not None:
            answer = [a.group("text")]
        elif answer is not None:
            answer.append(line)
        elif line.strip():
            question.append(line)  # a question wrapped over several lines
    if question:
        yield pair()
