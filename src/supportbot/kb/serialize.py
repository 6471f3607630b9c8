"""KBEntry <-> JSON-ready dicts, for saving an index without pickle."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from supportbot.project.types import Button, KBAnswer, KBEntry, Source

# The saved KB index's format (kb/kb.json `format_version`). It is part of the training
# fingerprint (supportbot.model.project_fingerprint), so a model whose KB was saved in an older
# format is retrained by `supportbot train` instead of being returned unchanged.
KB_FORMAT_VERSION = 2  # 2: answer side (passages, entry documents, answer BM25 / n-grams)


def _answer_to_json(answer: KBAnswer) -> dict[str, Any]:
    return {"text": answer.text,
            "buttons": [{"title": b.title, "payload": b.payload} for b in answer.buttons]}


def _answer_from_json(data: Mapping[str, Any]) -> KBAnswer:
    return KBAnswer(text=data["text"],
                    buttons=tuple(Button(b["title"], b["payload"]) for b in data["buttons"]))


def entry_to_json(entry: KBEntry) -> dict[str, Any]:
    """A JSON-ready dict holding every field of `entry`."""
    return {
        "id": entry.id,
        "questions": list(entry.questions),
        "answer": _answer_to_json(entry.answer),
        "translations": {lang: _answer_to_json(a) for lang, a in entry.translations.items()},
        "tags": list(entry.tags),
        "url": entry.url,
        "source": {"file": entry.source.file, "line": entry.source.line},
    }


def entry_from_json(data: Mapping[str, Any]) -> KBEntry:
    """The entry written by `entry_to_json`."""
    return KBEntry(
        id=data["id"],
        questions=tuple(data["questions"]),
        answer=_answer_from_json(data["answer"]),
        translations={lang: _answer_from_json(a) for lang, a in data["translations"].items()},
        tags=tuple(data["tags"]),
        url=data["url"],
        source=Source(data["source"]["file"], int(data["source"]["line"])),
    )
