"""Import an existing FAQ (CSV/TSV, Markdown, HTML, QnA Maker export) as `data/kb/*.yml`.

```python
from supportbot.kb.importers import import_faq, dump_kb, write_kb

result = import_faq("help-center.html")          # format from the extension and content
for issue in result.issues:
    print(issue)                                  # skipped, merged, duplicates, with file:line
write_kb(Path("data/kb/help_center.yml"), dump_kb(result.entries, result.source, result.format))
```
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

from supportbot.kb.importers.build import build_entries, question_key
from supportbot.kb.importers.csv_format import read_csv
from supportbot.kb.importers.html_format import read_html
from supportbot.kb.importers.markdown_format import read_markdown
from supportbot.kb.importers.model import (
    FaqEntry,
    FaqImportError,
    ImportResult,
    Issue,
    Location,
    RawQA,
    ReadResult,
)
from supportbot.kb.importers.qnamaker import read_qnamaker
from supportbot.kb.importers.source import FORMATS, detect_format, read_source
from supportbot.kb.importers.writer import check_kb_text, dump_entries, dump_kb, write_kb

__all__ = [
    "FORMATS", "FaqEntry", "FaqImportError", "ImportResult", "Issue", "Location", "RawQA",
    "ReadResult", "build_entries", "check_kb_text", "detect_format", "dump_entries", "dump_kb",
    "import_faq", "import_text", "question_key", "write_kb",
]

_READERS: dict[str, Callable[[str, str], ReadResult]] = {
    "csv": read_csv,
    "tsv": lambda text, file: read_csv(text, file, delimiter="\t"),
    "qnamaker": read_qnamaker,
    "markdown": read_markdown,
    "html": read_html,
}
_ONE_QUESTION_PER_ROW = ("csv", "tsv", "qnamaker")


def import_text(text: str, file: str, fmt: str, language: str = "en",
                taken_ids: Iterable[str] = ()) -> ImportResult:
    """Entries from FAQ `text` in format `fmt` (one of FORMATS); `file` names it in messages."""
    if fmt not in _READERS:
        raise FaqImportError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
    read = _READERS[fmt](text, file)
    entries, issues = build_entries(read.pairs, language, taken_ids=taken_ids,
                                    merges_expected=fmt in _ONE_QUESTION_PER_ROW)
    return ImportResult(source=file, format=fmt, entries=tuple(entries),
                        issues=tuple(read.issues) + tuple(issues), pairs_read=len(read.pairs))


def import_faq(path: str | Path, fmt: str | None = None, *, language: str = "en",
               encoding: str | None = None, taken_ids: Iterable[str] = ()) -> ImportResult:
    """Read the FAQ file at `path` (format detected unless `fmt` is given).

    Raises FaqImportError, naming the file, when it cannot be read or holds no FAQ entries.
    """
    path = Path(path)
    text = read_source(path, encoding)
    fmt = fmt or detect_format(path, text)
    result = import_text(text, str(path), fmt, language, taken_ids)
    if not result.entries:
        skipped = len(result.warnings)
        raise FaqImportError(
            f"no FAQ entries found in {path} (read as {fmt}"
            + (f"; {skipped} problem(s): {result.warnings[0]}" if skipped else "")
            + "); check the file, or choose the format with --format")
    return result
