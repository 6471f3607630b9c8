"""Collecting problems while reading a project: one `Report` per load, one `FileContext` per file."""
from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from supportbot.errors import Problem, Severity
from supportbot.project.types import Source
from supportbot.project.yamlio import LineList, LineMap, line_of


def did_you_mean(word: str, choices: Iterable[str]) -> str | None:
    """`did you mean 'x'?` for the closest choice, or None when nothing is close."""
    matches = difflib.get_close_matches(str(word), [str(c) for c in choices], n=1, cutoff=0.6)
    return f"did you mean {matches[0]!r}?" if matches else None


def type_name(value: Any) -> str:
    """How a YAML value reads to a person: 'a list', 'a mapping', 'text', ..."""
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


@dataclass
class Report:
    """Every problem found in one load, in the order found."""

    problems: list[Problem] = field(default_factory=list)

    def add(self, severity: Severity, message: str, source: Source | None = None,
            hint: str | None = None, code: str = "invalid") -> None:
        file = source.file if source is not None else None
        line = source.line if source is not None and source.line else None
        self.problems.append(Problem(severity, message, file, line, hint, code))

    def error(self, message: str, source: Source | None = None, hint: str | None = None,
              code: str = "invalid") -> None:
        self.add("error", message, source, hint, code)

    def warning(self, message: str, source: Source | None = None, hint: str | None = None,
                code: str = "invalid") -> None:
        self.add("warning", message, source, hint, code)

    def extend(self, problems: Iterable[Problem]) -> None:
        self.problems.extend(problems)

    @property
    def has_errors(self) -> bool:
        return any(p.severity == "error" for p in self.problems)


@dataclass
class FileContext:
    """Reading one file: its name (relative to the project root), format version and the report."""

    file: str
    report: Report
    version: str = "3.1"

    def at(self, obj: Any = None, key: Any = None, line: int = 0) -> Source:
        """Source for `obj` / `obj[key]` in this file (or an explicit `line`)."""
        return Source(self.file, line or line_of(obj, key))

    def error(self, message: str, obj: Any = None, key: Any = None, hint: str | None = None,
              code: str = "invalid", line: int = 0) -> None:
        self.report.error(message, self.at(obj, key, line), hint, code)

    def warning(self, message: str, obj: Any = None, key: Any = None, hint: str | None = None,
                code: str = "invalid", line: int = 0) -> None:
        self.report.warning(message, self.at(obj, key, line), hint, code)

    def check_keys(self, mapping: dict, allowed: Iterable[str], what: str,
                   severity: Severity = "error") -> None:
        """Report each key of `mapping` not in `allowed`, with a did-you-mean hint."""
        allowed = tuple(allowed)
        for key in mapping:
            if key not in allowed:
                hint = did_you_mean(key, allowed) or "allowed keys: " + ", ".join(allowed)
                self.report.add(severity, f"unknown key {key!r} in {what}",
                                self.at(mapping, key), hint, code="unknown-key")

    def expect(self, value: Any, kind: type | tuple[type, ...], what: str, obj: Any = None,
               key: Any = None, hint: str | None = None) -> bool:
        """True when `value` has type `kind`; otherwise report 'what must be ...' and say False."""
        if isinstance(value, kind) and not (isinstance(value, bool) and kind in (int, float)):
            return True
        self.error(f"{what} must be {_kind_name(kind)}, not {type_name(value)}", obj, key, hint,
                   code="wrong-type")
        return False

    def str_list(self, value: Any, what: str, obj: Any = None, key: Any = None) -> list[str]:
        """A list of text items (a single text is accepted as a one-item list)."""
        if value is None:
            return []
        if isinstance(value, (str, int, float)) and not isinstance(value, bool):
            return [str(value)]
        if not isinstance(value, list):
            self.error(f"{what} must be a list of names, not {type_name(value)}", obj, key,
                       code="wrong-type")
            return []
        items: list[str] = []
        for i, item in enumerate(value):
            if isinstance(item, (str, int, float)) and not isinstance(item, bool):
                items.append(str(item))
            else:
                self.error(f"{what} item must be text, not {type_name(item)}", value, i,
                           code="wrong-type")
        return items


def _kind_name(kind: type | tuple[type, ...]) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    names = {LineMap: "a mapping", dict: "a mapping", LineList: "a list", list: "a list",
             str: "text", int: "a number", float: "a number", bool: "true or false"}
    seen: list[str] = []
    for k in kinds:
        name = names.get(k, k.__name__)
        if name not in seen:
            seen.append(name)
    return " or ".join(seen)


@dataclass
class NotExecutedLog:
    """Gathers 'read but not executed' findings so each kind is reported once per file."""

    found: dict[tuple[str, str], list[int]] = field(default_factory=dict)
    hints: dict[str, str | None] = field(default_factory=dict)

    def add(self, message: str, source: Source, hint: str | None = None) -> None:
        self.found.setdefault((message, source.file), []).append(source.line)
        self.hints.setdefault(message, hint)

    def flush(self, report: Report) -> None:
        """Add one warning per (message, file) to `report`, naming the first line and count."""
        for (message, file), lines in self.found.items():
            lines = sorted({line for line in lines if line})
            text = message
            if len(lines) > 1:
                shown = ", ".join(map(str, lines[:8])) + (", ..." if len(lines) > 8 else "")
                text += f" ({len(lines)} places: lines {shown})"
            report.warning(text, Source(file, lines[0] if lines else 0), self.hints[message],
                           code="not-executed")
        self.found.clear()
