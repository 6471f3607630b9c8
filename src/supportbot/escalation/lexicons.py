"""Built-in cue lists (English, Russian, Armenian, Kyrgyz) shipped as YAML package data.

Each `lexicons/<lang>.yml` holds phrase lists per category. All languages are merged: language
identification can be wrong on short messages and customers mix languages, so every cue is
looked for in every message.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

import yaml

from supportbot.errors import SupportbotError

LANGUAGES: tuple[str, ...] = ("en", "ru", "hy", "ky")
PHRASE_CATEGORIES: tuple[str, ...] = (
    "handoff", "negative_feedback", "affirm", "deny", "closing",
)
"""Categories with `anywhere` and `short_message` phrase lists."""
LIST_CATEGORIES: tuple[str, ...] = ("profanity", "insults", "negative_words", "acronyms")
"""Categories that are a plain list of phrases (or words)."""


@dataclass(frozen=True)
class CueList:
    """Phrases that count anywhere in a message, and ones that count only in short messages."""

    anywhere: tuple[str, ...] = ()
    short_message: tuple[str, ...] = ()

    def __add__(self, other: CueList) -> CueList:
        return CueList(self.anywhere + other.anywhere, self.short_message + other.short_message)


@dataclass(frozen=True)
class Lexicon:
    """The merged built-in cues of the languages asked for."""

    handoff: CueList = CueList()
    negative_feedback: CueList = CueList()
    affirm: CueList = CueList()
    deny: CueList = CueList()
    closing: CueList = CueList()
    profanity: tuple[str, ...] = ()
    insults: tuple[str, ...] = ()
    negative_words: tuple[str, ...] = ()
    acronyms: tuple[str, ...] = ()


def _read(language: str) -> dict[str, Any]:
    name = f"{language}.yml"
    try:
        text = resources.files("supportbot.escalation").joinpath("lexicons", name).read_text(
            encoding="utf-8")
    except (FileNotFoundError, OSError) as exc:
        raise SupportbotError(
            f"escalation lexicon {name!r} is missing from the installed package ({exc}); "
            "reinstall supportbot") from None
    data = yaml.safe_load(text)
    if not isinstance(data, dict):
        raise SupportbotError(f"escalation lexicon {name!r} is not a mapping; reinstall supportbot")
    return data


def _strings(value: Any, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise SupportbotError(f"escalation lexicon {where}: expected a list of strings")
    return tuple(value)


@lru_cache(maxsize=8)
def load_lexicon(languages: tuple[str, ...] = LANGUAGES) -> Lexicon:
    """Read and merge the built-in lexicons of `languages` (cached)."""
    merged: dict[str, Any] = {}
    for language in languages:
        data = _read(language)
        for category in PHRASE_CATEGORIES:
            section = data.get(category) or {}
            cues = CueList(_strings(section.get("anywhere"), f"{language}.{category}.anywhere"),
                           _strings(section.get("short_message"),
                                    f"{language}.{category}.short_message"))
            merged[category] = merged.get(category, CueList()) + cues
        for category in LIST_CATEGORIES:
            merged[category] = merged.get(category, ()) + _strings(
                data.get(category), f"{language}.{category}")
    return Lexicon(**merged)
