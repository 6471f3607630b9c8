"""Forms with Rasa semantics: which slots a form still needs, what a message fills, and whether
the values pass the form's declared validation.

Pure functions over the domain, the parse and the current slots; the dialogue manager turns
their results into events and replies.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Any

from supportbot.nlu.entities import fill_slots
from supportbot.nlu.parse import Parse
from supportbot.project.types import Domain, FormDef, SlotDef, SlotMapping, SlotValidation

REQUESTED_SLOT = "requested_slot"
INVALID_FALLBACK_RESPONSE = "utter_invalid_value"


@dataclass(frozen=True)
class Extraction:
    """What one message gives a form.

    `values`: valid slot values to set; `invalid`: slot -> response that explains the problem;
    `requested_from_entity`: the requested slot's value came from an entity (not just the raw
    message text), so the message clearly answers the form's question.
    """

    values: dict[str, Any] = field(default_factory=dict)
    invalid: dict[str, str] = field(default_factory=dict)
    requested_from_entity: bool = False

    @property
    def empty(self) -> bool:
        return not self.values and not self.invalid


def slot_mappings(form: FormDef, slot: str, domain: Domain) -> tuple[SlotMapping, ...]:
    """The mappings that fill `slot` for `form`: the form's own (Rasa 2.x) or the slot's."""
    own = form.mappings.get(slot)
    if own:
        return tuple(_scoped(m, form.name, slot) for m in own)
    definition = domain.slots.get(slot)
    if definition is None:
        return ()
    if definition.mappings:
        return definition.mappings
    if domain.store_entities_as_slots and slot in domain.entities:
        return (SlotMapping(type="from_entity", entity=slot),)
    return ()


def _scoped(mapping: SlotMapping, form: str, slot: str) -> SlotMapping:
    """A form-level mapping applies while the form runs; text and intent mappings only when
    the form asked for this slot (Rasa 2.x behaviour)."""
    if mapping.conditions:
        return mapping
    if mapping.type == "from_entity":
        condition: dict[str, Any] = {"active_loop": form}
    else:
        condition = {"active_loop": form, "requested_slot": slot}
    return replace(mapping, conditions=(condition,))


def _form_domain(form: FormDef, domain: Domain, only_entities: bool = False) -> Domain:
    slots: dict[str, SlotDef] = {}
    for name in form.required_slots:
        definition = domain.slots.get(name) or SlotDef(name=name)
        mappings = slot_mappings(form, name, domain)
        if only_entities:
            mappings = tuple(m for m in mappings if m.type == "from_entity")
        slots[name] = replace(definition, mappings=mappings)
    return replace(domain, slots=slots)


def missing_slots(form: FormDef, slots: Mapping[str, Any]) -> list[str]:
    """Required slots without a value, in the form's order."""
    return [s for s in form.required_slots if slots.get(s) is None]


def extract(form: FormDef, domain: Domain, parse: Parse, slots: Mapping[str, Any],
            requested: str | None) -> Extraction:
    """The form slots this message fills (validated), while `form` is active."""
    if parse.intent in form.ignored_intents and not parse.fallback:
        return Extraction()
    text = None if parse.from_payload else parse.text.strip()
    found = fill_slots(parse.entities, _form_domain(form, domain), parse.intent, slots,
                       text=text, active_loop=form.name, requested_slot=requested)
    by_entity = fill_slots(parse.entities, _form_domain(form, domain, only_entities=True),
                           parse.intent, slots, text=None, active_loop=form.name,
                           requested_slot=requested)
    values: dict[str, Any] = {}
    invalid: dict[str, str] = {}
    for name, value in found.items():
        rule = form.validation.get(name)
        checked = validate_value(rule, value) if rule is not None else value
        if checked is _INVALID:
            invalid[name] = (rule.response if rule is not None and rule.response
                             else invalid_response_name(name, domain))
        else:
            values[name] = checked
    return Extraction(values, invalid, requested is not None and requested in by_entity)


def invalid_response_name(slot: str, domain: Domain) -> str:
    name = f"utter_invalid_{slot}"
    return name if name in domain.responses else INVALID_FALLBACK_RESPONSE


class _Invalid:
    def __repr__(self) -> str:
        return "INVALID"


_INVALID: Any = _Invalid()


def validate_value(rule: SlotValidation, value: Any) -> Any:
    """`value` (normalised) when it passes `rule`, else the INVALID marker."""
    if value is None:
        return value
    if rule.regex is not None and not _compiled(rule.regex).fullmatch(str(value).strip()):
        return _INVALID
    if rule.values:
        wanted = str(value).strip().casefold()
        for allowed in rule.values:
            if str(allowed).casefold() == wanted:
                value = allowed
                break
        else:
            return _INVALID
    if rule.min is not None or rule.max is not None:
        try:
            number = float(str(value).strip().replace(",", "."))
        except ValueError:
            return _INVALID
        if rule.min is not None and number < rule.min:
            return _INVALID
        if rule.max is not None and number > rule.max:
            return _INVALID
    return value.strip() if isinstance(value, str) else value


def is_invalid(value: Any) -> bool:
    return value is _INVALID


@lru_cache(maxsize=256)
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def ask_response(form: str, slot: str, names: Mapping[str, Any]) -> str | None:
    """`utter_ask_<form>_<slot>` or `utter_ask_<slot>`, whichever the domain has."""
    for name in (f"utter_ask_{form}_{slot}", f"utter_ask_{slot}"):
        if name in names:
            return name
    return None


def ask_action(form: str, slot: str) -> tuple[str, str]:
    """Custom action names that may ask for a slot instead of a response (Rasa's
    `action_ask_<form>_<slot>` / `action_ask_<slot>`)."""
    return f"action_ask_{form}_{slot}", f"action_ask_{slot}"


def validation_action(form: str) -> str:
    """Rasa's name for a form's custom validation action."""
    return f"validate_{form}"
