"""Inline entity annotations in training examples: `[text](entity)`, `[text](entity:value)`,
`[text]{"entity": .., "value": .., "role": .., "group": ..}`."""
from __future__ import annotations

import json
import re
from dataclasses import dataclass

from supportbot.project.types import EntityAnnotation

# the same pattern Rasa's YAML reader uses, so both tools agree on what is markup
ENTITY_MARKUP = re.compile(
    r"\[(?P<entity_text>[^\]]+?)\](\((?P<entity>[^:)]+?)(?:\:(?P<value>[^)]+))?\)"
    r"|\{(?P<entity_dict>[^}]+?)\})"
)
_DICT_KEYS = ("entity", "value", "role", "group")


@dataclass(frozen=True)
class MarkupResult:
    """An example with its markup removed; `errors` explain annotations that could not be read."""

    text: str
    entities: tuple[EntityAnnotation, ...] = ()
    errors: tuple[str, ...] = ()


def parse_markup(raw: str) -> MarkupResult:
    """Strip entity markup from `raw`; offsets of the annotations refer to the stripped text."""
    if "[" not in raw:
        return MarkupResult(raw)
    parts: list[str] = []
    entities: list[EntityAnnotation] = []
    errors: list[str] = []
    pos = 0
    length = 0
    for match in ENTITY_MARKUP.finditer(raw):
        before = raw[pos:match.start()]
        parts.append(before)
        length += len(before)
        text = match.group("entity_text")
        start, end = length, length + len(text)
        parts.append(text)
        length = end
        pos = match.end()
        if match.group("entity_dict") is not None:
            fields, error = _read_dict(match.group("entity_dict"))
            if error:
                errors.append(f"annotation {match.group(0)!r}: {error}")
                continue
            entity = fields["entity"]
            value = fields.get("value", text)
            role, group = fields.get("role"), fields.get("group")
        else:
            entity = match.group("entity").strip()
            value = match.group("value") if match.group("value") is not None else text
            role = group = None
        entities.append(EntityAnnotation(entity=entity, value=value, start=start, end=end,
                                         text=text, role=role, group=group))
    parts.append(raw[pos:])
    return MarkupResult("".join(parts), tuple(entities), tuple(errors))


def _read_dict(body: str) -> tuple[dict[str, str], str | None]:
    try:
        data = json.loads("{" + body + "}")
    except json.JSONDecodeError as exc:
        example = '{"entity": "city", "value": "Berlin"}'
        return {}, f"not valid JSON ({exc.msg}); write it like {example}"
    unknown = [k for k in data if k not in _DICT_KEYS]
    if unknown:
        names = ", ".join(map(repr, unknown))
        return {}, f"unknown field(s) {names}; allowed: " + ", ".join(_DICT_KEYS)
    if not isinstance(data.get("entity"), str) or not data["entity"].strip():
        return {}, 'needs "entity" with the entity name'
    fields = {k: str(v) for k, v in data.items() if v is not None}
    fields["entity"] = fields["entity"].strip()
    return fields, None
