"""Scripted conversations for testing and tuning the escalation policy without a trained model.

`Script` builds a tracker turn by turn with hand-made parses and records each turn's outcome
the way `Bot.handle` does: the candidate reply as a BotReply (with `data["fallback"]`), the
"Shall I connect you?" question as a BotReply with action `handoff_confirm` and
`data={"fallback": candidate.is_fallback, **decision.confirmation_data()}`, or a
HandoffRequested event.

    script = Script(EscalationPolicy())
    script.say("hi", "greet", reply="utter_greet")
    decision = script.say("asdf qwer", reply="fallback")
"""
from __future__ import annotations

from collections.abc import Mapping

from supportbot.dialogue.events import BotReply, HandoffEnded, HandoffRequested, UserMessage
from supportbot.dialogue.tracker import Tracker
from supportbot.escalation.policy import EscalationPolicy
from supportbot.escalation.types import Candidate, Decision
from supportbot.nlu.parse import Entity, Parse

FALLBACK = "fallback"


def make_parse(text: str, intent: str | None = None, confidence: float = 0.9, *,
               entities: Mapping[str, str] | None = None, language: str = "en",
               from_payload: bool = False) -> Parse:
    """A Parse as the NLU would give it; `intent=None` makes a not-understood message."""
    found = []
    for name, value in (entities or {}).items():
        start = text.find(value)
        found.append(Entity(name, value, max(start, 0), max(start, 0) + len(value), value,
                            "regex"))
    if intent is None:
        return Parse(text=text, intent="out_of_scope", confidence=min(confidence, 0.2),
                     entities=tuple(found), language=language, fallback=True,
                     fallback_reason="low_confidence")
    return Parse(text=text, intent=intent, confidence=confidence, entities=tuple(found),
                 language=language, from_payload=from_payload)


def make_candidate(reply: str | Candidate, parse: Parse,
                   kb_tags: tuple[str, ...] = ()) -> Candidate:
    """Shorthand candidates: "fallback", "kb:<entry>", "clarify:<ids>" or a response name."""
    if isinstance(reply, Candidate):
        return reply
    intent = None if parse.fallback else parse.intent
    if reply == FALLBACK:
        return Candidate("fallback", "utter_default", None, intent, is_fallback=True)
    if reply.startswith("kb:"):
        return Candidate("kb_answer", reply, None, intent, reply[3:], kb_tags)
    if reply.startswith("clarify:"):
        return Candidate("clarify", reply, None, intent)
    return Candidate(reply, reply, None, intent)


class Script:
    """A conversation under construction, with the policy consulted on every customer turn."""

    def __init__(self, policy: EscalationPolicy | None = None, conversation_id: str = "test"):
        self.policy = policy or EscalationPolicy()
        self.tracker = Tracker(conversation_id)
        self.decisions: list[Decision] = []
        self._tickets = 0

    def say(self, text: str, intent: str | None = None, *, reply: str | Candidate = FALLBACK,
            confidence: float = 0.9, entities: Mapping[str, str] | None = None,
            language: str = "en", kb_tags: tuple[str, ...] = (),
            from_payload: bool = False) -> Decision:
        """The customer says `text`; the bot's candidate is `reply`. Returns the decision."""
        parse = make_parse(text, intent, confidence, entities=entities, language=language,
                           from_payload=from_payload)
        self.tracker.append(UserMessage(text=text, parse=parse))
        candidate = make_candidate(reply, parse, kb_tags)
        decision = self.policy.check(self.tracker, parse, candidate)
        self.decisions.append(decision)
        self.record(candidate, decision)
        return decision

    def record(self, candidate: Candidate, decision: Decision) -> None:
        """Append what the bot does with this decision (as Bot.handle records it)."""
        if decision.handoff:
            self._tickets += 1
            self.tracker.append(HandoffRequested(
                ticket_id=f"t{self._tickets}", reasons=decision.reason_dicts(),
                queue=decision.queue, priority=decision.priority))
            return
        if decision.ask_confirmation:
            self.tracker.append(BotReply(
                text="Shall I connect you with a person?", template="utter_handoff_confirm",
                action=self.policy.config.confirmation.action,
                data={"fallback": candidate.is_fallback, **decision.confirmation_data()}))
            return
        if decision.recover:
            self.tracker.append(BotReply(
                text="Did that answer your question?", template="utter_recovery_offer",
                action="recovery", data={"fallback": False, **decision.confirmation_data()}))
            return
        data: dict[str, object] = {"fallback": candidate.is_fallback}
        if candidate.kb_entry:
            data["kb_entry"] = candidate.kb_entry
            data["kb_tags"] = list(candidate.kb_tags)
        self.tracker.append(BotReply(text=candidate.text, template=candidate.template,
                                     action=candidate.action, data=data))

    def end_handoff(self, outcome: str = "resolved") -> None:
        """The person hands the conversation back to the bot."""
        ticket = self.tracker.open_ticket_id
        if ticket is not None:
            self.tracker.append(HandoffEnded(ticket_id=ticket, outcome=outcome))

    @property
    def escalated(self) -> bool:
        """Whether any turn so far handed off or offered a handoff."""
        return any(d.handoff or d.ask_confirmation for d in self.decisions)

    @property
    def recovered(self) -> bool:
        """Whether any turn so far made a recovery move instead of handing off."""
        return any(d.recover for d in self.decisions)
