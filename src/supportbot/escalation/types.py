"""The small immutable objects the escalation policy reads and returns."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

REASON_CODES: tuple[str, ...] = (
    "explicit_request",
    "unresolved_streak",
    "unresolved_session",
    "loop_rephrase",
    "negative_feedback",
    "repeated_reply",
    "long_conversation",
    "frustration",
    "sensitive_topic",
    "form_validation",
    "action_request",
)
"""Every reason code a Decision can carry."""


@dataclass(frozen=True)
class Candidate:
    """What the bot is about to do this turn, before escalation has its say.

    `template` is the repeat key of the main reply: a response name (`utter_greet`),
    `kb:<entry id>` or `clarify:<ids>`; `is_fallback` says the bot did not understand.
    """

    action: str
    template: str | None = None
    text: str | None = None
    intent: str | None = None
    kb_entry: str | None = None
    kb_tags: tuple[str, ...] = ()
    is_fallback: bool = False
    asks: bool = False  # the reply asks the customer for something (a form's question)
    invalid_slot: str | None = None  # a form re-asks this slot: the answer failed validation


@dataclass(frozen=True)
class Reason:
    """Why a conversation goes (or is offered to go) to a person: a code and a sentence."""

    code: str
    explanation: str

    def to_dict(self) -> dict[str, str]:
        return {"code": self.code, "explanation": self.explanation}


@dataclass(frozen=True)
class Decision:
    """The escalation policy's verdict for one turn.

    `handoff` True: hand the conversation to a person now. `ask_confirmation` True (and
    `handoff` False): ask the customer "Shall I connect you with a person?" first; the reasons,
    queue and priority are what the handoff will carry if they agree. `recover` True: a
    recoverable signal fired for the first time: try a recovery move (next-best answer, "did
    you mean", an offer to talk to a person) instead of handing off; the reasons are what a
    later handoff carries if recovery fails. None of these: keep the reply.
    `signals` holds each signal's raw value (for `shell --debug` and logs).
    """

    handoff: bool = False
    reasons: tuple[Reason, ...] = ()
    priority: int = 0
    queue: str = "default"
    ask_confirmation: bool = False
    recover: bool = False
    frustration: float = 0.0
    signals: dict[str, Any] = field(default_factory=dict)

    @property
    def codes(self) -> tuple[str, ...]:
        """The reason codes, in order."""
        return tuple(r.code for r in self.reasons)

    def reason_dicts(self) -> tuple[dict[str, str], ...]:
        """Reasons as `{code, explanation}` dicts (the shape `HandoffRequested.reasons` takes)."""
        return tuple(r.to_dict() for r in self.reasons)

    def confirmation_data(self) -> dict[str, Any]:
        """What to put in the `data` of the "Shall I connect you?" BotReply.

        The reply must have action `handoff_confirm` (see `EscalationConfig.confirmation`); when
        the customer agrees on the next turn, the handoff carries these reasons, queue and
        priority.
        """
        return {
            "handoff_reasons": [r.to_dict() for r in self.reasons],
            "handoff_queue": self.queue,
            "handoff_priority": self.priority,
        }

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly view for debug output and structured logs."""
        return {
            "handoff": self.handoff,
            "ask_confirmation": self.ask_confirmation,
            "recover": self.recover,
            "reasons": [r.to_dict() for r in self.reasons],
            "priority": self.priority,
            "queue": self.queue,
            "frustration": self.frustration,
            "signals": dict(self.signals),
        }
