"""Question-answer pairs -> KB entries: skip empties, drop repeated questions, merge answers, ids.

Pairs with the same explicit group (an id column, a QnA Maker QnaId) or, without one, the same
answer text become one entry with several questions. Within an entry, the answer in the
project language is the default and answers in other languages become translations.
"""
from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from supportbot.kb.importers.model import FaqEntry, Issue, IssueLevel, Location, RawQA
from supportbot.kb.importers.slug import best_id_source, entry_id, slugify, unique_id

_LANG_CODE = re.compile(r"[a-z]{2,3}")
_LANGUAGE_NAMES = {
    "english": "en", "russian": "ru", "armenian": "hy", "kyrgyz": "ky", "kirghiz": "ky",
    "german": "de", "french": "fr", "spanish": "es", "italian": "it", "portuguese": "pt",
    "ukrainian": "uk", "kazakh": "kk", "georgian": "ka", "dutch": "nl", "polish": "pl",
    "turkish": "tr", "chinese": "zh", "japanese": "ja", "arabic": "ar",
    "русский": "ru", "английский": "en", "հայերեն": "hy", "кыргызча": "ky",
}


@dataclass
class _Group:
    questions: list[str] = field(default_factory=list)
    answers: dict[str | None, tuple[str, Location]] = field(default_factory=dict)
    tags: list[str] = field(default_factory=list)
    url: str | None = None
    id_hint: str | None = None
    sources: list[Location] = field(default_factory=list)


def question_key(text: str) -> str:
    """What makes two questions "the same": case, spacing and end punctuation ignored."""
    return re.sub(r"\s+", " ", text).strip().rstrip("?!.。？！։՞ ").casefold()


def _answer_key(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def normalize_language(value: str | None) -> str | None:
    """`ru`, `ru-RU`, `RU`, `Russian` -> `ru`; None for blank or unknown values."""
    if value is None or not value.strip():
        return None
    lowered = value.strip().lower()
    if lowered in _LANGUAGE_NAMES:
        return _LANGUAGE_NAMES[lowered]
    primary = re.split(r"[-_]", lowered, maxsplit=1)[0]
    return primary if _LANG_CODE.fullmatch(primary) else None


def _short(text: str, limit: int = 60) -> str:
    one_line = " ".join(text.split())
    return one_line if len(one_line) <= limit else one_line[: limit - 1] + "…"


def build_entries(pairs: Iterable[RawQA], language: str = "en", *,
                  merges_expected: bool = False, taken_ids: Iterable[str] = ()
                  ) -> tuple[list[FaqEntry], list[Issue]]:
    """Entries from `pairs`, in first-seen order, and the issues found on the way.

    `merges_expected`: the format lists alternative phrasings as rows with the same answer
    (CSV), so those merges are reported as info rather than as warnings.
    `taken_ids` are ids used elsewhere in the project; new ids avoid them.
    """
    issues: list[Issue] = []
    groups: dict[str, _Group] = {}
    by_answer: dict[str, str] = {}  # answer text -> key of the group that has it
    aliases: dict[str, str] = {}  # explicit group -> the group it was merged into
    seen_questions: dict[str, tuple[str, Location]] = {}
    for pair in pairs:
        if not _accept(pair, seen_questions, issues):
            continue
        lang = _language(pair, issues)
        answer = _answer_key(pair.answer)
        explicit = pair.group is not None
        same = by_answer.get(answer)
        if pair.group is not None:
            key = aliases.get(pair.group, f"group:{pair.group}")
            merge = same is not None and key not in groups
        else:
            key = f"answer:{answer}"
            merge = same is not None
        if merge and same is not None:
            other = groups[same]
            if pair.id_hint and other.id_hint and pair.id_hint != other.id_hint:
                issues.append(Issue("warning", "duplicate-answer",
                                    f"id {pair.id_hint!r} has the same answer as id "
                                    f"{other.id_hint!r} ({other.sources[0].short()}); kept "
                                    "apart because their ids differ", pair.where))
            else:
                level: IssueLevel = "info" if merges_expected and not explicit else "warning"
                issues.append(Issue(level, "duplicate-answer",
                                    f"question {_short(pair.question)!r} has the same answer as"
                                    f" {_short(other.questions[0])!r} "
                                    f"({other.sources[0].short()}); merged into one entry",
                                    pair.where))
                if pair.group is not None:
                    aliases[pair.group] = same
                key = same
        by_answer.setdefault(answer, key)
        _add(groups.setdefault(key, _Group(id_hint=pair.id_hint)), pair, lang, issues)
    taken = set(taken_ids)
    entries = [_entry(g, language, taken, issues) for g in groups.values()]
    return entries, issues


def _accept(pair: RawQA, seen: dict[str, tuple[str, Location]], issues: list[Issue]) -> bool:
    """Whether to keep `pair`; an issue says why not (empty, or a question read before)."""
    question, answer = pair.question.strip(), pair.answer.strip()
    if not question:
        issues.append(Issue("warning", "empty-question",
                            f"no question for the answer {_short(answer)!r}; skipped"
                            if answer else "empty question and answer; skipped", pair.where))
        return False
    if not answer:
        issues.append(Issue("warning", "empty-answer",
                            f"question {_short(question)!r} has no answer; skipped",
                            pair.where))
        return False
    qkey = question_key(question)
    if qkey in seen:
        first_answer, first_where = seen[qkey]
        same = _answer_key(first_answer) == _answer_key(answer)
        issues.append(Issue("warning", "duplicate-question",
                            f"question {_short(question)!r} was already read at "
                            f"{first_where.short()}"
                            + ("" if same else " with a different answer; kept the first one")
                            + "; skipped", pair.where))
        return False
    seen[qkey] = (answer, pair.where)
    return True


def _language(pair: RawQA, issues: list[Issue]) -> str | None:
    lang = normalize_language(pair.language)
    if pair.language and lang is None:
        issues.append(Issue("warning", "language",
                            f"{pair.language!r} is not a language code (such as en, ru, hy); "
                            "read as the default language", pair.where))
    return lang


def _add(group: _Group, pair: RawQA, lang: str | None, issues: list[Issue]) -> None:
    group.questions.append(pair.question.strip())
    group.sources.append(pair.where)
    answer = pair.answer.strip()
    known = group.answers.get(lang)
    if known is None:
        group.answers[lang] = (answer, pair.where)
    elif _answer_key(known[0]) != _answer_key(answer):
        issues.append(Issue("warning", "conflicting-answer",
                            f"another answer for the same entry ({lang or 'default language'}) "
                            f"than at {known[1]}; kept the first one", pair.where))
    for tag in pair.tags:
        if tag and tag not in group.tags:
            group.tags.append(tag)
    if group.url is None and pair.url:
        group.url = pair.url


def _entry(group: _Group, language: str, taken: set[str], issues: list[Issue]) -> FaqEntry:
    answers = dict(group.answers)
    default_lang = next((lang for lang in (language, None) if lang in answers),
                        next(iter(answers)))
    text, _ = answers.pop(default_lang)
    translations = {lang: t for lang, (t, _where) in answers.items()
                    if lang is not None and lang != default_lang}
    base = slugify(group.id_hint) if group.id_hint else ""
    base = base or entry_id(best_id_source(group.questions))
    new_id = unique_id(base, taken)
    if new_id != base and group.id_hint:
        issues.append(Issue("info", "id", f"id {base!r} is already taken; using {new_id!r}",
                            group.sources[0]))
    return FaqEntry(id=new_id, questions=tuple(group.questions), answer=text,
                    translations=translations, tags=tuple(group.tags), url=group.url,
                    sources=tuple(group.sources))
