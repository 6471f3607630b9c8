"""Text helpers for the escalation signals: normalising, word-bounded phrase matching that
tolerates simple inflection, character n-gram similarity and shouting detection.

Phrase syntax (lexicon files and config): words separated by spaces; `a|b` accepts either word
in that position; `word*` accepts any word starting with `word`; `=word` accepts only `word`
itself. A plain word of four or more letters also accepts up to three extra letters at its end
(`operator` matches `operators`, `оператор` matches `оператором`); shorter words must match
exactly. Up to one extra word may stand between two phrase words (`talk to human` matches
"talk to a human").
"""
from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

# apostrophes are dropped (didn't -> didnt); Armenian in-word marks (՛ ՜ ՞) too (օպերատո՞ր)
_DROP = dict.fromkeys(map(ord, "'’‘ʼ`´\u055a\u055b\u055c\u055e"), None)
_WORD = re.compile(r"\w+")
_PUNCT_RUN = re.compile(r"[!?]{2,}")
_EDGE_PUNCT = ".,;:!?¡¿()[]{}\"«»“”„'’…՝։`*"

MAX_SUFFIX = 3
"""Extra letters a plain phrase word of 4+ letters tolerates at its end."""
MAX_GAP = 1
"""Extra words allowed between two consecutive words of a phrase."""
SHORT_MESSAGE_WORDS = 4
"""A message with at most this many words is "short": single-word cues count only there."""


def normalize(text: str) -> str:
    """Case-folded, NFKC-normalised text without apostrophes; `ё` is read as `е`."""
    return unicodedata.normalize("NFKC", text).casefold().translate(_DROP).replace("ё", "е")


def words(text: str) -> list[str]:
    """The normalised words of `text` (letters and digits; punctuation separates words)."""
    return _WORD.findall(normalize(text))


@dataclass(frozen=True)
class _Slot:
    options: tuple[str, ...]
    prefix: bool
    exact: bool = False

    def accepts(self, word: str) -> bool:
        for stem in self.options:
            if word == stem:
                return True
            if self.exact or not word.startswith(stem):
                continue
            if self.prefix or (len(stem) >= 4 and len(word) - len(stem) <= MAX_SUFFIX):
                return True
        return False


@dataclass(frozen=True)
class Phrase:
    """One compiled phrase. `short_only` phrases count only in short messages."""

    text: str
    slots: tuple[_Slot, ...]
    short_only: bool = False

    @classmethod
    def compile(cls, text: str, short_only: bool = False) -> Phrase:
        """Compile the phrase syntax described in the module docstring.

        Raises ValueError when the phrase holds no word.
        """
        slots: list[_Slot] = []
        for raw in normalize(text).split():
            prefix, exact = raw.endswith("*"), raw.startswith("=")
            options = tuple(o for o in (_clean(part) for part in raw.strip("*=").split("|")) if o)
            if options:
                slots.append(_Slot(options, prefix and not exact, exact))
        if not slots:
            raise ValueError(f"phrase {text!r} holds no word")
        return cls(text, tuple(slots), short_only)

    def find(self, tokens: Sequence[str]) -> tuple[int, int] | None:
        """(start, end) of the first match in `tokens`, or None."""
        if self.short_only and len(tokens) > SHORT_MESSAGE_WORDS:
            return None
        for start, word in enumerate(tokens):
            if self.slots[0].accepts(word):
                end = self._rest(tokens, start + 1, 1)
                if end is not None:
                    return start, end
        return None

    def index_keys(self) -> set[str]:
        """Index keys: a word can start this phrase only if its first letters give one of them."""
        return {_key(stem) for stem in self.slots[0].options}

    def _rest(self, tokens: Sequence[str], pos: int, slot: int) -> int | None:
        if slot == len(self.slots):
            return pos
        for i in range(pos, min(pos + MAX_GAP + 1, len(tokens))):
            if self.slots[slot].accepts(tokens[i]):
                end = self._rest(tokens, i + 1, slot + 1)
                if end is not None:
                    return end
        return None


def _clean(word: str) -> str:
    return "".join(_WORD.findall(word))


def _key(word: str) -> str:
    return word[:2]


class PhraseSet:
    """A list of phrases matched against messages; `first`/`all` say which ones matched."""

    def __init__(self, anywhere: Iterable[str] = (), short_only: Iterable[str] = ()):
        phrases = [Phrase.compile(p) for p in anywhere]
        phrases += [Phrase.compile(p, short_only=True) for p in short_only]
        self.phrases: tuple[Phrase, ...] = tuple(phrases)
        self._index: dict[str, list[int]] = {}
        for i, phrase in enumerate(self.phrases):
            for key in phrase.index_keys():
                self._index.setdefault(key, []).append(i)

    def __len__(self) -> int:
        return len(self.phrases)

    def _candidates(self, tokens: Sequence[str]) -> list[Phrase]:
        """Phrases whose first word could match one of `tokens`, in list order."""
        found: set[int] = set()
        for word in tokens:
            for key in {word[:1], _key(word)}:
                found.update(self._index.get(key, ()))
        return [self.phrases[i] for i in sorted(found)]

    def first(self, text_or_tokens: str | Sequence[str]) -> str | None:
        """The message's words that matched the first matching phrase, or None."""
        tokens = words(text_or_tokens) if isinstance(text_or_tokens, str) else text_or_tokens
        for phrase in self._candidates(tokens):
            span = phrase.find(tokens)
            if span is not None:
                return " ".join(tokens[span[0]:span[1]])
        return None

    def earliest(self, text_or_tokens: str | Sequence[str]) -> tuple[int, str] | None:
        """(position, matched words) of the match that starts first in the message, or None."""
        tokens = words(text_or_tokens) if isinstance(text_or_tokens, str) else text_or_tokens
        best: tuple[int, str] | None = None
        for phrase in self._candidates(tokens):
            span = phrase.find(tokens)
            if span is not None and (best is None or span[0] < best[0]):
                best = (span[0], " ".join(tokens[span[0]:span[1]]))
        return best

    def all(self, text_or_tokens: str | Sequence[str]) -> list[str]:
        """Every matched stretch of the message, without overlaps (earlier phrases win)."""
        tokens = words(text_or_tokens) if isinstance(text_or_tokens, str) else text_or_tokens
        taken: set[int] = set()
        found: list[str] = []
        for phrase in self._candidates(tokens):
            span = phrase.find(tokens)
            if span is None or taken.intersection(range(*span)):
                continue
            taken.update(range(*span))
            found.append(" ".join(tokens[span[0]:span[1]]))
        return found


# ------------------------------------------------------------------ similarity
def _ngrams(text: str, n: int) -> Counter[str]:
    grams: Counter[str] = Counter()
    for word in words(text):
        if any(ch.isdigit() for ch in word):
            continue  # order numbers and codes say nothing about how a question is phrased
        padded = f" {word} "
        if len(padded) <= n:
            grams[padded] += 1
            continue
        for i in range(len(padded) - n + 1):
            grams[padded[i:i + n]] += 1
    return grams


def similarity(a: str, b: str, n: int = 3) -> float:
    """Cosine similarity (0..1) of the character n-gram counts of two messages."""
    ga, gb = _ngrams(a, n), _ngrams(b, n)
    if not ga or not gb:
        return 0.0
    dot = sum(count * gb[g] for g, count in ga.items() if g in gb)
    norm = math.sqrt(sum(v * v for v in ga.values())) * math.sqrt(sum(v * v for v in gb.values()))
    return dot / norm if norm else 0.0


def codes(text: str) -> frozenset[str]:
    """Words holding a digit (order numbers, codes): what a message is about, not how it asks."""
    return frozenset(w for w in words(text) if any(ch.isdigit() for ch in w))


# ------------------------------------------------------------------ shouting
def caps_words(text: str, ignore: Iterable[str] = ()) -> tuple[int, int]:
    """(shouted words, words considered): words of 3+ letters only; codes such as
    `NW-123456`, e-mail addresses, links and the acronyms in `ignore` are skipped."""
    skip = {a.upper() for a in ignore}
    upper = considered = 0
    for raw in text.split():
        token = raw.strip(_EDGE_PUNCT)
        if len(token) < 3 or not token.isalpha() or token.upper() in skip:
            continue
        considered += 1
        if token.isupper():
            upper += 1
    return upper, considered


def punctuation_runs(text: str) -> list[str]:
    """Runs of two or more `!`/`?` characters ("!!!", "?!", "???")."""
    return _PUNCT_RUN.findall(text)
