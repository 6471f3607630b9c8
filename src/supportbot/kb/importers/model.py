"""The records an import passes around: where a pair came from, the pairs, the entries, issues."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from supportbot.errors import SupportbotError

IssueLevel = Literal["warning", "info"]


class FaqImportError(SupportbotError):
    """An FAQ source cannot be read at all (missing, binary, wrong encoding, no header...)."""


@dataclass(frozen=True)
class Location:
    """Where something stands in the source: file, 1-based line, data row, and a detail."""

    file: str
    line: int | None = None
    row: int | None = None
    detail: str | None = None

    def __str__(self) -> str:
        text = f"{self.file}:{self.line}" if self.line else self.file
        extra = self._extra()
        return text + (f" ({extra})" if extra else "")

    def short(self) -> str:
        """The place inside the file: `line 12 (row 11)`."""
        extra = self._extra()
        if not self.line:
            return extra or self.file
        return f"line {self.line}" + (f", {extra}" if extra else "")

    def _extra(self) -> str:
        parts = [f"row {self.row}"] if self.row else []
        if self.detail:
            parts.append(self.detail)
        return ", ".join(parts)


@dataclass(frozen=True)
class RawQA:
    """One question with its answer (plain text) as a reader found it, before merging."""

    question: str
    answer: str
    where: Location
    tags: tuple[str, ...] = ()
    url: str | None = None
    language: str | None = None
    group: str | None = None  # explicit grouping key: an id column, a QnA Maker QnaId
    id_hint: str | None = None  # an id the source gives for the entry


@dataclass(frozen=True)
class FaqEntry:
    """One KB entry to write: several phrasings, one answer (plus translations)."""

    id: str
    questions: tuple[str, ...]
    answer: str
    translations: Mapping[str, str] = field(default_factory=dict)
    tags: tuple[str, ...] = ()
    url: str | None = None
    sources: tuple[Location, ...] = ()


@dataclass(frozen=True)
class Issue:
    """Something the import skipped, merged or could not carry over."""

    level: IssueLevel
    code: str
    message: str
    where: Location | None = None

    def __str__(self) -> str:
        place = f"{self.where}: " if self.where is not None else ""
        return f"{place}{self.level}: {self.message}"


@dataclass(frozen=True)
class ReadResult:
    """What one format reader returns: the pairs and the issues it found on the way."""

    pairs: tuple[RawQA, ...]
    issues: tuple[Issue, ...] = ()


@dataclass(frozen=True)
class ImportResult:
    """An imported FAQ: entries ready to write, and everything worth telling the user."""

    source: str
    format: str
    entries: tuple[FaqEntry, ...]
    issues: tuple[Issue, ...]
    pairs_read: int

    @property
    def questions(self) -> int:
        return sum(len(e.questions) for e in self.entries)

    @property
    def warnings(self) -> tuple[Issue, ...]:
        return tuple(i for i in self.issues if i.level == "warning")

    def count(self, code: str) -> int:
        """How many issues with this code."""
        return sum(1 for i in self.issues if i.code == code)
