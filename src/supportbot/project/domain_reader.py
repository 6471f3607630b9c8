"""Domain sections: intents, entities, slots, responses, actions, forms, session_config.

Files merge like Rasa's `Domain.from_directory`: intents, entities and actions as deduplicated
lists; responses, slots and forms as dicts where the first file read wins (with a warning).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from supportbot.project.context import FileContext, did_you_mean, type_name
from supportbot.project.types import (
    Button,
    Domain,
    EntityDef,
    FormDef,
    IntentDef,
    Response,
    ResponseCondition,
    ResponseVariation,
    SessionConfig,
    SlotDef,
    SlotMapping,
    SlotValidation,
    Source,
)
from supportbot.project.yamlio import LineMap, line_of

DOMAIN_KEYS = ("intents", "entities", "slots", "responses", "actions", "forms", "e2e_actions",
               "session_config", "config")
SLOT_TYPES = ("text", "bool", "categorical", "float", "list", "any")
MAPPING_TYPES = ("from_entity", "from_text", "from_intent", "from_trigger_intent", "custom")
_SLOT_KEYS = ("type", "influence_conversation", "initial_value", "values", "min_value",
              "max_value", "mappings", "auto_fill")
_MAPPING_KEYS = ("type", "entity", "role", "group", "intent", "not_intent", "value",
                 "conditions", "action")
_VARIATION_KEYS = ("text", "buttons", "image", "channel", "language", "condition", "custom",
                   "metadata", "quick_replies", "button_type", "attachment", "elements", "id")
_FORM_KEYS = ("required_slots", "ignored_intents", "validation")
_VALIDATION_KEYS = ("regex", "values", "min", "max", "response")
_PASS_THROUGH = ("quick_replies", "button_type", "attachment", "elements", "id")


@dataclass
class PendingSlot:
    """A slot declared without `mappings`; resolved once every entity is known."""

    name: str
    version: str
    source: Source


@dataclass
class DomainBuilder:
    """Accumulates domain sections across files; `build()` makes the immutable `Domain`."""

    intents: dict[str, IntentDef] = field(default_factory=dict)
    entities: dict[str, EntityDef] = field(default_factory=dict)
    slots: dict[str, SlotDef] = field(default_factory=dict)
    responses: dict[str, Response] = field(default_factory=dict)
    actions: dict[str, Source] = field(default_factory=dict)
    forms: dict[str, FormDef] = field(default_factory=dict)
    form_sources: dict[str, Source] = field(default_factory=dict)
    e2e_actions: list[tuple[str, Source]] = field(default_factory=list)
    session_config: SessionConfig | None = None
    store_entities_as_slots: bool = True
    pending_slots: list[PendingSlot] = field(default_factory=list)
    seen_domain_file: bool = False

    def build(self) -> Domain:
        return Domain(
            intents=dict(self.intents), entities=dict(self.entities), slots=dict(self.slots),
            responses=dict(self.responses), actions=tuple(self.actions),
            forms=dict(self.forms), session_config=self.session_config or SessionConfig(),
            store_entities_as_slots=self.store_entities_as_slots,
            action_sources=dict(self.actions),
        )


def read_domain_sections(data: dict, ctx: FileContext, out: DomainBuilder) -> None:
    """Read every domain key present in one file's top-level mapping."""
    if "intents" in data:
        _read_intents(data["intents"], data, ctx, out)
    if "entities" in data:
        _read_entities(data["entities"], data, ctx, out)
    if "slots" in data:
        _read_slots(data["slots"], data, ctx, out)
    if "responses" in data:
        read_responses(data["responses"], data, ctx, out)
    if "actions" in data:
        _read_actions(data["actions"], data, ctx, out)
    if "forms" in data:
        _read_forms(data["forms"], data, ctx, out)
    if "e2e_actions" in data:
        for text in ctx.str_list(data["e2e_actions"], "`e2e_actions`", data, "e2e_actions"):
            out.e2e_actions.append((text, ctx.at(data, "e2e_actions")))
    if "session_config" in data:
        _read_session_config(data["session_config"], data, ctx, out)
    if "config" in data:
        _read_domain_config(data["config"], data, ctx, out)


# ------------------------------------------------------------------ intents and entities
def _named_items(value: Any, what: str, parent: dict, key: str, ctx: FileContext
                 ) -> list[tuple[str, Any, Source]]:
    """Rasa's list shape: `- name` or `- name: {options}` -> (name, options|None, source)."""
    if value is None:
        return []
    if not isinstance(value, list):
        ctx.error(f"`{key}` must be a list, not {type_name(value)}", parent, key,
                  hint=f"write `{key}:` followed by `- name` lines", code="wrong-type")
        return []
    items = []
    for i, item in enumerate(value):
        src = ctx.at(value, i)
        if isinstance(item, str) and item.strip():
            items.append((item.strip(), None, src))
        elif isinstance(item, dict) and len(item) == 1:
            (name, options), = item.items()
            if not isinstance(name, str):
                ctx.error(f"{what} name must be text, not {type_name(name)}", value, i,
                          code="wrong-type")
                continue
            if options is not None and not isinstance(options, dict):
                ctx.error(f"options of {what} {name!r} must be a mapping, not "
                          f"{type_name(options)}", value, i, code="wrong-type")
                options = None
            items.append((name, options, src))
        else:
            ctx.error(f"each item of `{key}` must be a name or `name: {{options}}`, not "
                      f"{type_name(item)}", value, i, code="wrong-type")
    return items


def _read_intents(value: Any, parent: dict, ctx: FileContext, out: DomainBuilder) -> None:
    for name, options, src in _named_items(value, "intent", parent, "intents", ctx):
        use: tuple[str, ...] | None = None
        ignore: tuple[str, ...] = ()
        if options:
            ctx.check_keys(options, ("use_entities", "ignore_entities", "triggers",
                                     "is_retrieval_intent"), f"intent {name!r}")
            if "use_entities" in options and "ignore_entities" in options:
                ctx.error(f"intent {name!r} sets both `use_entities` and `ignore_entities`",
                          options, hint="keep only one of them", code="conflict")
            raw_use = options.get("use_entities", True)
            if raw_use is True or raw_use is None:
                use = None
            elif raw_use is False:
                use = ()
            else:
                use = tuple(ctx.str_list(raw_use, f"`use_entities` of {name!r}", options,
                                         "use_entities"))
            ignore = tuple(ctx.str_list(options.get("ignore_entities"),
                                        f"`ignore_entities` of {name!r}", options,
                                        "ignore_entities"))
            if "triggers" in options:
                ctx.warning(f"intent {name!r}: `triggers` (Rasa 1.x) is read but not executed",
                            options, "triggers", hint="write a rule instead",
                            code="not-executed")
        out.intents.setdefault(name, IntentDef(name, use, ignore, src))


def _read_entities(value: Any, parent: dict, ctx: FileContext, out: DomainBuilder) -> None:
    for name, options, src in _named_items(value, "entity", parent, "entities", ctx):
        roles: tuple[str, ...] = ()
        groups: tuple[str, ...] = ()
        influence = True
        if options:
            ctx.check_keys(options, ("roles", "groups", "influence_conversation"),
                           f"entity {name!r}")
            roles = tuple(ctx.str_list(options.get("roles"), "`roles`", options, "roles"))
            groups = tuple(ctx.str_list(options.get("groups"), "`groups`", options, "groups"))
            raw = options.get("influence_conversation", True)
            if ctx.expect(raw, bool, "`influence_conversation`", options,
                          "influence_conversation"):
                influence = raw
        if name in out.entities:
            old = out.entities[name]
            roles = tuple(dict.fromkeys(old.roles + roles))
            groups = tuple(dict.fromkeys(old.groups + groups))
            out.entities[name] = EntityDef(name, roles, groups, old.influence_conversation,
                                           old.source)
        else:
            out.entities[name] = EntityDef(name, roles, groups, influence, src)


def _read_actions(value: Any, parent: dict, ctx: FileContext, out: DomainBuilder) -> None:
    for name, options, src in _named_items(value, "action", parent, "actions", ctx):
        if options:
            ctx.check_keys(options, ("send_domain",), f"action {name!r}", severity="warning")
        out.actions.setdefault(name, src)


# ------------------------------------------------------------------ slots
def _read_slots(value: Any, parent: dict, ctx: FileContext, out: DomainBuilder) -> None:
    if value is None:
        return
    if not isinstance(value, dict):
        ctx.error(f"`slots` must be a mapping of slot name to settings, not {type_name(value)}",
                  parent, "slots", hint="write `slots:` then `  my_slot:` with `type: text`",
                  code="wrong-type")
        return
    for name, spec in value.items():
        src = ctx.at(value, name)
        if name in out.slots:
            ctx.warning(f"slot {name!r} is defined again; the first definition "
                        f"({out.slots[name].source}) wins", value, name,
                        hint="remove one of the definitions", code="duplicate")
            continue
        slot = _read_slot(str(name), spec, value, src, ctx, out)
        if slot is not None:
            out.slots[str(name)] = slot


def _read_slot(name: str, spec: Any, parent: dict, src: Source, ctx: FileContext,
               out: DomainBuilder) -> SlotDef | None:
    if not isinstance(spec, dict):
        ctx.error(f"slot {name!r} must be a mapping with at least `type:`, not "
                  f"{type_name(spec)}", parent, name, code="wrong-type")
        return None
    ctx.check_keys(spec, _SLOT_KEYS, f"slot {name!r}")
    slot_type = spec.get("type")
    if not isinstance(slot_type, str) or not slot_type:
        ctx.error(f"slot {name!r} needs a `type`", parent, name,
                  hint="one of " + ", ".join(SLOT_TYPES), code="slot-type")
        return None
    influence_default = slot_type != "any"
    if slot_type == "unfeaturized":
        ctx.warning(f"slot {name!r}: type `unfeaturized` (Rasa 1.x) is read as `any`",
                    spec, "type", hint="write `type: any` with `influence_conversation: false`",
                    code="deprecated")
        slot_type, influence_default = "any", False
    elif slot_type not in SLOT_TYPES:
        if "." in slot_type:
            ctx.warning(f"slot {name!r}: custom slot class {slot_type!r} is read as `any`",
                        spec, "type", code="not-executed")
        else:
            ctx.error(f"slot {name!r}: unknown type {slot_type!r}", spec, "type",
                      hint=did_you_mean(slot_type, SLOT_TYPES) or
                      "one of " + ", ".join(SLOT_TYPES), code="slot-type")
            return None
    influence = spec.get("influence_conversation", influence_default)
    if not ctx.expect(influence, bool, f"slot {name!r} `influence_conversation`", spec,
                      "influence_conversation"):
        influence = influence_default
    values: tuple[str, ...] = ()
    if slot_type == "categorical":
        values = tuple(ctx.str_list(spec.get("values"), f"slot {name!r} `values`", spec,
                                    "values"))
        if not values:
            ctx.error(f"categorical slot {name!r} needs `values`", parent, name,
                      hint="list the allowed values under `values:`", code="slot-values")
    bounds: list[float | None] = []
    for key in ("min_value", "max_value"):
        raw = spec.get(key)
        if raw is not None and ctx.expect(raw, (int, float), f"slot {name!r} `{key}`", spec,
                                          key):
            bounds.append(float(raw))
        else:
            bounds.append(None)
    if "auto_fill" in spec:
        ctx.warning(f"slot {name!r}: `auto_fill` (Rasa 2.x) is ignored; `mappings` decide "
                    "how a slot is filled", spec, "auto_fill", code="deprecated")
    mappings: tuple[SlotMapping, ...] = ()
    if spec.get("mappings") is None:
        out.pending_slots.append(PendingSlot(name, ctx.version, src))
    else:
        mappings = read_mappings(name, spec["mappings"], spec, ctx)
    return SlotDef(name=name, type=slot_type, initial_value=spec.get("initial_value"),
                   influence_conversation=bool(influence), values=values,
                   min_value=bounds[0], max_value=bounds[1], mappings=mappings, source=src)


def read_mappings(slot: str, value: Any, parent: dict, ctx: FileContext, key: Any = "mappings",
                  where: str | None = None) -> tuple[SlotMapping, ...]:
    """Slot mappings (`- type: from_entity ...`) found at `parent[key]`; problems are reported.

    `where` names the place in messages (default: the slot's own `mappings`)."""
    where = where or f"slot {slot!r}"
    if not isinstance(value, list):
        ctx.error(f"{where}: the mappings of slot {slot!r} must be a list such as "
                  "`- type: from_entity`", parent, key, code="wrong-type")
        return ()
    result = []
    for i, item in enumerate(value):
        if not isinstance(item, dict):
            ctx.error(f"{where}: each mapping must be a mapping like "
                      "`- type: from_entity`", value, i, code="wrong-type")
            continue
        ctx.check_keys(item, _MAPPING_KEYS, f"a mapping of slot {slot!r}")
        kind = item.get("type")
        if kind not in MAPPING_TYPES:
            ctx.error(f"{where}: mapping type {kind!r} is not known", item, "type",
                      hint=did_you_mean(str(kind), MAPPING_TYPES) or
                      "one of " + ", ".join(MAPPING_TYPES), code="mapping-type")
            continue
        entity = item.get("entity")
        if kind == "from_entity" and not isinstance(entity, str):
            ctx.error(f"{where}: a `from_entity` mapping needs `entity:`", item, "type",
                      code="mapping")
            continue
        if kind in ("from_intent", "from_trigger_intent") and "value" not in item:
            ctx.error(f"{where}: a `{kind}` mapping needs `value:`", item, "type",
                      code="mapping")
        conditions = item.get("conditions") or []
        if not isinstance(conditions, list) or not all(isinstance(c, dict) for c in conditions):
            ctx.error(f"{where}: `conditions` must be a list of mappings with "
                      "`active_loop` and optional `requested_slot`", item, "conditions",
                      code="wrong-type")
            conditions = []
        for cond in conditions:
            ctx.check_keys(cond, ("active_loop", "requested_slot"),
                           f"a mapping condition of slot {slot!r}")
            for cond_key in ("active_loop", "requested_slot"):
                if cond.get(cond_key) is not None and not isinstance(cond[cond_key], str):
                    ctx.error(f"{where}: condition `{cond_key}` must be a name or null", cond,
                              cond_key, code="wrong-type")
        if kind == "custom":
            ctx.warning(f"{where}: `custom` mapping (filled by action "
                        f"{item.get('action') or 'a custom action'}) is read but not executed",
                        item, "type", code="not-executed")
        result.append(SlotMapping(
            type=kind, entity=entity if isinstance(entity, str) else None,
            role=_opt_str(item.get("role")), group=_opt_str(item.get("group")),
            intent=tuple(ctx.str_list(item.get("intent"), "`intent`", item, "intent")),
            not_intent=tuple(ctx.str_list(item.get("not_intent"), "`not_intent`", item,
                                          "not_intent")),
            value=item.get("value"), conditions=tuple(dict(c) for c in conditions)))
    return tuple(result)


def _opt_str(value: Any) -> str | None:
    return None if value is None else str(value)


# ------------------------------------------------------------------ responses
def read_responses(value: Any, parent: dict, ctx: FileContext, out: DomainBuilder) -> None:
    """Read a `responses:` mapping (from a domain file or a data file)."""
    if value is None:
        return
    if not isinstance(value, dict):
        ctx.error(f"`responses` must be a mapping of response name to variations, not "
                  f"{type_name(value)}", parent, "responses", code="wrong-type")
        return
    for name, variations in value.items():
        name = str(name)
        src = ctx.at(value, name)
        if not name.startswith("utter_"):
            ctx.error(f"response name {name!r} must start with `utter_`", value, name,
                      hint=f"rename it to 'utter_{name}' (and where it is used)",
                      code="bad-name")
            continue
        if name in out.responses:
            ctx.warning(f"response {name!r} is defined again; the first definition "
                        f"({out.responses[name].source}) wins", value, name,
                        hint="remove one of the definitions", code="duplicate")
            continue
        if not isinstance(variations, list) or not variations:
            ctx.error(f"response {name!r} must be a non-empty list of variations such as "
                      "`- text: ...`", value, name, code="wrong-type")
            continue
        read = []
        for i, item in enumerate(variations):
            variation = _read_variation(name, item, variations, i, ctx)
            if variation is not None:
                read.append(variation)
        if read:
            out.responses[name] = Response(name, tuple(read), src)


def _read_variation(name: str, item: Any, parent: list, index: int, ctx: FileContext
                    ) -> ResponseVariation | None:
    src = ctx.at(parent, index)
    if isinstance(item, str):
        return ResponseVariation(text=item, source=src)
    if not isinstance(item, dict):
        ctx.error(f"response {name!r}: a variation must be a mapping such as `- text: Hi`, not "
                  f"{type_name(item)}", parent, index, code="wrong-type")
        return None
    ctx.check_keys(item, _VARIATION_KEYS, f"a variation of response {name!r}",
                   severity="warning")
    text = item.get("text")
    if text is not None and not isinstance(text, str):
        text = str(text) if isinstance(text, (int, float)) else None
        if text is None:
            ctx.error(f"response {name!r}: `text` must be text", item, "text",
                      code="wrong-type")
    buttons = read_buttons(item.get("buttons"), item, f"response {name!r}", ctx)
    custom = item.get("custom")
    if custom is not None and not isinstance(custom, dict):
        ctx.error(f"response {name!r}: `custom` must be a mapping", item, "custom",
                  code="wrong-type")
        custom = None
    image = _opt_str(item.get("image"))
    metadata = dict(item.get("metadata") or {}) if isinstance(item.get("metadata"), dict) else {}
    for key in _PASS_THROUGH:
        if key in item:
            metadata[key] = item[key]
    if not (text or buttons or custom or image or metadata.get("attachment")):
        ctx.error(f"response {name!r}: variation has no `text`, `buttons`, `image` or `custom`",
                  parent, index, hint="add `text: ...`", code="empty-response")
        return None
    language = item.get("language")
    if language is not None and not isinstance(language, str):
        ctx.error(f"response {name!r}: `language` must be a language code such as `ru`", item,
                  "language", code="wrong-type")
        language = None
    channel = item.get("channel")
    conditions = _read_conditions(name, item.get("condition"), item, ctx)
    return ResponseVariation(text=text, buttons=buttons, image=image,
                             channel=_opt_str(channel), language=language,
                             condition=conditions, custom=custom, metadata=metadata, source=src)


def read_buttons(value: Any, parent: dict, what: str, ctx: FileContext) -> tuple[Button, ...]:
    """`buttons: [{title: .., payload: ..}]`; problems are reported, bad buttons dropped."""
    if value is None:
        return ()
    if not isinstance(value, list):
        ctx.error(f"{what}: `buttons` must be a list of `{{title, payload}}`", parent,
                  "buttons", code="wrong-type")
        return ()
    buttons = []
    for i, item in enumerate(value):
        if not isinstance(item, dict):
            ctx.error(f"{what}: a button must be a mapping with `title` and `payload`", value,
                      i, code="wrong-type")
            continue
        ctx.check_keys(item, ("title", "payload", "url", "type"), f"a button of {what}",
                       severity="warning")
        title, payload = item.get("title"), item.get("payload", item.get("url"))
        if title is None or payload is None:
            missing = "title" if title is None else "payload"
            ctx.error(f"{what}: button needs `{missing}`", value, i,
                      hint="write `- {title: Yes, payload: /affirm}`", code="button")
            continue
        buttons.append(Button(str(title), str(payload)))
    return tuple(buttons)


def _read_conditions(name: str, value: Any, parent: dict, ctx: FileContext
                     ) -> tuple[ResponseCondition, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        ctx.error(f"response {name!r}: `condition` must be a list of "
                  "`{type: slot, name: ..., value: ...}`", parent, "condition",
                  code="wrong-type")
        return ()
    result = []
    for i, item in enumerate(value):
        if not isinstance(item, dict) or "name" not in item:
            ctx.error(f"response {name!r}: each condition needs `type: slot`, `name` and "
                      "`value`", value, i, code="condition")
            continue
        ctx.check_keys(item, ("type", "name", "value"), f"a condition of response {name!r}")
        kind = item.get("type", "slot")
        if kind != "slot":
            ctx.error(f"response {name!r}: condition type {kind!r} is not supported", item,
                      "type", hint="use `type: slot`", code="condition")
        result.append(ResponseCondition(str(item["name"]), item.get("value"), str(kind)))
    return tuple(result)


# ------------------------------------------------------------------ forms, session, config
def _read_forms(value: Any, parent: dict, ctx: FileContext, out: DomainBuilder) -> None:
    """`forms:` in any of Rasa's layouts (3.x, 2.x, 2.0) -> `FormDef`s; first definition wins."""
    if value is None:
        return
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        # Rasa 1.x (financial-demo): names only, the slots were asked by Python form classes
        ctx.warning("`forms` is a list of names (Rasa 1.x); each form is read with no "
                    "required slots", parent, "forms",
                    hint="write `forms:` as a mapping: `my_form: {required_slots: [slot, ...]}`",
                    code="deprecated")
        value = LineMap({name: None for name in value})
        value.key_lines = {name: line_of(parent["forms"], i)
                           for i, name in enumerate(parent["forms"])}
    if not isinstance(value, dict):
        ctx.error(f"`forms` must be a mapping of form name to settings, not {type_name(value)}",
                  parent, "forms", code="wrong-type")
        return
    for name, spec in value.items():
        name = str(name)
        if name in out.forms:
            ctx.warning(f"form {name!r} is defined again; the first definition "
                        f"({out.forms[name].source}) wins", value, name,
                        hint="remove one of the definitions", code="duplicate")
            continue
        if spec is None:
            spec = LineMap()
        if not isinstance(spec, dict):
            ctx.error(f"form {name!r} must be a mapping with `required_slots`, not "
                      f"{type_name(spec)}", value, name,
                      hint="write `required_slots:` followed by `- slot_name` lines",
                      code="wrong-type")
            continue
        form = _read_form(name, spec, ctx.at(value, name), ctx)
        out.forms[name] = form
        out.form_sources[name] = form.source


def _read_form(name: str, spec: dict, src: Source, ctx: FileContext) -> FormDef:
    """One form. With `required_slots` it is Rasa 3.x (a list) or 2.x (slot -> mappings);
    without it, every other key is a slot with its mappings (Rasa 2.0, e.g. rasa-demo)."""
    what = f"form {name!r}"
    if "required_slots" in spec:
        ctx.check_keys(spec, _FORM_KEYS, what, severity="warning")
        required, mappings = _required_slots(name, spec["required_slots"], spec, ctx)
    else:
        slot_specs = {k: v for k, v in spec.items() if k not in _FORM_KEYS}
        required, mappings = _slot_mapping_table(name, slot_specs, spec, ctx)
    ignored = tuple(ctx.str_list(spec.get("ignored_intents"), f"{what} `ignored_intents`", spec,
                                 "ignored_intents"))
    validation = _read_validation(name, spec.get("validation"), spec, required, ctx)
    return FormDef(name=name, required_slots=required, mappings=mappings,
                   ignored_intents=ignored, validation=validation, source=src)


def _required_slots(form: str, value: Any, parent: dict, ctx: FileContext
                    ) -> tuple[tuple[str, ...], dict[str, tuple[SlotMapping, ...]]]:
    """`required_slots:` as a list of slot names (3.x) or a slot -> mappings table (2.x)."""
    if value is None:
        return (), {}
    if isinstance(value, dict):
        return _slot_mapping_table(form, value, value, ctx)
    if isinstance(value, list):
        slots = ctx.str_list(value, f"form {form!r} `required_slots`", parent, "required_slots")
        return tuple(dict.fromkeys(slots)), {}
    ctx.error(f"form {form!r}: `required_slots` must be a list of slot names, not "
              f"{type_name(value)}", parent, "required_slots",
              hint="write `required_slots:` followed by `- slot_name` lines", code="wrong-type")
    return (), {}


def _slot_mapping_table(form: str, table: dict, parent: dict, ctx: FileContext
                        ) -> tuple[tuple[str, ...], dict[str, tuple[SlotMapping, ...]]]:
    """`{slot: [mapping, ...]}` (Rasa 2.x forms): the slots in order, and their mappings."""
    required: list[str] = []
    mappings: dict[str, tuple[SlotMapping, ...]] = {}
    for slot, raw in table.items():
        slot = str(slot)
        required.append(slot)
        if raw is None or raw == []:
            continue
        read = read_mappings(slot, raw, table, ctx, key=slot, where=f"form {form!r}")
        if read:
            mappings[slot] = read
    return tuple(required), mappings


def _read_validation(form: str, value: Any, parent: dict, required: tuple[str, ...],
                     ctx: FileContext) -> dict[str, SlotValidation]:
    """The supportbot `validation:` key of a form: `{slot: {regex, values, min, max, response}}`."""
    if value is None:
        return {}
    what = f"form {form!r} `validation`"
    if not isinstance(value, dict):
        ctx.error(f"{what} must be a mapping of slot name to checks, not {type_name(value)}",
                  parent, "validation", hint="e.g. `validation: {email: {regex: '.+@.+'}}`",
                  code="wrong-type")
        return {}
    result: dict[str, SlotValidation] = {}
    for slot, spec in value.items():
        slot = str(slot)
        if slot not in required:
            ctx.error(f"{what}: slot {slot!r} is not a required slot of the form", value, slot,
                      hint=did_you_mean(slot, required) or
                      f"add {slot!r} to `required_slots`, or remove its validation",
                      code="form-validation")
            continue
        if not isinstance(spec, dict):
            ctx.error(f"{what} of slot {slot!r} must be a mapping with `regex`, `values`, `min`, "
                      f"`max` or `response`, not {type_name(spec)}", value, slot,
                      code="wrong-type")
            continue
        checks = _slot_validation(f"{what} of slot {slot!r}", spec, ctx)
        if checks is not None:
            result[slot] = checks
    return result


def _slot_validation(what: str, spec: dict, ctx: FileContext) -> SlotValidation | None:
    """One slot's checks; None when any of them is unusable (each problem is reported)."""
    before = len(ctx.report.problems)
    ctx.check_keys(spec, _VALIDATION_KEYS, what)
    regex = spec.get("regex")
    if regex is not None and ctx.expect(regex, str, f"{what}: `regex`", spec, "regex"):
        try:
            re.compile(regex)
        except re.error as exc:
            ctx.error(f"{what}: `regex` {regex!r} is not a valid regular expression ({exc.msg})",
                      spec, "regex", hint="fix the pattern (Python `re` syntax)",
                      code="bad-regex")
    values = tuple(ctx.str_list(spec.get("values"), f"{what}: `values`", spec, "values"))
    bounds: dict[str, float | None] = {}
    for key in ("min", "max"):
        raw = spec.get(key)
        ok = raw is not None and ctx.expect(raw, (int, float), f"{what}: `{key}`", spec, key)
        bounds[key] = float(raw) if ok and raw is not None else None
    low, high = bounds["min"], bounds["max"]
    if low is not None and high is not None and low > high:
        ctx.error(f"{what}: `min` ({low:g}) is greater than `max` ({high:g})", spec, "min",
                  hint="swap the two numbers", code="form-validation")
    response = spec.get("response")
    if response is not None and ctx.expect(response, str, f"{what}: `response`", spec,
                                           "response") and not response.startswith("utter_"):
        ctx.error(f"{what}: `response` {response!r} must name a response (`utter_...`)", spec,
                  "response", code="form-validation")
    if any(p.severity == "error" for p in ctx.report.problems[before:]):
        return None
    return SlotValidation(regex=regex, values=values, min=low, max=high, response=response)


def _read_session_config(value: Any, parent: dict, ctx: FileContext,
                         out: DomainBuilder) -> None:
    if value is None:
        return
    if not isinstance(value, dict):
        ctx.error("`session_config` must be a mapping", parent, "session_config",
                  code="wrong-type")
        return
    ctx.check_keys(value, ("session_expiration_time", "carry_over_slots_to_new_session"),
                   "`session_config`")
    expiry = value.get("session_expiration_time", 60)
    if not ctx.expect(expiry, (int, float), "`session_expiration_time` (minutes)", value,
                      "session_expiration_time") or expiry < 0:
        if isinstance(expiry, (int, float)) and not isinstance(expiry, bool):
            ctx.error("`session_expiration_time` must be 0 or more minutes", value,
                      "session_expiration_time", code="range")
        expiry = 60
    carry = value.get("carry_over_slots_to_new_session", True)
    if not ctx.expect(carry, bool, "`carry_over_slots_to_new_session`", value,
                      "carry_over_slots_to_new_session"):
        carry = True
    if out.session_config is None:
        out.session_config = SessionConfig(float(expiry), carry)


def _read_domain_config(value: Any, parent: dict, ctx: FileContext, out: DomainBuilder) -> None:
    if value is None:
        return
    if not isinstance(value, dict):
        ctx.error("domain `config` must be a mapping such as `store_entities_as_slots: true`",
                  parent, "config", code="wrong-type")
        return
    ctx.check_keys(value, ("store_entities_as_slots",), "domain `config`")
    store = value.get("store_entities_as_slots", True)
    if ctx.expect(store, bool, "`store_entities_as_slots`", value, "store_entities_as_slots"):
        out.store_entities_as_slots = store
