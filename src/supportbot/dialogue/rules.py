"""Rules with Rasa semantics: a rule's steps up to its last user intent must match the end of the
conversation; the actions after that intent are what the bot does."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from supportbot.dialogue.events import ActionExecuted, UserMessage
from supportbot.dialogue.tracker import Tracker
from supportbot.nlu.parse import Parse
from supportbot.project.types import MISSING, Rule, Step

FALLBACK_INTENT = "nlu_fallback"


@dataclass(frozen=True)
class RuleMatch:
    rule: Rule
    actions: tuple[str, ...]
    specificity: int


def _intent_of(parse: Parse) -> str:
    return FALLBACK_INTENT if parse.fallback else parse.intent


def _step_matches_intent(step: Step, parse: Parse) -> bool:
    if step.kind == "or":
        return any(_step_matches_intent(alt, parse) for alt in step.alternatives)
    if step.kind != "intent":
        return False
    intent = _intent_of(parse)
    names = {intent, parse.intent if not parse.fallback else FALLBACK_INTENT}
    if parse.retrieval_key:
        names.add(parse.retrieval_key)
    if step.value not in names:
        return False
    found = {e.entity: e.value for e in parse.entities}
    for name, value in step.entities:
        if name not in found or (value is not None and str(found[name]) != str(value)):
            return False
    return True


def _slots_hold(steps: Sequence[Step], slots: Mapping[str, Any],
                active_form: str | None = None) -> bool:
    """`slot_was_set` steps hold for the current slots; `active_loop` steps (in a condition)
    name the form running now (`null`: none)."""
    for step in steps:
        if step.kind == "slot_was_set":
            for name, value in step.slots:
                current = slots.get(name)
                if value is MISSING:
                    if current is None:
                        return False
                elif current != value:
                    return False
        elif step.kind == "active_loop" and step.value != active_form:
            return False
    return True


def _history(tracker: Tracker) -> list[tuple[str, Any]]:
    """("intent", Parse) / ("action", name) items of the current session, oldest first."""
    items: list[tuple[str, Any]] = []
    for ev in tracker.session_events():
        if isinstance(ev, UserMessage):
            items.append(("intent", ev.parse))
        elif isinstance(ev, ActionExecuted):
            items.append(("action", ev.name))
    return items


def match_rule(rule: Rule, tracker: Tracker) -> RuleMatch | None:
    """Whether `rule` applies now (the tracker's latest event is the user's message)."""
    steps = [s for s in rule.steps if s.kind in ("intent", "action", "or")]
    last_intent = max((i for i, s in enumerate(steps) if s.kind in ("intent", "or")), default=-1)
    if last_intent < 0:
        return None
    prefix, actions = steps[: last_intent + 1], steps[last_intent + 1:]
    if not actions or any(a.kind != "action" for a in actions):
        return None
    history = _history(tracker)
    if len(prefix) > len(history):
        return None
    if rule.conversation_start and len(history) != len(prefix):
        return None
    for step, (kind, value) in zip(reversed(prefix), reversed(history)):
        if step.kind == "action":
            if kind != "action" or value != step.value:
                return None
        elif kind != "intent" or not _step_matches_intent(step, value):
            return None
    prefix_slots = [s for s in rule.steps[: _index_of(rule.steps, prefix[-1]) + 1]
                    if s.kind == "slot_was_set"]
    if not _slots_hold(list(rule.condition) + prefix_slots, tracker.slots,
                       tracker.active_form):
        return None
    specificity = len(prefix) + len(rule.condition) + (10 if rule.conversation_start else 0)
    return RuleMatch(rule, tuple(a.value for a in actions), specificity)


def _index_of(steps: Sequence[Step], step: Step) -> int:
    for i, candidate in enumerate(steps):
        if candidate is step:
            return i
    return len(steps) - 1


def continuation(rules: Sequence[Rule], action: str, slots: Mapping[str, Any]) -> tuple[str, ...]:
    """Actions that rules run right after `action` (e.g. a form's submit action after the form
    completes): rules without user steps whose first action is `action`. Condition steps on
    `active_loop` describe the form that just finished, so only slot conditions are checked."""
    for rule in rules:
        steps = [s for s in rule.steps if s.kind in ("intent", "action", "or")]
        if not steps or any(s.kind != "action" for s in steps) or steps[0].value != action:
            continue
        conditions = [s for s in rule.condition if s.kind == "slot_was_set"]
        if not _slots_hold(conditions, slots):
            continue
        rest = tuple(s.value for s in steps[1:] if s.value != "action_listen")
        if rest:
            return rest
    return ()


def best_rule(rules: Sequence[Rule], tracker: Tracker) -> RuleMatch | None:
    """The most specific matching rule (conversation-start rules and longer prefixes win)."""
    matches = [m for m in (match_rule(r, tracker) for r in rules) if m is not None]
    return max(matches, key=lambda m: m.specificity) if matches else None
