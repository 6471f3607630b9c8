"""CSV and TSV with a header row: question, answer[, tags, url, language, id].

Header names are matched case-insensitively, ignoring spaces, `_` and `-`, with common
spellings (`Q`, `Frage`, `Response`, `Category`, `Link`, `Lang`...). Rows with the same answer
(or the same `id`) become one entry with several questions. Tags are separated by `;` or `,`.
"""
from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass

from supportbot.kb.importers.model import FaqImportError, Issue, Location, RawQA, ReadResult
from supportbot.kb.importers.text import cell_to_text, inline_text

COLUMNS: dict[str, tuple[str, ...]] = {
    "question": ("question", "questions", "q", "query", "utterance", "faqquestion",
                 "questiontext", "userquestion", "title", "frage", "pregunta", "вопрос",
                 "вопросы", "հարց", "суроо"),
    "answer": ("answer", "answers", "a", "response", "reply", "answertext", "faqanswer",
               "body", "content", "antwort", "respuesta", "ответ", "պատասխան", "жооп"),
    "tags": ("tags", "tag", "category", "categories", "topic", "topics", "label", "labels",
             "section", "keywords", "kategorie", "thema", "теги", "категория"),
    "url": ("url", "link", "links", "source", "sourceurl", "href", "page", "pageurl", "ссылка"),
    "language": ("language", "lang", "locale", "languagecode", "язык", "լեզու"),
    "id": ("id", "key", "faqid", "entryid", "qnaid", "answerid"),
}
csv.field_size_limit(10 * 1024 * 1024)


@dataclass(frozen=True)
class Row:
    """One data record: its 1-based data row number, first line in the file, and cells."""

    number: int
    line: int
    cells: dict[str, str]


def normalize_header(name: str) -> str:
    """`Question Text` / `question_text` / ` QUESTION-TEXT ` -> `questiontext`."""
    return re.sub(r"[\s_\-]+", "", name.strip().lower())


def sniff_delimiter(text: str) -> str:
    """`,`, `;`, tab or `|`: the one the header line splits on best."""
    header = text.split("\n", 1)[0]
    try:
        return csv.Sniffer().sniff(header, delimiters=",;\t|").delimiter
    except csv.Error:
        return max(",;\t|", key=header.count)


def read_rows(text: str, file: str, delimiter: str) -> tuple[list[str], list[Row]]:
    """The header and the records of a delimited file, with their line numbers.

    A tab-separated file whose rows go wrong with quoting (a field that starts with `"` but is
    not quoted) is read again without quoting.
    """
    header, rows, ragged = _parse(text, delimiter, quoting=True)
    if delimiter == "\t" and ragged:
        plain = _parse(text, delimiter, quoting=False)
        if not plain[2]:
            header, rows = plain[0], plain[1]
    if not header or not any(h.strip() for h in header):
        raise FaqImportError(f"{file} is empty: expected a header row such as "
                             f"`question{delimiter}answer`")
    return header, rows


def _parse(text: str, delimiter: str, quoting: bool) -> tuple[list[str], list[Row], bool]:
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter,
                        quoting=csv.QUOTE_MINIMAL if quoting else csv.QUOTE_NONE)
    header: list[str] = []
    rows: list[Row] = []
    ragged = False
    start = 1
    try:
        for record in reader:
            line, start = start, reader.line_num + 1
            if not header:
                if any(c.strip() for c in record):
                    header = record
                continue
            if not any(c.strip() for c in record):
                continue
            if len(record) != len(header) or any("\t" in c for c in record):
                ragged = True
            cells = {header[i]: c for i, c in enumerate(record) if i < len(header)}
            rows.append(Row(len(rows) + 1, line, cells))
    except csv.Error as exc:
        raise FaqImportError(f"line {reader.line_num}: {exc}") from None
    return header, rows, ragged


def map_columns(header: list[str], file: str) -> tuple[dict[str, str], list[str]]:
    """Role (`question`, `answer`, ...) -> header name as written, and the unused columns."""
    roles: dict[str, str] = {}
    unused: list[str] = []
    for name in header:
        key = normalize_header(name)
        role = next((r for r, names in COLUMNS.items() if key in names and r not in roles), None)
        if role is None:
            unused.append(name)
        else:
            roles[role] = name
    missing = [r for r in ("question", "answer") if r not in roles]
    if missing:
        found = ", ".join(repr(h) for h in header) or "nothing"
        raise FaqImportError(
            f"{file}: the header has no {' and no '.join(missing)} column (found {found}); "
            "name the columns `question` and `answer` (optional: tags, url, language, id)")
    return roles, unused


def split_tags(value: str) -> tuple[str, ...]:
    """`delivery; returns` / `delivery, returns` -> ("delivery", "returns")."""
    separator = ";" if ";" in value else "|" if "|" in value else ","
    parts = (p.strip() for p in value.split(separator))
    return tuple(dict.fromkeys(p for p in parts if p))


def read_csv(text: str, file: str, delimiter: str | None = None,
             answer_markup: str = "auto") -> ReadResult:
    """Question-answer pairs from a CSV/TSV file with a header row."""
    first, _, rest = text.partition("\n")
    if re.fullmatch(r"sep=.\r?", first):  # Excel's "sep=;" line
        delimiter, text = first[4], "\n" + rest  # keep the line numbers
    delimiter = delimiter or sniff_delimiter(text.lstrip("\n"))
    try:
        header, rows = read_rows(text, file, delimiter)
    except FaqImportError as exc:
        raise FaqImportError(f"cannot read {file}: {exc}") from None
    roles, unused = map_columns(header, file)
    issues: list[Issue] = []
    if unused:
        issues.append(Issue("info", "columns", "columns not imported: "
                            + ", ".join(repr(u) for u in unused), Location(file, 1)))
    return ReadResult(tuple(_pairs(rows, roles, file, answer_markup)), tuple(issues))


def _pairs(rows: list[Row], roles: dict[str, str], file: str, markup: str) -> Iterator[RawQA]:
    def cell(row: Row, role: str) -> str:
        return row.cells.get(roles[role], "").strip() if role in roles else ""

    for row in rows:
        where = Location(file, row.line, row.number)
        answer = cell_to_text(cell(row, "answer"), markup)
        ident = cell(row, "id") or None
        questions = [inline_text(q) for q in cell(row, "question").split("\n")]
        questions = [q for q in questions if q] or [""]
        for question in questions:
            yield RawQA(question=question, answer=answer, where=where,
                        tags=split_tags(cell(row, "tags")), url=cell(row, "url") or None,
                        language=cell(row, "language") or None, group=ident, id_hint=ident)
