"""Recognise a customer's wish to stop waiting for a person, in en, ru, hy and ky."""
from __future__ import annotations

import re

CANCEL_COMMANDS: frozenset[str] = frozenset({"/end", "/cancel", "/stop", "/handoff_cancel"})

CANCEL_PHRASES: frozenset[str] = frozenset({
    # en
    "cancel", "stop", "end", "quit", "stop waiting", "cancel please", "never mind", "nevermind",
    "forget it", "i don't want to wait", "i dont want to wait", "don't need an agent",
    "no need", "cancel request", "cancel the request",
    # ru
    "отмена", "отменить", "отмени", "отмените", "отменить запрос", "стоп", "хватит", "не надо",
    "не нужно", "уже не надо", "уже не нужно", "передумал", "передумала", "не хочу ждать",
    "больше не жду", "забудь", "забудьте", "otmena",
    # hy
    "չեղարկել", "չեղարկիր", "չեղարկեք", "չեղարկում", "կանգնեցնել", "պետք չէ", "էլ պետք չէ",
    "չեմ ուզում սպասել", "մոռացեք", "մոռացիր",
    # ky
    "жокко чыгаруу", "жокко чыгар", "жокко чыгарыңыз", "токтот", "токтотуу", "токтотуңуз",
    "кереги жок", "керек эмес", "күткүм келбейт", "күтпөйм", "ойумдан кайттым",
})

_STRIP = re.compile(r"[\s.!?,;:։…\"«»()\-–—]+")
_IN_WORD_MARKS = re.compile("[\u055b\u055c\u055e]")  # Armenian stress, exclamation, question


def _normalize(text: str) -> str:
    text = _IN_WORD_MARKS.sub("", text.casefold()).replace("ё", "е").replace("’", "'")
    return " ".join(part for part in _STRIP.split(text) if part)


def is_cancel_request(text: str) -> bool:
    """True when the whole message asks to stop waiting ("cancel", "отмена", "չեղարկել",
    "жокко чыгаруу", `/end`). A longer sentence such as "cancel my order" is not a cancel request."""
    if not text:
        return False
    stripped = text.strip()
    if stripped.startswith("/"):
        return stripped.split("{", 1)[0].strip().casefold() in CANCEL_COMMANDS
    normalized = _normalize(stripped)
    return normalized in CANCEL_PHRASES or normalized.replace("'", "") in CANCEL_PHRASES
