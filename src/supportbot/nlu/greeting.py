"""A greeting in front of a question ("Hi, where is my parcel?"): the question is what counts."""
from __future__ import annotations

import re

# Greeting openers in the bot's four languages, longest first so "good morning" wins over "good".
_GREETINGS = sorted({
    # en
    "hi", "hello", "hey", "hiya", "hey there", "hi there", "hello there", "good morning",
    "good afternoon", "good evening", "greetings", "yo", "dear support", "hello team",
    # ru
    "здравствуйте", "здравствуй", "привет", "приветствую", "добрый день", "добрый вечер",
    "доброе утро", "доброго дня", "здрасте", "алло", "хай",
    # hy
    "բարև", "բարև ձեզ", "բարեւ", "բարեւ ձեզ", "ողջույն", "բարի օր", "բարի երեկո",
    "բարի լույս", "հարգելի աջակցություն",
    # ky
    "салам", "саламатсызбы", "саламатсыңбы", "ассалому алейкум", "ассалом алейкум",
    "кутман күн", "кутман таң", "кутман кеч", "кандайсыз", "салам алейкум",
}, key=len, reverse=True)
_PATTERN = re.compile(
    r"^\s*(?:" + "|".join(re.escape(g) for g in _GREETINGS) + r")(?![\w])[\s,.!;:—–-]*",
    re.IGNORECASE)
_WORD = re.compile(r"\w+")


def strip_greeting(text: str, min_words: int = 2) -> str | None:
    """The message without its leading greeting, when at least `min_words` words remain."""
    match = _PATTERN.match(text)
    if match is None:
        return None
    rest = text[match.end():].strip()
    return rest if len(_WORD.findall(rest)) >= min_words else None
