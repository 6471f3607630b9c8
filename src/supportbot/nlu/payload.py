"""Button payloads that name an intent directly and skip the classifier.

Grammar (the whole message, surrounding whitespace ignored)::

    /intent
    /intent{"entity": "value", ...}
    /faq/key                  a retrieval intent: selects FAQ entry `key` directly
    /faq/key{"entity": ...}

Names are letters, digits, `_`, `-` and `.`. The braces hold a JSON object whose values are
a string, number or boolean (one entity), a list of those (one entity each), an object
``{"value": ..., "role": ..., "group": ...}``, or null (ignored). Anything else — "/help me",
"/xyz{oops", "/a/b/c" — is not a payload: customers type slashes too, so it is read as
ordinary text and `parse_payload` returns None.
"""
from __future__ import annotations

import json
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from supportbot.nlu.parse import Entity, IntentScore, Parse

__all__ = ["PayloadParse", "format_payload", "parse_payload"]

_PAYLOAD = re.compile(
    r"/(?P<intent>[\w.\-]+)(?:/(?P<key>[\w.\-]+))?(?P<json>\{.*\})?", re.DOTALL
)
_SCALARS = (str, int, float, bool)


@dataclass(frozen=True)
class PayloadParse:
    """What a payload names: the intent (`faq` for `/faq/key`), the key and the entities."""

    intent: str
    retrieval_key: str | None = None  # "faq/key" for `/faq/key`, else None
    entities: tuple[Entity, ...] = ()

    def to_parse(self, text: str, language: str = "en") -> Parse:
        """The NLU result for this payload: the intent with confidence 1, no fallback."""
        return Parse(text=text, intent=self.intent, confidence=1.0,
                     ranking=(IntentScore(self.intent, 1.0),), entities=self.entities,
                     language=language, from_payload=True, retrieval_key=self.retrieval_key)


def _entity(name: str, value: Any, role: Any = None, group: Any = None) -> Entity | None:
    if not isinstance(value, _SCALARS):
        return None
    if not all(x is None or isinstance(x, str) for x in (role, group)):
        return None
    text = value if isinstance(value, str) else json.dumps(value)
    return Entity(entity=name, value=value, start=0, end=0, text=text, extractor="payload",
                  role=role, group=group)


def _entities(raw: Any) -> tuple[Entity, ...] | None:
    """Entities of a payload's JSON object, or None when it does not fit the grammar."""
    if not isinstance(raw, dict):
        return None
    found: list[Entity] = []
    for name, spec in raw.items():
        if not name.strip():
            return None
        if spec is None:
            continue
        if isinstance(spec, dict):
            if "value" not in spec or not set(spec) <= {"value", "role", "group"}:
                return None
            items = [_entity(name, spec["value"], spec.get("role"), spec.get("group"))]
        elif isinstance(spec, list):
            items = [_entity(name, v) for v in spec if v is not None]
        else:
            items = [_entity(name, spec)]
        if any(e is None for e in items):
            return None
        found.extend(e for e in items if e is not None)
    return tuple(found)


def parse_payload(text: str, intents: Collection[str] | None = None) -> PayloadParse | None:
    """The payload in `text`, or None when `text` is ordinary text.

    With `intents` (the domain's intent names), a well-formed payload naming another intent
    is ordinary text too, so "/start" typed into a chat does not select an unknown intent.
    """
    m = _PAYLOAD.fullmatch(text.strip())
    if m is None:
        return None
    intent, key, raw = m.group("intent"), m.group("key"), m.group("json")
    if intents is not None and intent not in intents:
        return None
    entities: tuple[Entity, ...] = ()
    if raw is not None:
        try:
            parsed = _entities(json.loads(raw))
        except ValueError:  # malformed JSON: a customer typing, not a button
            return None
        if parsed is None:
            return None
        entities = parsed
    return PayloadParse(intent=intent, retrieval_key=f"{intent}/{key}" if key else None,
                        entities=entities)


def format_payload(intent: str, entities: Mapping[str, Any] | None = None) -> str:
    """The payload text for `intent` (or `faq/key`) and entities; `parse_payload` reads it."""
    payload = f"/{intent}"
    if entities:
        payload += json.dumps(dict(entities), ensure_ascii=False, separators=(",", ":"))
    return payload
