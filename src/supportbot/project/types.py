"""Typed, immutable objects a bot project loads into.

Every object that comes from a file carries a `Source` so errors can name file:line.
Mappings are plain dicts by convention but must not be mutated after loading.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from supportbot.errors import Problem


@dataclass(frozen=True)
class Source:
    """Where something was defined: a file path (relative to the project root) and 1-based line."""

    file: str
    line: int = 0

    def __str__(self) -> str:
        return f"{self.file}:{self.line}" if self.line else self.file


NOWHERE = Source("<built-in>")


# ---------------------------------------------------------------- NLU data
@dataclass(frozen=True)
class EntityAnnotation:
    """An entity marked inline in a training example; offsets refer to the stripped text."""

    entity: str
    value: str
    start: int
    end: int
    text: str
    role: str | None = None
    group: str | None = None


@dataclass(frozen=True)
class Example:
    """One training utterance. `intent` may be a retrieval intent such as `faq/opening_hours`."""

    text: str
    intent: str
    entities: tuple[EntityAnnotation, ...] = ()
    metadata: Mapping[str, Any] = field(default_factory=dict)
    source: Source = NOWHERE

    @property
    def base_intent(self) -> str:
        """`faq` for `faq/opening_hours`; the intent itself otherwise."""
        return self.intent.split("/", 1)[0]


@dataclass(frozen=True)
class Synonym:
    """Every text in `examples` (case-insensitive) maps to the entity value `value`."""

    value: str
    examples: tuple[str, ...]
    source: Source = NOWHERE


@dataclass(frozen=True)
class RegexPattern:
    """A named list of regular expressions; a match yields an entity called `name`."""

    name: str
    patterns: tuple[str, ...]
    source: Source = NOWHERE


@dataclass(frozen=True)
class LookupTable:
    """A named list of literal values; a (case-insensitive, word-bounded) match yields entity `name`."""

    name: str
    elements: tuple[str, ...]
    source: Source = NOWHERE


@dataclass(frozen=True)
class NluData:
    examples: tuple[Example, ...] = ()
    synonyms: tuple[Synonym, ...] = ()
    regexes: tuple[RegexPattern, ...] = ()
    lookups: tuple[LookupTable, ...] = ()

    def intents(self) -> tuple[str, ...]:
        """Distinct intent names in first-seen order (retrieval intents collapse to their base)."""
        seen: dict[str, None] = {}
        for ex in self.examples:
            seen.setdefault(ex.base_intent, None)
        return tuple(seen)


# ---------------------------------------------------------------- domain
@dataclass(frozen=True)
class IntentDef:
    name: str
    use_entities: tuple[str, ...] | None = None  # None = all entities
    ignore_entities: tuple[str, ...] = ()
    source: Source = NOWHERE


@dataclass(frozen=True)
class EntityDef:
    name: str
    roles: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()
    influence_conversation: bool = True
    source: Source = NOWHERE


@dataclass(frozen=True)
class SlotMapping:
    """One way a slot is filled. `type` is from_entity|from_text|from_intent|from_trigger_intent|custom."""

    type: str
    entity: str | None = None
    role: str | None = None
    group: str | None = None
    intent: tuple[str, ...] = ()
    not_intent: tuple[str, ...] = ()
    value: Any = None
    conditions: tuple[Mapping[str, Any], ...] = ()


@dataclass(frozen=True)
class SlotDef:
    name: str
    type: str = "any"  # text|bool|categorical|float|list|any|<custom class path>
    initial_value: Any = None
    influence_conversation: bool = True
    values: tuple[str, ...] = ()  # categorical
    min_value: float | None = None
    max_value: float | None = None
    mappings: tuple[SlotMapping, ...] = ()
    source: Source = NOWHERE


@dataclass(frozen=True)
class Button:
    title: str
    payload: str


@dataclass(frozen=True)
class ResponseCondition:
    """`condition: [{type: slot, name: logged_in, value: true}]` entries."""

    name: str
    value: Any
    type: str = "slot"


@dataclass(frozen=True)
class ResponseVariation:
    """One way to say a response. `language` is a supportbot extension (None = any language)."""

    text: str | None = None
    buttons: tuple[Button, ...] = ()
    image: str | None = None
    channel: str | None = None
    language: str | None = None
    condition: tuple[ResponseCondition, ...] = ()
    custom: Mapping[str, Any] | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)
    source: Source = NOWHERE


@dataclass(frozen=True)
class Response:
    name: str
    variations: tuple[ResponseVariation, ...]
    source: Source = NOWHERE


@dataclass(frozen=True)
class SlotValidation:
    """Checks a form applies to a value before it fills a slot (supportbot extension).

    Declared under a form's `validation:` key, per slot: `regex` (the whole value must match),
    `values` (allowed values, compared case-insensitively), `min` / `max` (numbers). `response`
    names the response sent when the value fails (default `utter_invalid_<slot>`, else a built-in
    "that doesn't look right" message).
    """

    regex: str | None = None
    values: tuple[str, ...] = ()
    min: float | None = None
    max: float | None = None
    response: str | None = None


@dataclass(frozen=True)
class FormDef:
    """A form: the slots it asks for, in order, and how each one is filled.

    `mappings` holds slot mappings declared on the form itself (Rasa 2.x); an empty entry means
    the slot's own `mappings:` in `slots:` are used (Rasa 3.x). `ignored_intents`: messages with
    these intents never fill a slot of this form.
    """

    name: str
    required_slots: tuple[str, ...]
    mappings: Mapping[str, tuple[SlotMapping, ...]] = field(default_factory=dict)
    ignored_intents: tuple[str, ...] = ()
    validation: Mapping[str, SlotValidation] = field(default_factory=dict)
    source: Source = NOWHERE


@dataclass(frozen=True)
class SessionConfig:
    session_expiration_time: float = 60.0  # minutes; 0 = sessions never expire
    carry_over_slots_to_new_session: bool = True


@dataclass(frozen=True)
class Domain:
    intents: Mapping[str, IntentDef] = field(default_factory=dict)
    entities: Mapping[str, EntityDef] = field(default_factory=dict)
    slots: Mapping[str, SlotDef] = field(default_factory=dict)
    responses: Mapping[str, Response] = field(default_factory=dict)
    actions: tuple[str, ...] = ()
    forms: Mapping[str, FormDef] = field(default_factory=dict)
    session_config: SessionConfig = SessionConfig()
    store_entities_as_slots: bool = True
    action_sources: Mapping[str, Source] = field(default_factory=dict)  # where `actions:` lists each


# ---------------------------------------------------------------- rules and stories
class _Missing:
    """Type of `MISSING`: a `slot_was_set` step naming a slot without a value (any value)."""

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()
"""Value in `Step.slots` for `- slot_was_set: [slot_name]` (the slot is set, value not given)."""

StepKind = Literal[
    "intent", "action", "slot_was_set", "active_loop", "or", "checkpoint", "user", "bot"
]


@dataclass(frozen=True)
class Step:
    """One step of a rule or story.

    intent: value=intent name, entities=((name, value|None), ...)
    action: value=action or response name
    slot_was_set: slots=((name, value|MISSING), ...)  value None means "set to null"
    active_loop: value=loop name or None
    or: alternatives=tuple of Steps
    """

    kind: StepKind
    value: Any = None
    entities: tuple[tuple[str, Any], ...] = ()
    slots: tuple[tuple[str, Any], ...] = ()
    alternatives: tuple[Step, ...] = ()
    source: Source = NOWHERE


@dataclass(frozen=True)
class Rule:
    name: str
    steps: tuple[Step, ...]
    condition: tuple[Step, ...] = ()
    conversation_start: bool = False
    wait_for_user_input: bool = True
    source: Source = NOWHERE


@dataclass(frozen=True)
class Story:
    name: str
    steps: tuple[Step, ...]
    source: Source = NOWHERE


# ---------------------------------------------------------------- knowledge base
@dataclass(frozen=True)
class KBAnswer:
    text: str
    buttons: tuple[Button, ...] = ()


@dataclass(frozen=True)
class KBEntry:
    """A FAQ entry. `answer` is in the project language; `translations` maps language code -> answer."""

    id: str
    questions: tuple[str, ...]
    answer: KBAnswer
    translations: Mapping[str, KBAnswer] = field(default_factory=dict)
    tags: tuple[str, ...] = ()
    url: str | None = None
    source: Source = NOWHERE

    def answer_for(self, language: str | None) -> KBAnswer:
        """The answer in `language` when the entry has one, else the default answer."""
        if language and language in self.translations:
            return self.translations[language]
        return self.answer


# ---------------------------------------------------------------- config
@dataclass(frozen=True)
class FallbackSettings:
    threshold: float | None = None  # None = tune by cross-validation at training time
    ambiguity_threshold: float = 0.1
    per_intent: Mapping[str, float] = field(default_factory=dict)
    # fall back when a message is less like every training example than this (cosine of
    # feature vectors); None = tune by cross-validation, 0 = off
    familiarity_threshold: float | None = None


@dataclass(frozen=True)
class NluSettings:
    # None disables dense features; "a+b" = an English model and a multilingual one
    embedding_model: str | None = "all-MiniLM-L6-v2"
    word_ngrams: tuple[int, int] = (1, 2)
    char_ngrams: tuple[int, int] = (2, 5)
    fallback: FallbackSettings = FallbackSettings()
    languages: tuple[str, ...] = ("en", "ru", "hy", "ky")
    out_of_scope_intent: str = "out_of_scope"
    # a reply with no text in the customer's language: "note" (main language + a one-line
    # note) or "handoff" (an agent who speaks the language); see dialogue/render.py
    missing_translation: str = "note"


@dataclass(frozen=True)
class KBSettings:
    # answer when the calibrated score is at least this; None (`auto`) = the threshold the KB
    # index's calibration chose for precision (supportbot.kb.calibration)
    threshold: float | None = None
    clarify_margin: float = 0.05  # top two closer than this -> "did you mean"
    approximate_above: int = 20000  # entries*questions above which an HNSW index is used
    max_clarify_options: int = 3


@dataclass(frozen=True)
class Config:
    language: str = "en"
    nlu: NluSettings = NluSettings()
    kb: KBSettings = KBSettings()
    escalation: Mapping[str, Any] = field(default_factory=dict)  # validated by supportbot.escalation
    handoff: Mapping[str, Any] = field(default_factory=dict)  # validated by supportbot.handoff
    raw: Mapping[str, Any] = field(default_factory=dict)  # the file as read
    source: Source = NOWHERE


# ---------------------------------------------------------------- project
@dataclass(frozen=True)
class Project:
    root: Path
    config: Config
    domain: Domain
    nlu: NluData
    rules: tuple[Rule, ...] = ()
    stories: tuple[Story, ...] = ()
    kb: tuple[KBEntry, ...] = ()
    problems: tuple[Problem, ...] = ()  # warnings that remained after a successful load
    files: tuple[str, ...] = ()  # every file read, relative to root

    @property
    def warnings(self) -> tuple[Problem, ...]:
        return tuple(p for p in self.problems if p.severity == "warning")
