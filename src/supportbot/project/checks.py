"""Cross-file checks on a fully read project: names that must exist, duplicates, coverage."""
from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from supportbot.project.builtins import BUILTIN_INTENTS, LOOP_ACTIONS, builtin_actions
from supportbot.project.context import Report, did_you_mean
from supportbot.project.types import (
    Button,
    Config,
    Domain,
    KBEntry,
    NluData,
    Rule,
    SlotMapping,
    Source,
    Step,
    Story,
)
from supportbot.project.yamlio import line_of

_SLOT_PLACEHOLDER = re.compile(r"(?<!\{)\{([A-Za-z_][A-Za-z0-9_]*)\}(?!\})")
_PAYLOAD_INTENT = re.compile(r"^/([^{/\s]+(?:/[^{\s]+)?)")


@dataclass
class ProjectParts:
    """Everything read so far, before it is frozen into a `Project`."""

    config: Config
    domain: Domain
    nlu: NluData
    rules: tuple[Rule, ...]
    stories: tuple[Story, ...]
    kb: tuple[KBEntry, ...]
    has_domain_file: bool
    action_sources: dict[str, Source] = field(default_factory=dict)
    form_sources: dict[str, Source] = field(default_factory=dict)


MAX_INTENTS = 2000
"""Intents the classifier trains at most (the operator may change it with $SUPPORTBOT_MAX_INTENTS).
Its weights and scores grow with examples x intents; real support bots have tens to a few
hundred intents (BANKING77: 77, CLINC150: 150)."""
MAX_INTENTS_ENV = "SUPPORTBOT_MAX_INTENTS"


def max_intents() -> int:
    """MAX_INTENTS, or the operator's $SUPPORTBOT_MAX_INTENTS when it is a positive number."""
    import os

    raw = os.environ.get(MAX_INTENTS_ENV, "").strip()
    return int(raw) if raw.isdigit() and int(raw) > 0 else MAX_INTENTS


def run_checks(parts: ProjectParts, report: Report) -> None:
    """Run every cross-reference check, adding problems to `report`."""
    names = _Names(parts)
    _check_intent_count(parts.nlu, report)
    _check_examples(parts.nlu, report)
    _check_intent_coverage(parts, names, report)
    _check_entities_in_examples(parts, report)
    _check_synonyms(parts.nlu, report)
    for rule in parts.rules:
        _check_steps(rule.condition + rule.steps, f"rule {rule.name!r}", names, report)
    _check_duplicate_names([(r.name, r.source) for r in parts.rules], "rule", report)
    for story in parts.stories:
        _check_steps(story.steps, f"story {story.name!r}", names, report)
    _check_domain_actions(parts, names, report)
    _check_forms(parts, names, report)
    _check_slot_mappings(parts.domain, names, report)
    _check_responses(parts, names, report)
    _check_kb(parts, names, report)
    _check_config_names(parts, names, report)
    _check_translations(parts, report)


class _Names:
    """What names exist anywhere in the project."""

    def __init__(self, parts: ProjectParts) -> None:
        d = parts.domain
        self.data_intents = set(parts.nlu.intents())
        self.full_intents = {ex.intent for ex in parts.nlu.examples}
        self.intents = set(d.intents) | self.data_intents | self.full_intents | BUILTIN_INTENTS
        self.entities = set(d.entities)
        # slots Rasa adds to every domain (`requested_slot` where there are forms)
        self.slots = set(d.slots) | {"session_started_metadata"}
        if d.forms:
            self.slots.add("requested_slot")
        self.forms = set(d.forms)
        self.responses = set(d.responses)
        retrieval_bases = {name.split("/", 1)[0] for name in d.responses if "/" in name}
        retrieval_bases |= {"utter_" + i.split("/", 1)[0] for i in self.full_intents if "/" in i}
        self.responses_or_retrieval = self.responses | retrieval_bases
        self.builtin_actions = builtin_actions()
        self.actions = set(d.actions) | self.builtin_actions | self.forms
        self.languages = set(parts.config.nlu.languages) | {parts.config.language}

    def action_known(self, name: str) -> bool:
        return name in self.actions or name in self.responses_or_retrieval


# ------------------------------------------------------------------ NLU data
def example_key(text: str) -> str:
    """How examples compare for duplicates and conflicts: case and spacing ignored."""
    # lower(), not casefold(): casefold merges spellings such as Armenian "և"/"եւ" that a
    # project may list on purpose
    return " ".join(text.lower().split())


_norm = example_key


def _check_examples(nlu: NluData, report: Report) -> None:
    seen: dict[str, tuple[str, Source]] = {}
    counts: dict[str, int] = {}
    for ex in nlu.examples:
        counts[ex.intent] = counts.get(ex.intent, 0) + 1
        key = _norm(ex.text)
        first = seen.get(key)
        if first is None:
            seen[key] = (ex.intent, ex.source)
        elif first[0] == ex.intent:
            report.warning(f"example {ex.text!r} of intent {ex.intent!r} is listed twice "
                           f"(first at {first[1]})", ex.source, "remove the duplicate",
                           code="duplicate-example")
        else:
            report.warning(f"example {ex.text!r} is under intent {first[0]!r} (at {first[1]}) "
                           f"and also under {ex.intent!r} (at {ex.source}); training keeps "
                           f"only the first, {first[0]!r}", ex.source,
                           f"keep it under the one intent it means: remove it from "
                           f"{ex.intent!r} or from {first[0]!r}", code="conflicting-example")
    first_source: dict[str, Source] = {}
    for ex in nlu.examples:
        first_source.setdefault(ex.intent, ex.source)
    for intent, n in counts.items():
        if n < 2 and "/" not in intent:
            report.warning(f"intent {intent!r} has only {n} example", first_source[intent],
                           "add at least 2 (better 10+) varied examples", code="few-examples")


def _check_intent_count(nlu: NluData, report: Report) -> None:
    limit = max_intents()
    seen: dict[str, Source] = {}
    for ex in nlu.examples:
        if ex.base_intent not in seen:
            seen[ex.base_intent] = ex.source
            if len(seen) == limit + 1:
                report.error(f"the NLU data has more than {limit} intents (intent "
                             f"{ex.base_intent!r} here is number {limit + 1})", ex.source,
                             "merge related intents, or move answers to the knowledge base "
                             f"(data/kb/); the operator can raise ${MAX_INTENTS_ENV}",
                             code="too-many-intents")
                return


def _check_intent_coverage(parts: ProjectParts, names: _Names, report: Report) -> None:
    declared = parts.domain.intents
    if not declared:
        if names.data_intents and parts.has_domain_file:
            report.warning("the domain lists no `intents`; the intents of the NLU data are used",
                           None, "list them under `intents:` in domain.yml",
                           code="intent-not-in-domain")
        return
    first: dict[str, Source] = {}
    for ex in parts.nlu.examples:
        first.setdefault(ex.base_intent, ex.source)
    for intent, source in first.items():
        if intent not in declared and intent not in BUILTIN_INTENTS:
            report.warning(f"intent {intent!r} has examples but is not in the domain", source,
                           f"add `- {intent}` under `intents:` in the domain",
                           code="intent-not-in-domain")
    for name, definition in declared.items():
        if name not in names.data_intents and name not in BUILTIN_INTENTS:
            report.warning(f"intent {name!r} is in the domain but has no NLU examples",
                           definition.source, "add examples (or reach it only via a `/"
                           f"{name}` button payload)", code="intent-without-examples")


def _check_entities_in_examples(parts: ProjectParts, report: Report) -> None:
    if not parts.has_domain_file:
        return
    entities = parts.domain.entities
    reported: set[tuple[str, str | None, str | None]] = set()
    for ex in parts.nlu.examples:
        for ann in ex.entities:
            key = (ann.entity, None, None)
            definition = entities.get(ann.entity)
            if definition is None:
                if key not in reported:
                    reported.add(key)
                    report.warning(f"entity {ann.entity!r} is annotated in examples but not in "
                                   "the domain", ex.source,
                                   f"add `- {ann.entity}` under `entities:`",
                                   code="entity-not-in-domain")
                continue
            for kind, value, allowed in (("role", ann.role, definition.roles),
                                         ("group", ann.group, definition.groups)):
                mark = (ann.entity, kind, value)
                if value is not None and value not in allowed and mark not in reported:
                    reported.add(mark)
                    report.warning(f"entity {ann.entity!r}: {kind} {value!r} is not declared in "
                                   "the domain", ex.source,
                                   f"add it under `{kind}s:` of entity {ann.entity!r}",
                                   code="entity-role")


def _check_synonyms(nlu: NluData, report: Report) -> None:
    owner: dict[str, tuple[str, Source]] = {}
    for syn in nlu.synonyms:
        for text in syn.examples:
            key = text.casefold()
            if key in owner and owner[key][0] != syn.value:
                report.warning(f"synonym {text!r} maps to {syn.value!r} and also to "
                               f"{owner[key][0]!r} (at {owner[key][1]})", syn.source,
                               "keep one value per text", code="conflicting-synonym")
            owner.setdefault(key, (syn.value, syn.source))


# ------------------------------------------------------------------ rules and stories
def _check_steps(steps: Iterable[Step], what: str, names: _Names, report: Report) -> None:
    for step in steps:
        if step.kind == "or":
            _check_steps(step.alternatives, what, names, report)
        elif step.kind == "intent":
            if step.value not in names.intents:
                report.error(f"{what} uses intent {step.value!r}, which is not defined",
                             step.source, did_you_mean(step.value, names.intents) or
                             "add it to the domain `intents:` and give it NLU examples",
                             code="unknown-intent")
            for entity, _value in step.entities:
                if entity not in names.entities:
                    report.warning(f"{what} uses entity {entity!r}, which is not in the domain",
                                   step.source, did_you_mean(entity, names.entities),
                                   code="unknown-entity")
        elif step.kind == "action":
            _check_action(step, what, names, report)
        elif step.kind == "slot_was_set":
            for slot, _value in step.slots:
                if slot not in names.slots:
                    report.error(f"{what} checks slot {slot!r}, which is not defined",
                                 step.source, did_you_mean(slot, names.slots) or
                                 "add it under `slots:` in the domain", code="unknown-slot")
        elif (step.kind == "active_loop" and step.value is not None
              and step.value not in names.forms and step.value not in LOOP_ACTIONS):
            report.error(f"{what}: active_loop {step.value!r} is not a form",
                         step.source, did_you_mean(step.value, names.forms) or
                         "define it under `forms:` or use `active_loop: null`",
                         code="unknown-form")


def _check_action(step: Step, what: str, names: _Names, report: Report) -> None:
    name = step.value
    if names.action_known(name):
        return
    if name.startswith("utter_"):
        report.error(f"{what} uses response {name!r}, which is never defined", step.source,
                     did_you_mean(name, names.responses) or
                     f"add `{name}:` with a `- text: ...` under `responses:`",
                     code="unknown-response")
    else:
        report.error(f"{what} uses action {name!r}, which is not defined", step.source,
                     did_you_mean(name, names.actions | names.responses) or
                     f"add `- {name}` under `actions:` in the domain (responses start with "
                     "`utter_`)", code="unknown-action")


def _check_duplicate_names(items: list[tuple[str, Source]], kind: str, report: Report) -> None:
    seen: dict[str, Source] = {}
    for name, source in items:
        if name in seen:
            report.warning(f"{kind} name {name!r} is used twice (first at {seen[name]})",
                           source, f"give every {kind} its own name", code="duplicate")
        else:
            seen[name] = source


# ------------------------------------------------------------------ domain
def _check_domain_actions(parts: ProjectParts, names: _Names, report: Report) -> None:
    sources = parts.action_sources
    for name in parts.domain.actions:
        if name.startswith("utter_") and name not in names.responses_or_retrieval:
            report.error(f"action {name!r} is listed but no response defines it",
                         sources.get(name), did_you_mean(name, names.responses) or
                         f"add `{name}:` under `responses:`", code="unknown-response")


def _check_forms(parts: ProjectParts, names: _Names, report: Report) -> None:
    """Names a form uses (slots, entities, intents, responses) must exist."""
    for form in parts.domain.forms.values():
        what = f"form {form.name!r}"
        for slot in form.required_slots:
            if slot not in names.slots:
                report.warning(f"{what} requires slot {slot!r}, which is not defined",
                               form.source, did_you_mean(slot, names.slots) or
                               f"add `{slot}:` under `slots:` in the domain",
                               code="unknown-slot")
        for slot, mappings in form.mappings.items():
            _check_mappings(mappings, f"{what}, slot {slot!r}", form.source, names, report)
        for intent in form.ignored_intents:
            if intent not in names.intents:
                report.warning(f"{what}: `ignored_intents` names unknown intent {intent!r}",
                               form.source, did_you_mean(intent, names.intents),
                               code="unknown-intent")
        for slot, checks in form.validation.items():
            if checks.response and checks.response not in names.responses:
                report.warning(f"{what}: validation of slot {slot!r} sends response "
                               f"{checks.response!r}, which is not defined", form.source,
                               did_you_mean(checks.response, names.responses) or
                               f"add `{checks.response}:` under `responses:`",
                               code="unknown-response")


def _check_slot_mappings(domain: Domain, names: _Names, report: Report) -> None:
    for slot in domain.slots.values():
        _check_mappings(slot.mappings, f"slot {slot.name!r}", slot.source, names, report)


def _check_mappings(mappings: Iterable[SlotMapping], what: str, source: Source, names: _Names,
                    report: Report) -> None:
    """Entities, intents and forms named by slot mappings must exist."""
    for mapping in mappings:
        if mapping.entity is not None and mapping.entity not in names.entities:
            report.error(f"{what} is filled from entity {mapping.entity!r}, "
                         "which is not in the domain", source,
                         did_you_mean(mapping.entity, names.entities) or
                         f"add `- {mapping.entity}` under `entities:`",
                         code="unknown-entity")
        for intent in mapping.intent + mapping.not_intent:
            if intent not in names.intents:
                report.warning(f"{what}: mapping names unknown intent {intent!r}", source,
                               did_you_mean(intent, names.intents), code="unknown-intent")
        for cond in mapping.conditions:
            loop = cond.get("active_loop")
            if isinstance(loop, str) and loop not in names.forms:
                report.warning(f"{what}: condition names unknown form {loop!r}", source,
                               code="unknown-form")


def _check_responses(parts: ProjectParts, names: _Names, report: Report) -> None:
    for response in parts.domain.responses.values():
        for v in response.variations:
            if v.text:
                for slot in _SLOT_PLACEHOLDER.findall(v.text):
                    if slot not in names.slots:
                        report.warning(f"response {response.name!r} fills in {{{slot}}}, but "
                                       f"there is no slot {slot!r}", v.source,
                                       "define the slot, or write literal braces as {{ }}",
                                       code="unknown-slot")
            _check_buttons(v.buttons, f"response {response.name!r}", v.source, names, report)
            if v.language and v.language not in names.languages:
                report.warning(f"response {response.name!r}: language {v.language!r} is not in "
                               "`nlu.languages` of config.yml", v.source,
                               f"add {v.language!r} to `nlu.languages`", code="language")


def _check_buttons(buttons: tuple[Button, ...], what: str, source: Source, names: _Names,
                   report: Report) -> None:
    for button in buttons:
        match = _PAYLOAD_INTENT.match(button.payload)
        if match and match.group(1) not in names.intents:
            report.warning(f"{what}: button {button.title!r} sends intent "
                           f"{match.group(1)!r}, which is not defined", source,
                           did_you_mean(match.group(1), names.intents), code="unknown-intent")


def _check_kb(parts: ProjectParts, names: _Names, report: Report) -> None:
    ids: dict[str, Source] = {}
    questions: dict[str, tuple[str, Source]] = {}
    for entry in parts.kb:
        if entry.id in ids:
            report.error(f"KB id {entry.id!r} is used twice (first at {ids[entry.id]})",
                         entry.source, "give every KB entry its own id", code="duplicate-kb-id")
        else:
            ids[entry.id] = entry.source
        for q in entry.questions:
            key = _norm(q)
            other = questions.get(key)
            if other is not None and other[0] != entry.id:
                report.warning(f"KB question {q!r} belongs to {entry.id!r} and also to "
                               f"{other[0]!r} (at {other[1]})", entry.source,
                               "keep each question under the one entry that answers it",
                               code="duplicate-kb-question")
            else:
                questions.setdefault(key, (entry.id, entry.source))
        answers = [entry.answer, *entry.translations.values()]
        for answer in answers:
            _check_buttons(answer.buttons, f"KB entry {entry.id!r}", entry.source, names,
                           report)
        for lang in entry.translations:
            if lang not in names.languages:
                report.warning(f"KB entry {entry.id!r}: language {lang!r} is not in "
                               "`nlu.languages` of config.yml", entry.source,
                               f"add {lang!r} to `nlu.languages`", code="language")



def _check_config_names(parts: ProjectParts, names: _Names, report: Report) -> None:
    """Intents named in config.yml's `nlu:` section must exist (a typo would be ignored)."""
    config = parts.config
    nlu_raw = config.raw.get("nlu") if isinstance(config.raw, dict) else None
    fallback_raw = nlu_raw.get("fallback") if isinstance(nlu_raw, dict) else None
    per_intent_raw = fallback_raw.get("per_intent") if isinstance(fallback_raw, dict) else None
    file = config.source.file
    for intent in config.nlu.fallback.per_intent:
        if intent not in names.intents:
            report.warning(f"`nlu.fallback.per_intent` names intent {intent!r}, which is not "
                           "defined", Source(file, line_of(per_intent_raw, intent)),
                           did_you_mean(intent, names.intents), code="unknown-intent")


MAX_LISTED = 8  # names listed in one missing-translation warning before "and N more"


def _listing(names: list[str]) -> str:
    shown = ", ".join(names[:MAX_LISTED])
    return shown + (f" and {len(names) - MAX_LISTED} more" if len(names) > MAX_LISTED else "")


def _check_translations(parts: ProjectParts, report: Report) -> None:
    """One warning per language listed in `nlu.languages` (other than the main `language`) for the
    responses and FAQ answers that have no text in it: customers writing that language get
    those in the main language (see `nlu.missing_translation`)."""
    config = parts.config
    main = config.language
    nlu_raw = config.raw.get("nlu") if isinstance(config.raw, dict) else None
    if not isinstance(nlu_raw, dict) or "languages" not in nlu_raw:
        return  # the default languages are a guess, not a promise to translate
    line = line_of(nlu_raw, "languages")
    where = Source(config.source.file, line) if line is not None else config.source
    mode = config.nlu.missing_translation
    what_then = ("they are answered in the main language after a one-line note"
                 if mode == "note" else "they are handed to an agent who speaks it")
    responses = [r for r in parts.domain.responses.values()
                 if not r.name.startswith("utter_ask_rephrase")
                 and any(v.text and v.language in (None, main) for v in r.variations)]
    for lang in config.nlu.languages:
        if lang == main:
            continue
        missing_responses = sorted(r.name for r in responses
                                   if not any(v.language == lang and v.text
                                              for v in r.variations))
        missing_answers = sorted(e.id for e in parts.kb if lang not in e.translations)
        if not missing_responses and not missing_answers:
            continue
        parts_text = []
        if missing_responses:
            parts_text.append(f"{len(missing_responses)} of {len(responses)} responses have no "
                              f"`language: {lang}` variation ({_listing(missing_responses)})")
        if missing_answers:
            parts_text.append(f"{len(missing_answers)} of {len(parts.kb)} FAQ entries have no "
                              f"`{lang}` answer ({_listing(missing_answers)})")
        report.warning(f"language {lang!r} (nlu.languages): " + "; ".join(parts_text)
                       + f"; customers writing {lang!r} understand the bot's topics, but {what_then} "
                       f"(nlu.missing_translation: {mode})", where,
                       f"add `language: {lang}` variations to the responses and "
                       f"`answer.languages.{lang}` to the FAQ entries", code="missing-translation")
