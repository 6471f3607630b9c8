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

Limits: the JSON part may be at most `MAX_PAYLOAD_JSON_CHARS` characters and nest at most
`MAX_PAYLOAD_DEPTH` levels (the grammar needs two: the object, then a list or a
``{"value": ...}`` object). Anything bigger or deeper cannot be a button payload, so it is
ordinary text too: the customer gets the bot's normal (usually fallback) answer rather than an
error, and a hostile ``/intent{"a": [[[[...]]]]}`` never reaches the JSON parser's recursion.
`parse_payload` never raises for any string.

Entity names and string values are normalized like message text
(`supportbot.textnorm.normalize_text`): a JSON ``\u0000`` or lone ``\ud800`` escape does not
smuggle a NUL or a surrogate into slots, tickets or a database.
"""
from __future__ import annotations

import json
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from supportbot.nlu.parse import Entity, IntentScore, Parse
from supportbot.textnorm import normalize_text

__all__ = ["PayloadParse", "format_payload", "parse_payload"]

_PAYLOAD = re.compile(
    r"/(?P<intent>[\w.\-]+)(?:/(?P<key>[\w.\-]+))?(?P<json>\{.*\})?", re.DOTALL
)
_SCALARS = (str, int, float, bool)
MAX_PAYLOAD_JSON_CHARS = 2000
MAX_PAYLOAD_DEPTH = 2


def _too_deep(raw: str, limit: int = MAX_PAYLOAD_DEPTH) -> bool:
    """True when `raw` nests objects/arrays deeper than `limit` (brackets inside JSON strings
    do not count). A linear scan, so deep input never reaches `json.loads`'s recursion."""
    depth, in_string, escaped = 0, False, False
    for ch in raw:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            if depth > limit:
                return True
        elif ch in "]}":
            depth -= 1
    return False


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
    if isinstance(value, str):
        value = normalize_text(value)
    role = normalize_text(role) if isinstance(role, str) else role
    group = normalize_text(group) if isinstance(group, str) else group
    text = value if isinstance(value, str) else json.dumps(value)
    return Entity(entity=name, value=value, start=0, end=0, text=text, extractor="payload",
                  role=role, group=group)


def _entities(raw: Any) -> tuple[Entity, ...] | None:
    """Entities of a payload's JSON object, or None when it does not fit the grammar."""
    if not isinstance(raw, dict):
        return None
    found: list[Entity] = []
    for name, spec in raw.items():
        name = normalize_text(name)
        if not name:
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
        if len(raw) > MAX_PAYLOAD_JSON_CHARS or _too_deep(raw):
            return None  # no button sends this: ordinary text (see the module docstring)
        try:
            parsed = _entities(json.loads(raw))
        except (ValueError, RecursionError):  # malformed JSON: a customer typing, not a button
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
