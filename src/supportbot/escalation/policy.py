"""`EscalationPolicy`: on every turn, decide whether the conversation goes to a person.

It runs after the dialogue policy picked a candidate reply and before that reply is sent. It is
pure: it reads the tracker, the parse and the candidate, and returns a Decision; recording
events (HandoffRequested, the "Shall I connect you?" BotReply) is the caller's job.
"""
from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from supportbot.dialogue.events import UserMessage
from supportbot.dialogue.tracker import Tracker
from supportbot.escalation import signals as sig
from supportbot.escalation.config import EscalationConfig
from supportbot.escalation.history import History, ReplyKinds, build_history, subject_of
from supportbot.escalation.lexicons import load_lexicon
from supportbot.escalation.signals import Cues, Fired, Outcome
from supportbot.escalation.text import words
from supportbot.escalation.types import REASON_CODES, Candidate, Decision, Reason
from supportbot.nlu.parse import Parse

log = logging.getLogger(__name__)


class EscalationPolicy:
    """Signals over the conversation plus the candidate reply -> keep the reply or hand off.

    Usage::

        policy = EscalationPolicy(EscalationConfig.from_mapping(project.config.escalation))
        decision = policy.check(tracker, parse, candidate)
        if decision.handoff: ...            # enqueue a ticket with decision.reasons
        elif decision.ask_confirmation: ... # send a BotReply with action "handoff_confirm"
                                            # and data=decision.confirmation_data()
    """

    def __init__(self, config: EscalationConfig | None = None):
        self.config = config or EscalationConfig()
        lexicon = load_lexicon()
        self.cues = Cues(self.config, lexicon)
        self.kinds = ReplyKinds(self.config)
        self.scorer = sig.make_scorer(self.config, lexicon)

    # ------------------------------------------------------------------ public
    def check(self, tracker: Tracker, parse: Parse, candidate: Candidate) -> Decision:
        """Decide for this turn. `tracker` ends with this turn's UserMessage (not the reply)."""
        config = self.config
        if not config.enabled:
            return Decision(queue=config.default_queue, signals={"escalation": "off"})
        if tracker.open_ticket_id is not None:
            return Decision(queue=config.default_queue,
                            signals={"skipped": "a person already owns this conversation"})

        history = build_history(tracker, config, self._is_deny_message)
        answer = self.confirmation_answer(parse) if history.pending_confirmation else None
        if answer == "deny":
            history = History((), None)  # counting starts afresh from here
        decision = self._evaluate(history, parse, candidate, skip_feedback=answer is not None)
        if history.pending_confirmation is not None or answer is not None:
            decision.signals["confirmation"] = answer or "unanswered"
        if answer == "affirm" and history.pending_confirmation is not None:
            decision = self._accepted(decision, history.pending_confirmation.data)
        elif history.pending_recovery is not None:
            decision = self._after_recovery(decision, history.pending_recovery.data, parse)
        if decision.handoff or decision.ask_confirmation:
            log.info("escalation: conversation=%s handoff=%s ask=%s reasons=%s priority=%s "
                     "queue=%s", tracker.conversation_id, decision.handoff,
                     decision.ask_confirmation, ",".join(decision.codes), decision.priority,
                     decision.queue)
        return decision

    def confirmation_answer(self, parse: Parse) -> str | None:
        """'affirm', 'deny' or None: how a message answers "Shall I connect you?"."""
        cc = self.config.confirmation
        if not parse.fallback and parse.confidence >= cc.min_confidence:
            if parse.intent in cc.affirm_intents:
                return "affirm"
            if parse.intent in cc.deny_intents:
                return "deny"
        tokens = words(parse.text)
        deny, affirm = self.cues.deny.earliest(tokens), self.cues.affirm.earliest(tokens)
        if deny is not None and (affirm is None or deny[0] <= affirm[0]):
            return "deny"  # the cue said first wins: "no, don't" / "yes, no problem"
        return "affirm" if affirm is not None else None

    # ------------------------------------------------------------------ internals
    def _is_deny_message(self, message: UserMessage) -> bool:
        return self.confirmation_answer(message.parse) == "deny"

    def _evaluate(self, history: History, parse: Parse, candidate: Candidate,
                  skip_feedback: bool) -> Decision:
        config = self.config
        score = self.scorer.score(parse.text) if self.scorer is not None else None
        turn = sig.Turn(parse=parse, candidate=candidate, history=history,
                        tokens=tuple(words(parse.text)),
                        subject=subject_of(parse.entities, parse.text), frustration=score)
        streak, session = sig.unresolved(turn, config)
        outcomes: dict[str, Outcome] = {
            "explicit_request": sig.explicit_request(turn, config, self.cues),
            "unresolved_streak": streak,
            "unresolved_session": session,
            "loop_rephrase": sig.loop(turn, config),
            "negative_feedback": (Outcome(None) if skip_feedback else
                                  sig.negative_feedback(turn, config, self.cues, self.kinds)),
            "repeated_reply": sig.repeated_reply(turn, config),
            "long_conversation": sig.long_conversation(turn, config, self.cues),
            "frustration": sig.frustration(turn, config),
            "sensitive_topic": sig.sensitive_topic(turn, config),
            "form_validation": sig.form_validation(turn, config),
            "action_request": Outcome(None),  # set by custom actions, not by a signal
        }
        fired = [f for o in outcomes.values() for f in o.fired]
        values: dict[str, Any] = {code: outcomes[code].value for code in REASON_CODES}
        frustration = score.score if score is not None else 0.0
        if not fired:
            return Decision(queue=config.default_queue, frustration=frustration,
                            priority=self._boost(frustration), signals=values)
        return self._combine(fired, frustration, values, history)

    def _boost(self, frustration: float) -> int:
        cfg = self.config.frustration
        if not cfg.enabled:
            return 0
        if frustration >= cfg.threshold:
            return cfg.priority_boost
        if frustration >= cfg.mild_threshold:
            return cfg.mild_priority_boost
        return 0

    def _combine(self, fired: list[Fired], frustration: float,
                 values: dict[str, Any], history: History) -> Decision:
        config = self.config
        order = {code: i for i, code in enumerate(REASON_CODES)}
        fired = sorted(fired, key=lambda f: order.get(f.reason.code, len(order)))
        priority = max((f.priority for f in fired), default=0) + self._boost(frustration)
        routed = [f for f in fired if f.queue]
        queue = max(routed, key=lambda f: f.priority).queue if routed else None
        ask = all(config.confirm_before_handoff if f.confirm is None else f.confirm
                  for f in fired)
        reasons = tuple(f.reason for f in fired)
        recovery = config.recovery
        if (recovery.enabled and not ask
                and all(f.reason.code in recovery.signals for f in fired)):
            tried = history.recovery_tried(recovery.window)
            if tried is None:
                values["recovery"] = "first try"
                return Decision(recover=True, reasons=reasons, priority=priority,
                                queue=queue or config.default_queue, frustration=frustration,
                                signals=values)
            values["recovery"] = "tried before: handing off"
            earlier = [r for r in _reasons(tried.data.get("handoff_reasons"))
                       if r.code not in {x.code for x in reasons}]
            reasons = tuple(Reason(r.code, r.explanation + " A recovery move did not help.")
                            for r in reasons) + tuple(earlier)
        return Decision(handoff=not ask, reasons=reasons,
                        priority=priority, queue=queue or config.default_queue,
                        ask_confirmation=ask, frustration=frustration, signals=values)

    def _after_recovery(self, decision: Decision, data: dict[str, Any],
                        parse: Parse) -> Decision:
        """The message right after a recovery move: "no" hands off with the stored reasons; a
        handoff for another reason carries them too."""
        stored = list(_reasons(data.get("handoff_reasons")))
        if decision.handoff or decision.ask_confirmation:
            codes = {r.code for r in decision.reasons}
            extra = tuple(r for r in stored if r.code not in codes)
            return Decision(handoff=decision.handoff, reasons=decision.reasons + extra,
                            priority=decision.priority, queue=decision.queue,
                            ask_confirmation=decision.ask_confirmation,
                            frustration=decision.frustration, signals=decision.signals)
        if decision.recover or self.confirmation_answer(parse) == "deny":
            if not stored:
                return decision
            reasons = tuple(Reason(r.code, r.explanation + " A recovery move did not help.")
                            for r in stored)
            queue = data.get("handoff_queue")
            priority = data.get("handoff_priority")
            signals = {**decision.signals, "recovery": "failed"}
            return Decision(handoff=True, reasons=reasons,
                            priority=max(decision.priority,
                                         priority if isinstance(priority, int) else 0),
                            queue=queue if isinstance(queue, str) and queue else decision.queue,
                            frustration=decision.frustration, signals=signals)
        return decision

    def _accepted(self, decision: Decision, data: dict[str, Any]) -> Decision:
        """The customer said yes to "Shall I connect you?": hand off with the stored reasons."""
        stored = list(_reasons(data.get("handoff_reasons")))
        if not stored:
            stored = [Reason("explicit_request",
                             "The customer accepted the offer to talk to a person.")]
        codes = {r.code for r in stored}
        reasons = tuple(stored) + tuple(r for r in decision.reasons if r.code not in codes)
        priority = data.get("handoff_priority")
        queue = data.get("handoff_queue")
        return Decision(
            handoff=True, reasons=reasons,
            priority=max(decision.priority, priority if isinstance(priority, int) else 0),
            queue=queue if isinstance(queue, str) and queue else decision.queue,
            ask_confirmation=False, frustration=decision.frustration,
            signals=decision.signals)


def _reasons(raw: Any) -> Iterable[Reason]:
    if not isinstance(raw, (list, tuple)):
        return
    for item in raw:
        if isinstance(item, dict) and isinstance(item.get("code"), str):
            yield Reason(item["code"], str(item.get("explanation", "")))
        elif isinstance(item, Reason):
            yield item
