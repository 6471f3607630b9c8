"""The `escalation:` section of config.yml: a validated, typed model with documented defaults.

`EscalationConfig.from_mapping(raw)` builds it (raising `ProjectError`), and
`validate_escalation_section(raw, source)` lists every problem with its key path, the file and
line, and a "did you mean" for misspelt keys. docs/escalation.md describes every key.
"""
from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, model_validator

from supportbot.errors import Problem, ProjectError
from supportbot.escalation.text import Phrase
from supportbot.project.types import NOWHERE, Source

SECTION = "escalation"


def _check_phrases(phrases: tuple[str, ...]) -> tuple[str, ...]:
    for phrase in phrases:
        Phrase.compile(phrase)  # ValueError names the phrase
    return phrases


Phrases = Annotated[tuple[str, ...], AfterValidator(_check_phrases)]
"""A list of phrases in the syntax of supportbot.escalation.text (checked on load)."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Signal(_Model):
    """Keys every signal accepts."""

    enabled: bool = True
    priority: int = Field(0, ge=0, le=100)
    queue: str | None = None
    confirm: bool | None = None  # None: follow `confirm_before_handoff`


class ExplicitRequestConfig(_Signal):
    """The customer asks for a person (intent or built-in / configured phrases)."""

    confirm: bool | None = False
    handoff_intent: str = "human_handoff"
    min_confidence: float = Field(0.3, ge=0.0, le=1.0)
    confirm_below: float = Field(0.5, ge=0.0, le=1.0)
    phrases: Phrases = ()
    short_phrases: Phrases = ()
    builtin_phrases: bool = True


class UnresolvedConfig(_Signal):
    """The bot keeps not understanding."""

    consecutive_fallbacks: int = Field(2, ge=1)
    session_fallbacks: int = Field(3, ge=1)


class LoopConfig(_Signal):
    """The customer asks again what the bot already answered."""

    window: int = Field(3, ge=1)
    similarity: float = Field(0.7, gt=0.0, le=1.0)
    min_words: int = Field(3, ge=1)


class NegativeFeedbackConfig(_Signal):
    """The customer says the answer they just got did not help."""

    intents: tuple[str, ...] = ("negative_feedback", "deny")
    min_confidence: float = Field(0.5, ge=0.0, le=1.0)
    phrases: Phrases = ()
    builtin_phrases: bool = True


class RepeatedReplyConfig(_Signal):
    """The bot is about to send again a response it already sent in this session."""

    repeats: int = Field(2, ge=1)


class LongConversationConfig(_Signal):
    """Many bot turns without the conversation getting anywhere."""

    max_bot_turns: int = Field(8, ge=1)
    resolution_intents: tuple[str, ...] = ("thank_you", "thankyou", "thanks", "goodbye")


class FormValidationConfig(_Signal):
    """The customer's answer to a form's question failed validation again and again."""

    failures: int = Field(2, ge=1)


class RecoveryConfig(_Model):
    """Before handing off for a recoverable signal, try once to get the customer unstuck."""

    enabled: bool = True
    signals: tuple[str, ...] = ("loop_rephrase", "repeated_reply", "negative_feedback",
                                "form_validation")
    window: int = Field(4, ge=1)  # turns after a recovery move in which it counts as tried
    min_alternative_score: float = Field(0.3, ge=0.0, le=1.0)


class FrustrationWeights(_Model):
    """How much each cue adds to the frustration score (combined as 1 - prod(1 - w))."""

    profanity: float = Field(0.5, ge=0.0, le=1.0)
    insult: float = Field(0.65, ge=0.0, le=1.0)
    negative_word: float = Field(0.2, ge=0.0, le=1.0)
    all_caps: float = Field(0.4, ge=0.0, le=1.0)
    punctuation: float = Field(0.25, ge=0.0, le=1.0)


class FrustrationConfig(_Model):
    """How upset this message sounds; hands off above a threshold and raises priority."""

    enabled: bool = True
    threshold: float = Field(0.6, gt=0.0, le=1.0)
    priority_boost: int = Field(2, ge=0, le=100)
    mild_threshold: float = Field(0.3, gt=0.0, le=1.0)
    mild_priority_boost: int = Field(1, ge=0, le=100)
    queue: str | None = None
    confirm: bool | None = None
    weights: FrustrationWeights = FrustrationWeights()
    min_caps_words: int = Field(2, ge=1)
    min_caps_ratio: float = Field(0.6, gt=0.0, le=1.0)
    profanity: Phrases = ()
    insults: Phrases = ()
    negative_words: Phrases = ()
    ignore_acronyms: tuple[str, ...] = ()
    builtin_lexicons: bool = True

    @model_validator(mode="after")
    def _mild_below_threshold(self) -> FrustrationConfig:
        if self.mild_threshold > self.threshold:
            raise ValueError(f"mild_threshold ({self.mild_threshold}) must not be above "
                             f"threshold ({self.threshold})")
        return self


class SensitiveTopic(_Model):
    """Intents and KB tags that always go to a person, and where they go."""

    intents: tuple[str, ...] = ()
    kb_tags: tuple[str, ...] = ()
    queue: str | None = None  # None: the default queue
    priority: int = Field(1, ge=0, le=100)
    confirm: bool | None = False

    @model_validator(mode="after")
    def _has_a_trigger(self) -> SensitiveTopic:
        if not self.intents and not self.kb_tags:
            raise ValueError("a sensitive topic needs `intents` or `kb_tags` (or both)")
        return self


class SensitiveTopicsConfig(_Model):
    """Topics that are always handed to a person, each routed to a named queue."""

    enabled: bool = True
    min_confidence: float = Field(0.5, ge=0.0, le=1.0)
    topics: dict[str, SensitiveTopic] = {}


class ConfirmationConfig(_Model):
    """How the "Shall I connect you with a person?" question is recognised and answered."""

    action: str = "handoff_confirm"
    affirm_intents: tuple[str, ...] = ("affirm",)
    deny_intents: tuple[str, ...] = ("deny",)
    min_confidence: float = Field(0.5, ge=0.0, le=1.0)
    affirm_phrases: Phrases = ()
    deny_phrases: Phrases = ()


class EscalationConfig(_Model):
    """The whole `escalation:` section; every key is optional (see docs/escalation.md)."""

    enabled: bool = True
    default_queue: str = "default"
    confirm_before_handoff: bool = False
    fallback_actions: tuple[str, ...] = ("fallback", "utter_default", "action_default_fallback")
    clarify_actions: tuple[str, ...] = ("clarify", "recovery")
    smalltalk_intents: tuple[str, ...] = (
        "greet", "goodbye", "thank_you", "thankyou", "thanks", "affirm", "deny",
        "bot_challenge", "mood_great", "chitchat")
    smalltalk_templates: tuple[str, ...] = (
        "utter_greet*", "utter_goodbye*", "utter_bye*", "utter_thank*", "utter_welcome*",
        "utter_you_are_welcome*", "utter_noworries*", "utter_anything_else*", "utter_iamabot*",
        "utter_bot_challenge*", "utter_happy*", "utter_handoff_confirm*")
    explicit_request: ExplicitRequestConfig = ExplicitRequestConfig()
    unresolved: UnresolvedConfig = UnresolvedConfig()
    loop: LoopConfig = LoopConfig()
    negative_feedback: NegativeFeedbackConfig = NegativeFeedbackConfig()
    repeated_reply: RepeatedReplyConfig = RepeatedReplyConfig()
    long_conversation: LongConversationConfig = LongConversationConfig()
    frustration: FrustrationConfig = FrustrationConfig()
    sensitive_topics: SensitiveTopicsConfig = SensitiveTopicsConfig()
    form_validation: FormValidationConfig = FormValidationConfig()
    recovery: RecoveryConfig = RecoveryConfig()
    confirmation: ConfirmationConfig = ConfirmationConfig()

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any] | None,
                     source: Source = NOWHERE) -> EscalationConfig:
        """Build from the raw `escalation:` mapping; raises ProjectError listing every problem."""
        problems = validate_escalation_section(raw, source)
        errors = [p for p in problems if p.severity == "error"]
        if errors:
            raise ProjectError(problems)
        return cls.model_validate(dict(raw or {}))


# ------------------------------------------------------------------ validation
def validate_escalation_section(raw: Any, source: Source = NOWHERE) -> list[Problem]:
    """Every problem in the `escalation:` section: key path, file:line, what to do.

    `raw` may be a plain mapping or the line-aware mapping the project's YAML reader builds
    (objects with `line`, `key_lines` and `item_lines`); lines come from there when present,
    else from `source`.
    """
    if raw is None:
        return []
    if not isinstance(raw, Mapping):
        return [Problem("error", f"`{SECTION}` must be a mapping of settings, "
                                 f"got {type(raw).__name__}", source.file, source.line or None,
                        "write the settings indented under `escalation:` "
                        "(see docs/escalation.md)", code="escalation-config")]
    try:
        EscalationConfig.model_validate(dict(raw))
    except ValidationError as exc:
        return [_problem(err, raw, source) for err in exc.errors()]
    return _warnings(raw, source)


def _problem(err: Any, raw: Mapping[str, Any], source: Source) -> Problem:
    loc = tuple(err["loc"])
    path = ".".join([SECTION, *(str(p) for p in loc)])
    line = _line(raw, loc) or source.line or None
    kind = err["type"]
    if kind == "extra_forbidden":
        parent_model = _model_at(loc[:-1])
        valid = sorted(parent_model.model_fields) if parent_model else []
        match = difflib.get_close_matches(str(loc[-1]), valid, n=1, cutoff=0.6)
        hint = (f"did you mean `{match[0]}`?" if match
                else "valid keys here: " + ", ".join(valid) if valid else None)
        return Problem("error", f"unknown key `{path}`", source.file, line, hint,
                       code="escalation-config")
    message = err["msg"].replace("a valid tuple", "a list").replace("a valid dictionary",
                                                                    "a mapping")
    message = message.removeprefix("Value error, ")
    got = err.get("input")
    shown = "" if isinstance(got, (dict, Mapping)) else f" (got {got!r})"
    return Problem("error", f"`{path}`: {message}{shown}", source.file, line,
                   "see docs/escalation.md for the allowed values", code="escalation-config")


def _warnings(raw: Mapping[str, Any], source: Source) -> list[Problem]:
    config = EscalationConfig.model_validate(dict(raw))
    problems: list[Problem] = []
    unresolved = config.unresolved
    if unresolved.enabled and unresolved.session_fallbacks < unresolved.consecutive_fallbacks:
        loc = ("unresolved", "session_fallbacks")
        problems.append(Problem(
            "warning", f"`{SECTION}.unresolved.session_fallbacks` "
                       f"({unresolved.session_fallbacks}) is below `consecutive_fallbacks` "
                       f"({unresolved.consecutive_fallbacks}), so the streak rule never fires "
                       "first", source.file, _line(raw, loc) or source.line or None,
            "make session_fallbacks at least consecutive_fallbacks", code="escalation-config"))
    return problems


def _model_at(loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The pydantic model that describes the mapping at key path `loc`."""
    model: type[BaseModel] = EscalationConfig
    i = 0
    while i < len(loc):
        field = model.model_fields.get(str(loc[i]))
        if field is None:
            return None
        annotation = field.annotation
        if annotation == dict[str, SensitiveTopic]:
            if i + 1 >= len(loc):
                return None  # the `topics` mapping itself: any topic name is fine
            model, i = SensitiveTopic, i + 2
            continue
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            model, i = annotation, i + 1
            continue
        return None
    return model


def _line(raw: Any, loc: tuple[Any, ...]) -> int | None:
    """Best line for key path `loc` in a line-aware mapping (the deepest one known)."""
    best: int | None = getattr(raw, "line", None) or None
    node = raw
    for key in loc:
        if isinstance(node, Mapping):
            line = getattr(node, "key_lines", {}).get(key)
            if line:
                best = line
            if key not in node:
                break
            node = node[key]
        elif isinstance(node, list) and isinstance(key, int):
            lines = getattr(node, "item_lines", [])
            if 0 <= key < len(lines):
                best = lines[key]
            if not 0 <= key < len(node):
                break
            node = node[key]
        else:
            break
    return best
