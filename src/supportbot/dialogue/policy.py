"""Choosing what to do with a message: rules > confident KB answer > intent response >
clarification > fallback."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from supportbot.dialogue.intake import looks_like_question
from supportbot.dialogue.rules import best_rule
from supportbot.dialogue.tracker import Tracker
from supportbot.nlu.parse import Parse
from supportbot.project.types import Response, Rule

FALLBACK_RESPONSE = "utter_default"
CLARIFY_RESPONSE = "utter_clarify"
# An intent's own response beats a KB answer only from this confidence up (and when it is above
# the KB score); below it, FAQ candidates too close to call are offered as "Did you mean" buttons
# instead of the intent's generic response. A KB entry answers one precise question, an intent's
# response a whole topic: the intent must be clearly surer to win.
CONFIDENT_INTENT = 0.7


@dataclass(frozen=True)
class KBOutcome:
    """What the knowledge base offers for this message (filled from the KB index's decision)."""

    kind: str = "none"  # answer | clarify | none
    entry_id: str | None = None
    candidates: tuple[str, ...] = ()
    score: float = 0.0
    scores: tuple[tuple[str, float], ...] = ()  # (entry id, score) of the top hits
    # the topic arbiter chose this entry over every intent (supportbot.nlu.arbiter): no
    # intent's own confidence overrules it
    chosen: bool = False


@dataclass(frozen=True)
class Respond:
    """Send the domain response `name`."""

    name: str

    @property
    def key(self) -> str:
        """What the reply is recorded as (`BotReply.template`, used to spot repeats)."""
        return self.name


@dataclass(frozen=True)
class AnswerFromKB:
    """Send FAQ entry `entry_id`'s answer."""

    entry_id: str

    @property
    def key(self) -> str:
        return f"kb:{self.entry_id}"


@dataclass(frozen=True)
class OfferChoices:
    """"Did you mean…?" with one button per FAQ entry."""

    entry_ids: tuple[str, ...]

    @property
    def key(self) -> str:
        return "clarify:" + ",".join(self.entry_ids)


@dataclass(frozen=True)
class RunAction:
    """A rule's action: a response, a form or a custom action (the manager tells which)."""

    name: str

    @property
    def key(self) -> str:
        return self.name


PlanStep = Respond | AnswerFromKB | OfferChoices | RunAction


@dataclass(frozen=True)
class Plan:
    """The bot's intended reply before escalation gets a say."""

    action: str
    reason: str
    steps: tuple[PlanStep, ...]
    is_fallback: bool = False
    kb_entry: str | None = None
    rule: str | None = None

    @property
    def template(self) -> str | None:
        """The repeat key of the main reply (first step)."""
        return self.steps[0].key if self.steps else None

    def runs(self, action: str) -> bool:
        """Whether one of the steps is rule action `action` (e.g. a form)."""
        return any(isinstance(s, RunAction) and s.name == action for s in self.steps)


class DialoguePolicy:
    """Stateless decision over the tracker, the parse and the KB outcome."""

    def __init__(self, rules: Sequence[Rule], responses: Mapping[str, Response],
                 out_of_scope_intent: str = "out_of_scope", forms: Sequence[str] = ()):
        self.rules = tuple(rules)
        self.responses = responses
        self.out_of_scope_intent = out_of_scope_intent
        self.forms = frozenset(forms)

    def rule_applies(self, tracker: Tracker) -> bool:
        """Whether a rule answers the tracker's latest message."""
        return best_rule(self.rules, tracker) is not None

    def form_rule_applies(self, tracker: Tracker, form: str) -> bool:
        """Whether a rule written for while `form` runs (`condition: active_loop: form`)
        answers the latest message (e.g. the project's own "stop" rule)."""
        match = best_rule(self.rules, tracker)
        return match is not None and any(
            step.kind == "active_loop" and step.value == form for step in match.rule.condition)

    def decide(self, tracker: Tracker, parse: Parse, kb: KBOutcome) -> Plan:
        if parse.retrieval_key and kb.kind == "answer" and kb.entry_id:
            return Plan("kb_answer", f"button payload selected KB entry {kb.entry_id!r}",
                        (AnswerFromKB(kb.entry_id),), kb_entry=kb.entry_id)
        retrieval_response = f"utter_{parse.retrieval_key}" if parse.retrieval_key else None
        if (retrieval_response and retrieval_response in self.responses
                and not parse.fallback):
            return Plan(retrieval_response, f"retrieval intent {parse.retrieval_key!r} has "
                        f"response {retrieval_response!r}", (Respond(retrieval_response),))
        match = best_rule(self.rules, tracker)
        intent_is_surer = (parse.confidence >= CONFIDENT_INTENT and parse.confidence > kb.score
                           and not kb.chosen)
        if match is not None:
            steps = tuple(a for a in match.actions if a != "action_listen")
            starts_form = bool(steps) and steps[0] in self.forms
            if (starts_form and kb.kind in ("answer", "clarify") and not intent_is_surer
                    and looks_like_question(parse.text)):
                # a question a surer FAQ entry answers (or a "did you mean" when the intent is
                # unsure) is better served by the answer than by a form's questions; a
                # request ("I want to return my headphones") starts the form
                steps = ()
            if steps:
                return Plan(f"rule:{match.rule.name}", f"rule {match.rule.name!r} matched",
                            tuple(RunAction(a) for a in steps), rule=match.rule.name,
                            is_fallback=parse.fallback)
        intent_response = f"utter_{parse.intent}" in self.responses and not parse.fallback
        intent_is_surer = (intent_response and parse.confidence >= CONFIDENT_INTENT
                           and parse.confidence > kb.score and not kb.chosen)
        if kb.kind == "answer" and kb.entry_id and not intent_is_surer:
            return Plan("kb_answer", f"KB entry {kb.entry_id!r} scored {kb.score:.2f}",
                        (AnswerFromKB(kb.entry_id),), kb_entry=kb.entry_id)
        unsure = parse.confidence < CONFIDENT_INTENT and not parse.from_payload
        if not parse.fallback and not (unsure and kb.kind == "clarify"):
            name = f"utter_{parse.intent}"
            if name in self.responses:
                return Plan(name, f"intent {parse.intent!r} ({parse.confidence:.2f}) has response "
                            f"{name!r}", (Respond(name),))
        if kb.kind == "clarify" and kb.candidates:
            scores = ", ".join(f"{i} {s:.2f}" for i, s in kb.scores[: len(kb.candidates)])
            return Plan("clarify", f"KB candidates too close to call ({scores})",
                        (OfferChoices(tuple(kb.candidates)),))
        if parse.fallback and parse.fallback_reason == "out_of_scope":
            name = f"utter_{self.out_of_scope_intent}"
            if name in self.responses:
                return Plan(name, "message is out of scope", (Respond(name),), is_fallback=True)
        why = parse.fallback_reason or "no response for the intent"
        return Plan("fallback", f"not understood ({why}; intent {parse.intent!r} "
                    f"{parse.confidence:.2f})", (Respond(FALLBACK_RESPONSE),), is_fallback=True)
