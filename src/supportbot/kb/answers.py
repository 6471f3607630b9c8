"""The answer side of a FAQ entry, as text units to search beside its questions.

Customers often use the words of the *answer* ("my parcel went to a locker" -> an answer that
mentions lockers) rather than those of the entry's question, and a FAQ page usually has one
question per entry. So every entry also contributes:

* **passages**: its answer text (default language and every translation), split at sentence
  ends into passages of at most `PASSAGE_WORDS` words, plus a title made of the URL slug
  (`https://shop.example/help/parcel-lockers#fees` -> "help parcel lockers fees") when the entry
  has a URL. Searched densely (best passage cosine = feature `a_dense`).
* **one entry document**: the first question followed by the answer text, embedded as one text
  (feature `e_dense`): the question says what the answer is about.
* **one answer document per entry**: all its passages and the title, for the lexical signals
  (BM25 `a_bm25` and character n-gram cosine `a_char`).
"""
from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from supportbot.project.types import KBEntry

PASSAGE_WORDS = 80  # longer answers are split into passages of at most this many words
_SENTENCE_END = re.compile(r"(?<=[.!?。։])\s+|\n\s*\n")
_SLUG_SPLIT = re.compile(r"[/#?&=_.\-+]+")
_SLUG_NOISE = frozenset({"html", "htm", "php", "aspx", "index", "www", "en", "faq", "faqs"})


def split_passages(text: str, max_words: int = PASSAGE_WORDS) -> list[str]:
    """`text` cut at sentence ends into passages of at most `max_words` words (a longer
    sentence is cut at word boundaries)."""
    passages: list[str] = []
    current: list[str] = []
    for sentence in _SENTENCE_END.split(text.strip()):
        tokens = sentence.split()
        while len(tokens) > max_words:  # one very long sentence
            if current:
                passages.append(" ".join(current))
                current = []
            passages.append(" ".join(tokens[:max_words]))
            tokens = tokens[max_words:]
        if current and len(current) + len(tokens) > max_words:
            passages.append(" ".join(current))
            current = []
        current.extend(tokens)
    if current:
        passages.append(" ".join(current))
    return passages


def url_title(url: str | None) -> str:
    """Readable words from a URL's path and fragment (the host is left out)."""
    if not url:
        return ""
    try:
        parts = urlsplit(url)
    except ValueError:
        return ""
    words = [w for w in _SLUG_SPLIT.split(unquote(f"{parts.path} {parts.fragment}"))
             for w in w.split() if w and not w.isdigit() and w.lower() not in _SLUG_NOISE]
    return " ".join(words)


@dataclass(frozen=True)
class AnswerUnits:
    """Answer-side texts of a list of entries, each with the position of its entry.

    `passages` / `passage_entry`: answer passages and titles (dense search);
    `documents` / `document_entry`: one "question + answer" text per entry (dense);
    `lexical` / `lexical_entry`: one answer document per entry with an answer (BM25, n-grams).
    """

    passages: list[str]
    passage_entry: list[int]
    documents: list[str]
    document_entry: list[int]
    lexical: list[str]
    lexical_entry: list[int]


def answer_units(entries: Sequence[KBEntry]) -> AnswerUnits:
    """Split every entry's answers (all languages), URL title and first question into units."""
    units = AnswerUnits([], [], [], [], [], [])
    for i, entry in enumerate(entries):
        answers = [entry.answer.text, *(a.text for a in entry.translations.values())]
        pieces: list[str] = []
        for text in answers:
            if text and text.strip():
                pieces.extend(split_passages(text))
        title = url_title(entry.url)
        if title:
            pieces.append(title)
        seen: set[str] = set()
        for piece in pieces:
            if piece not in seen:
                seen.add(piece)
                units.passages.append(piece)
                units.passage_entry.append(i)
        if pieces:
            units.lexical.append(" ".join(pieces))
            units.lexical_entry.append(i)
        question = next((q for q in entry.questions if q.strip()), "")
        answer = entry.answer.text.strip() if entry.answer.text else ""
        if question and answer:
            units.documents.append(f"{question.strip()} {answer}")
            units.document_entry.append(i)
    return units
