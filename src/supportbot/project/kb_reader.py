"""The knowledge base: `kb:` entries in any data file, plus Rasa retrieval intents.

```yaml
kb:
- id: delivery_cost
  questions: [How much does delivery cost?, Сколько стоит доставка?]
  answer: "Standard delivery costs 4.99."      # or {text, buttons, languages: {ru: ...}}
  tags: [delivery]
  url: https://shop.example/help/delivery
```
"""
from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from supportbot.project.context import FileContext, Report, type_name
from supportbot.project.domain_reader import read_buttons
from supportbot.project.types import Example, KBAnswer, KBEntry, Response

_ENTRY_KEYS = ("id", "questions", "answer", "tags", "url")
_ANSWER_KEYS = ("text", "buttons", "languages")
_BAD_ID = re.compile(r"[\s/]")


def read_kb(section: Any, parent: dict, ctx: FileContext, out: list[KBEntry]) -> None:
    """Read one file's `kb:` list into `out`."""
    if section is None:
        ctx.warning("`kb` is empty", parent, "kb", code="empty")
        return
    if not isinstance(section, list):
        ctx.error(f"`kb` must be a list of entries (`- id: ...`), not {type_name(section)}",
                  parent, "kb", code="wrong-type")
        return
    for index, item in enumerate(section):
        entry = _read_entry(item, section, index, ctx)
        if entry is not None:
            out.append(entry)


def _read_entry(item: Any, parent: list, index: int, ctx: FileContext) -> KBEntry | None:
    if not isinstance(item, dict):
        ctx.error(f"a KB entry must be a mapping with `id`, `questions` and `answer`, not "
                  f"{type_name(item)}", parent, index, code="wrong-type")
        return None
    ctx.check_keys(item, _ENTRY_KEYS, "a KB entry")
    entry_id = item.get("id")
    if isinstance(entry_id, int) and not isinstance(entry_id, bool):
        entry_id = str(entry_id)
    if not isinstance(entry_id, str) or not entry_id.strip():
        ctx.error("KB entry has no `id`", parent, index,
                  hint="add a stable id such as `id: delivery_cost`", code="kb-id")
        return None
    entry_id = entry_id.strip()
    what = f"KB entry {entry_id!r}"
    if _BAD_ID.search(entry_id):
        ctx.warning(f"{what}: ids should not contain spaces or `/`", item, "id",
                    hint="use letters, digits and `_`", code="kb-id")
    questions = _questions(item, what, ctx)
    answer, translations = _answer(item, what, ctx)
    tags = tuple(ctx.str_list(item.get("tags"), f"{what} `tags`", item, "tags"))
    url = item.get("url")
    if url is not None and not isinstance(url, str):
        ctx.error(f"{what}: `url` must be text", item, "url", code="wrong-type")
        url = None
    if not questions or answer is None:
        return None
    return KBEntry(id=entry_id, questions=questions, answer=answer, translations=translations,
                   tags=tags, url=url, source=ctx.at(parent, index))


def _questions(item: dict, what: str, ctx: FileContext) -> tuple[str, ...]:
    raw = item.get("questions")
    if raw is None or raw == []:
        ctx.error(f"{what} has no `questions`", item, "id",
                  hint="add `questions:` with one or more phrasings", code="kb-questions")
        return ()
    if isinstance(raw, str):
        raw = [raw]
    if not isinstance(raw, list):
        ctx.error(f"{what}: `questions` must be a list of texts", item, "questions",
                  code="wrong-type")
        return ()
    questions: list[str] = []
    for i, q in enumerate(raw):
        if isinstance(q, (int, float)) and not isinstance(q, bool):
            q = str(q)
        if not isinstance(q, str) or not q.strip():
            ctx.error(f"{what}: question {i + 1} must be non-empty text", raw, i,
                      code="kb-questions")
            continue
        q = q.strip()
        if q in questions:
            ctx.warning(f"{what}: question {q!r} is listed twice", raw, i, code="duplicate")
            continue
        questions.append(q)
    return tuple(questions)


def _answer(item: dict, what: str, ctx: FileContext
            ) -> tuple[KBAnswer | None, dict[str, KBAnswer]]:
    raw = item.get("answer")
    if raw is None:
        ctx.error(f"{what} has no `answer`", item, "id", hint="add `answer: ...`",
                  code="kb-answer")
        return None, {}
    translations: dict[str, KBAnswer] = {}
    answer = _one_answer(raw, item, "answer", what, ctx)
    if isinstance(raw, dict) and raw.get("languages") is not None:
        langs = raw["languages"]
        if not isinstance(langs, dict):
            ctx.error(f"{what}: `languages` must map a language code to an answer", raw,
                      "languages", hint="e.g. `languages: {ru: \"...\"}`", code="wrong-type")
        else:
            for lang, value in langs.items():
                if not isinstance(lang, str) or not re.fullmatch(r"[a-z]{2,3}([-_][A-Za-z]+)?",
                                                                   lang):
                    ctx.error(f"{what}: {lang!r} is not a language code", langs, lang,
                              hint="use ISO 639-1 codes such as en, ru, hy, ky",
                              code="language")
                    continue
                translated = _one_answer(value, langs, lang, f"{what} ({lang})", ctx,
                                         allow_languages=False)
                if translated is not None:
                    translations[lang] = translated
    return answer, translations


def _one_answer(raw: Any, parent: dict, key: str, what: str, ctx: FileContext,
                allow_languages: bool = True) -> KBAnswer | None:
    if isinstance(raw, (int, float)) and not isinstance(raw, bool):
        raw = str(raw)
    if isinstance(raw, str):
        if not raw.strip():
            ctx.error(f"{what}: the answer is empty", parent, key, hint="write the answer text",
                      code="kb-answer")
            return None
        return KBAnswer(raw.strip())
    if not isinstance(raw, dict):
        ctx.error(f"{what}: `{key}` must be text or a mapping with `text`, not "
                  f"{type_name(raw)}", parent, key, code="wrong-type")
        return None
    allowed = _ANSWER_KEYS if allow_languages else _ANSWER_KEYS[:2]
    ctx.check_keys(raw, allowed, f"the answer of {what}")
    text = raw.get("text")
    buttons = read_buttons(raw.get("buttons"), raw, what, ctx)
    if not isinstance(text, str) or not text.strip():
        ctx.error(f"{what}: the answer is empty", parent, key,
                  hint="write the answer under `text:`", code="kb-answer")
        return None
    return KBAnswer(text.strip(), buttons)


def entries_from_retrieval_intents(examples: Iterable[Example],
                                   responses: dict[str, Response], report: Report,
                                   taken: set[str]) -> list[KBEntry]:
    """KB entries for Rasa retrieval intents: `faq/<key>` examples + `utter_faq/<key>` response.

    The entry id is `<key>`; when another retrieval intent already took that id it becomes
    `<intent>/<key>`. A retrieval intent without a response is reported as an error.
    """
    grouped: dict[str, list[Example]] = {}
    for ex in examples:
        if "/" in ex.intent:
            grouped.setdefault(ex.intent, []).append(ex)
    entries = []
    for intent, exs in grouped.items():
        base, key = intent.split("/", 1)
        response = responses.get(f"utter_{intent}")
        if response is None:
            report.error(f"retrieval intent {intent!r} has no response `utter_{intent}`",
                         exs[0].source, hint=f"add `utter_{intent}:` under `responses:`",
                         code="retrieval-response")
            continue
        plain = [v for v in response.variations if v.text and v.channel is None
                 and not v.condition]
        default = [v for v in plain if v.language is None] or plain
        if not default:
            report.error(f"response `utter_{intent}` has no plain text variation for the KB",
                         response.source, hint="add a `- text: ...` variation",
                         code="retrieval-response")
            continue
        translations = {}
        for v in plain:
            if v.language and v.language not in translations:
                translations[v.language] = KBAnswer(v.text or "", v.buttons)
        entry_id = key if key not in taken else intent
        taken.add(entry_id)
        questions = tuple(dict.fromkeys(ex.text for ex in exs))
        entries.append(KBEntry(id=entry_id, questions=questions,
                               answer=KBAnswer(default[0].text or "", default[0].buttons),
                               translations=translations, tags=(base,),
                               source=response.source or exs[0].source))
    return entries

