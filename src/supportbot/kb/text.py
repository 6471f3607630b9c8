"""Text normalisation, word tokens and script detection for the FAQ index.

Works for Latin, Cyrillic (Russian, Kyrgyz) and Armenian text: NFKC, case folding, `ё` -> `е`,
and Armenian emphasis/question marks (՛ ՜ ՞), which sit *inside* words, are dropped.
"""
from __future__ import annotations

import re
import unicodedata

_ARMENIAN_MARKS = str.maketrans({"\u055b": None, "\u055c": None, "\u055e": None, "\u055f": None})
_WORD = re.compile(r"[^\W_]+")
_KYRGYZ_LETTERS = frozenset("ңөүҢӨҮ")

# Question and function words. They carry the *form* of a question, which a question phrasing
# shares with a customer's message but an answer text does not: "where is my parcel" must not
# match an answer because it says "where" and "my". Left out of the answer-side word match only.
_FUNCTION_WORDS = """
a an the and or but if of to in on at by for from with about into over under as than then so
is are was were be been being am do does did done have has had having can could will would
shall should may might must i me my mine we us our ours you your yours he him his she her it
its they them their this that these those there here what which who whom whose when where why
how not no yes please hi hello thanks thank any some all just also still get got
что как где когда почему зачем кто какой какая какие ли и а но или не нет да я мне меня мой
моя мои вы вас ваш ваша ваши мы нас наш это там тут у в на с по за из к о от до для при
"""
FUNCTION_WORDS = frozenset(_FUNCTION_WORDS.split())

SCRIPT_OF_LANGUAGE = {"en": "latin", "ru": "cyrillic", "ky": "cyrillic", "hy": "armenian"}


def normalize(text: str) -> str:
    """Lower-cased, NFKC-normalised text with intra-word Armenian marks removed."""
    text = unicodedata.normalize("NFKC", text).translate(_ARMENIAN_MARKS).casefold()
    return text.replace("ё", "е")


def words(text: str) -> list[str]:
    """Unicode word tokens (letters and digits) of the normalised text."""
    return _WORD.findall(normalize(text))


def content_words(text: str) -> list[str]:
    """`words(text)` without FUNCTION_WORDS."""
    return [w for w in words(text) if w not in FUNCTION_WORDS]


def script_of(text: str) -> str:
    """The dominant script of `text`: latin, cyrillic, armenian or other."""
    counts = {"latin": 0, "cyrillic": 0, "armenian": 0, "other": 0}
    for ch in text:
        if not ch.isalpha():
            continue
        code = ord(ch)
        if 0x0400 <= code <= 0x052F:
            counts["cyrillic"] += 1
        elif 0x0530 <= code <= 0x058F or 0xFB13 <= code <= 0xFB17:
            counts["armenian"] += 1
        elif code < 0x0250 or 0x1E00 <= code <= 0x1EFF:
            counts["latin"] += 1
        else:
            counts["other"] += 1
    best = max(counts, key=lambda k: counts[k])
    return best if counts[best] else "other"


def language_fit(text: str, language: str | None) -> int:
    """How well `text` fits `language` by script: 2 = script and language, 1 = script only, 0 = no.

    Kyrgyz and Russian share Cyrillic; Kyrgyz-only letters (ң ө ү) tell them apart.
    """
    if not language:
        return 0
    want = SCRIPT_OF_LANGUAGE.get(language.lower().split("-")[0])
    if want is None or script_of(text) != want:
        return 0
    if want != "cyrillic":
        return 2
    has_kyrgyz = any(ch in _KYRGYZ_LETTERS for ch in text)
    is_ky = language.lower().startswith("ky")
    return 2 if has_kyrgyz == is_ky else 1
