"""QnA Maker / Azure AI Language question answering TSV exports.

Columns: Question, Answer, Source, Metadata, and optionally SuggestedQuestions, IsContextOnly,
Prompts, QnaId (and SourceDisplayName). Each row holds one question; rows with the same QnaId
(or, without that column, the same answer) are one entry. Answers are Markdown. Metadata is
`key:value|key:value` (or a JSON list of `{"name", "value"}`): a `category`/`topic`/`tag` value
becomes a tag, `language`/`lang`/`locale` the answer's language, other pairs tags `key:value`.
A Source that is a URL becomes the entry's url. Follow-up prompts are not imported.
"""
from __future__ import annotations

import json
from collections.abc import Iterator

from supportbot.kb.importers.csv_format import Row, normalize_header, read_rows
from supportbot.kb.importers.model import FaqImportError, Issue, Location, RawQA, ReadResult
from supportbot.kb.importers.text import inline_text, markdown_to_text

_TAG_KEYS = ("category", "topic", "tag", "tags", "section", "editorial")
_LANGUAGE_KEYS = ("language", "lang", "locale")


def read_qnamaker(text: str, file: str) -> ReadResult:
    """Question-answer pairs from a QnA Maker / question answering TSV export."""
    try:
        header, rows = read_rows(text, file, "\t")
    except FaqImportError as exc:
        raise FaqImportError(f"cannot read {file}: {exc}") from None
    columns = {normalize_header(h): h for h in header}
    missing = [c for c in ("question", "answer") if c not in columns]
    if missing:
        raise FaqImportError(f"{file}: not a QnA Maker export: no {' and no '.join(missing)} "
                             "column (expected Question, Answer, Source, Metadata...)")
    issues: list[Issue] = []
    pairs = list(_pairs(rows, columns, file, issues))
    return ReadResult(tuple(pairs), tuple(issues))


def _pairs(rows: list[Row], columns: dict[str, str], file: str, issues: list[Issue]
           ) -> Iterator[RawQA]:
    def cell(row: Row, name: str) -> str:
        return row.cells.get(columns.get(name, ""), "").strip()

    prompts = 0
    for row in rows:
        where = Location(file, row.line, row.number)
        tags, language = parse_metadata(cell(row, "metadata"), where, issues)
        source = cell(row, "source")
        url = source if source.startswith(("http://", "https://")) else None
        qna_id = cell(row, "qnaid") or None
        if cell(row, "prompts") not in ("", "[]"):
            prompts += 1
        yield RawQA(question=inline_text(cell(row, "question")),
                    answer=markdown_to_text(_unescape(cell(row, "answer")), hard_breaks=True),
                    where=where, tags=tags, url=url, language=language,
                    group=f"qna:{qna_id}" if qna_id else None)
    if prompts:
        issues.append(Issue("info", "prompts", f"follow-up prompts of {prompts} row(s) are not "
                            "imported (multi-turn flows become separate entries)",
                            Location(file)))


def _unescape(answer: str) -> str:
    """Exports write line breaks inside an answer as the two characters `\\n`."""
    return answer.replace("\\r\\n", "\n").replace("\\n", "\n").replace("\\t", " ")


def parse_metadata(value: str, where: Location, issues: list[Issue]
                   ) -> tuple[tuple[str, ...], str | None]:
    """Tags and language from a Metadata cell."""
    pairs: list[tuple[str, str]] = []
    if value.startswith("["):
        try:
            items = json.loads(value)
            pairs = [(str(i.get("name", "")), str(i.get("value", ""))) for i in items
                     if isinstance(i, dict)]
        except (json.JSONDecodeError, AttributeError):
            issues.append(Issue("warning", "metadata", f"metadata {value!r} is not valid JSON; "
                                "ignored", where))
    elif value:
        for part in value.split("|"):
            key, sep, val = part.partition(":")
            if not sep:
                issues.append(Issue("warning", "metadata", f"metadata {part.strip()!r} is not "
                                    "`key:value`; ignored", where))
                continue
            pairs.append((key, val))
    tags: list[str] = []
    language = None
    for key, val in ((k.strip().lower(), v.strip()) for k, v in pairs):
        if not key or not val:
            continue
        if key in _LANGUAGE_KEYS:
            language = val
        elif key in _TAG_KEYS:
            tags.append(val)
        else:
            tags.append(f"{key}:{val}")
    return tuple(dict.fromkeys(tags)), language
